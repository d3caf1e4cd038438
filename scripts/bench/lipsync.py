"""Lip sync throughput: output frames a second of the edit/lipsync render pass (PyAV decode, Wav2Lip on
the face crops, paste, one ffmpeg encode muxing the audio), with a tiny random-weight model and with the
real-size architecture (random weights: the same compute as the original checkpoint), beside a plain
ffmpeg re-encode of the same video at the same settings measured in the same run.

The input is scikit-image's astronaut moving across a 640x360 frame (a real face for the tracker), at
25 fps, with a sine tone as the speech. The face track (one downscaled decode) is timed apart.

    .venv/bin/python scripts/bench/lipsync.py                 # 4 s of audio
    .venv/bin/python scripts/bench/lipsync.py --seconds 8 --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.media import make_audio  # noqa: E402
from tests.support.tiny_lipsync import build_tiny_wav2lip, lipsync_registry  # noqa: E402
from tests.support.vision import astronaut_png, make_moving_face  # noqa: E402
from videoapi.editing.analysis import analyse, analysis_timeout  # noqa: E402
from videoapi.editing.lipsync import SyncedLipsync, face_track, plan_lipsync  # noqa: E402
from videoapi.editing.source import Source  # noqa: E402
from videoapi.media.encoding import encode_args  # noqa: E402
from videoapi.media.ffmpeg import run_ffmpeg  # noqa: E402
from videoapi.media.probe import probe  # noqa: E402
from videoapi.media.safety import input_args  # noqa: E402
from videoapi.settings import Settings, load_settings  # noqa: E402
from videoapi.vision.lipsync import BATCH  # noqa: E402


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


async def render(
    folder: Path, video: Path, audio: Path, boxes: list, audio_s: float, out: Path, threads: int
) -> tuple[float, float]:
    """(seconds until the first batch of frames left the model: start-up, seconds of the whole pass)."""
    # A registry whose default lipsync model is `folder`, as a server would have it.
    registry = lipsync_registry(out, folder).replace(out / "models.toml")
    settings = load_settings(environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(registry)})
    media, speech = probe(video, settings.limits), probe(audio, settings.limits)
    req = SyncedLipsync(
        input={"asset_id": "bench"},  # type: ignore[arg-type]
        audio={"asset_id": "bench"},  # type: ignore[arg-type]
        audio_path=str(audio),
        audio_s=audio_s,
        boxes=boxes,
        model="bench",
        model_folder=str(folder),
        weights=None,
        device="cpu",
        threads=threads,
    )
    plan = plan_lipsync(req, [Source(video, media), Source(audio, speech)], out, settings)
    assert plan.feed is not None
    feed = plan.feed
    start = time.perf_counter()
    first: list[float] = []

    async def timed():  # type: ignore[no-untyped-def]
        async for chunk in feed():
            first.append(first[0] if first else time.perf_counter() - start)
            yield chunk

    await run_ffmpeg(plan.args, duration_s=plan.duration_s, timeout_s=3600, feed=timed())
    return first[0], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the audio (and the output)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: torch's default")
    args = parser.parse_args()
    fps = 25
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photo = astronaut_png(root / "astronaut.png")
        video = make_moving_face(
            root / "face.mp4", photo, width=640, height=360, face_px=360, seconds=args.seconds, fps=fps, travel=0.2
        )
        audio = make_audio(root / "speech.wav", duration_s=args.seconds, sample_rate=16000)
        settings = Settings()
        media = probe(video, settings.limits)
        frames = round(args.seconds * fps)
        print(f"input 640x360 at {fps} fps, {frames} output frames; {load()}")

        start = time.perf_counter()
        found = asyncio.run(analyse(video, media, faces=True, samples_per_s=6.0, timeout_s=analysis_timeout(media)))
        boxes = face_track(found, 640, 360)
        track_s = time.perf_counter() - start
        with_face = sum(1 for b in boxes if b is not None)
        print(f"face track: {frames / track_s:.1f} frames/s ({with_face}/{len(boxes)} with a face); {load()}")

        (root / "ref").mkdir()
        start = time.perf_counter()
        reference = [*input_args(video), "-map", "0:v:0", *encode_args("mp4", "medium"), str(root / "ref" / "o.mp4")]
        asyncio.run(run_ffmpeg(reference, duration_s=None, timeout_s=600))
        ref_s = time.perf_counter() - start
        print(f"reference, ffmpeg re-encode of the same video: {frames / ref_s:.1f} frames/s; {load()}")

        tiny = build_tiny_wav2lip(root / "tiny", name="model.safetensors")
        from videoapi.vision.wav2lip import Wav2Lip, Wav2LipConfig, save_model

        full = root / "full"
        save_model(Wav2Lip(Wav2LipConfig()).eval(), Wav2LipConfig(), full)
        models = (("tiny model", tiny), ("real-size architecture (36M, random weights)", full))
        for i, (name, folder) in enumerate(models):
            out = root / f"out{i}"
            out.mkdir()
            startup, took = asyncio.run(render(folder, video, audio, boxes, args.seconds, out, args.threads))
            steady = (frames - BATCH) / (took - startup)
            print(
                f"lipsync render, {name}: {frames / took:.1f} frames/s overall ({took:.1f} s, of which {startup:.1f} s"
                f" to load torch, the model and the mel and render the first {BATCH}), {steady:.1f} frames/s after;"
                f" {load()}"
            )


if __name__ == "__main__":
    main()
