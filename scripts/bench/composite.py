"""Benchmark one composite three ways: the API end to end, one bare hand-written ffmpeg command, and MoviePy 2.

    .venv/bin/python scripts/bench/composite.py [--clip 10] [--fade 1] [--repeat 1] [--skip-moviepy] [--json PATH]

The composite: three clips of different sizes, frame rates and audio (1080p25 with 48 kHz stereo,
540p30 with 44.1 kHz mono, 480p24 4:3 with 32 kHz mono), joined by two crossfades, rendered to
1280x720 at 30 fps, H.264 (x264 veryfast, CRF 23) + AAC 128k. The API runs as a real `videoapi
serve` subprocess in the embedded shape (the server of scripts/bench/trim.py); the bare ffmpeg
command is written by hand the way an expert would, without the API's poster output; MoviePy
does the same with `concatenate_videoclips(..., padding=-fade)` and CrossFadeIn/AudioFadeIn.
See scripts/bench/README.md.
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
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trim import FFMPEG, POLL_INTERVAL_S, TASK_TIMEOUT_S, Api, Server, measure, output_duration, remove_tree

WIDTH, HEIGHT, FPS = 1280, 720, 30
# name: (width, height, fps, sample rate, channels)
CLIPS: dict[str, tuple[int, int, int, int, int]] = {
    "a": (1920, 1080, 25, 48000, 2),
    "b": (960, 540, 30, 44100, 1),
    "c": (640, 480, 24, 32000, 1),
}


# --- input -------------------------------------------------------------------------------------


def input_clip(name: str, seconds: float) -> Path:
    """One test clip (testsrc2 + a tone), generated once and cached in the temp dir."""
    width, height, fps, rate, channels = CLIPS[name]
    path = (
        Path(tempfile.gettempdir())
        / f"videoapi-bench-{name}-{width}x{height}-{fps}fps-{rate}hz{channels}-{seconds:g}s.mp4"
    )
    if path.exists() and path.stat().st_size > 0:
        return path
    print(f"input: generating {path} ...", flush=True)
    partial = path.with_suffix(f".{os.getpid()}.part.mp4")
    tone = 220 * (1 + list(CLIPS).index(name))
    command = [
        FFMPEG, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds:g}",
        "-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate={rate}:duration={seconds:g}",
        "-ac", str(channels), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", str(2 * fps),
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", str(partial),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    partial.replace(path)
    return path


# --- bare ffmpeg -------------------------------------------------------------------------------


def ffmpeg_command(sources: list[Path], clip_s: float, fade_s: float, output: Path) -> list[str]:
    """The composite as one hand-written ffmpeg command: normalise, xfade/acrossfade, encode once."""
    parts = []
    for n in range(len(sources)):
        parts.append(
            f"[{n}:v]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease,"
            f"pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={FPS},format=yuv420p[v{n}]"
        )
        parts.append(f"[{n}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a{n}]")
    parts.append(f"[v0][v1]xfade=transition=fade:duration={fade_s:g}:offset={clip_s - fade_s:g}[x1]")
    parts.append(f"[x1][v2]xfade=transition=fade:duration={fade_s:g}:offset={2 * (clip_s - fade_s):g}[vout]")
    parts.append(f"[a0][a1]acrossfade=d={fade_s:g}[y1]")
    parts.append(f"[y1][a2]acrossfade=d={fade_s:g}[aout]")
    command = [FFMPEG, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    for src in sources:
        command += ["-i", str(src)]
    command += ["-filter_complex", ";".join(parts), "-map", "[vout]", "-map", "[aout]"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-profile:v", "high"]
    command += ["-force_key_frames", "expr:gte(t,n_forced*2)"]  # as the API does (a keyframe every 2 s)
    command += ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(output)]
    return command


def run_ffmpeg(sources: list[Path], clip_s: float, fade_s: float, work: Path) -> tuple[float, Path]:
    output = Path(tempfile.mkdtemp(prefix="ffmpeg-", dir=work)) / "output.mp4"
    command = ffmpeg_command(sources, clip_s, fade_s, output)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started, output


# --- MoviePy -----------------------------------------------------------------------------------


def run_moviepy(sources: list[Path], fade_s: float, work: Path, *, defaults: bool = False) -> tuple[float, Path]:
    """The composite in MoviePy 2: with our encoder settings, or (`defaults`) as most scripts call
    `write_videofile`, leaving MoviePy's own encoder defaults (x264 preset `medium`)."""
    from moviepy import VideoFileClip, afx, concatenate_videoclips, vfx

    out_dir = Path(tempfile.mkdtemp(prefix="moviepy-", dir=work))
    output = out_dir / "output.mp4"
    started = time.perf_counter()
    opened = [VideoFileClip(str(src)) for src in sources]
    try:
        clips = []
        for n, clip in enumerate(opened):
            scale = min(WIDTH / clip.w, HEIGHT / clip.h)
            clip = clip.resized(new_size=(round(clip.w * scale / 2) * 2, round(clip.h * scale / 2) * 2))
            if n:
                clip = clip.with_effects([vfx.CrossFadeIn(fade_s), afx.AudioFadeIn(fade_s)])
            if n < len(opened) - 1:
                clip = clip.with_effects([afx.AudioFadeOut(fade_s)])
            clips.append(clip)
        # `compose` centres each clip on a canvas of the largest size, black around: a letterbox.
        final = concatenate_videoclips(clips, method="compose", padding=-fade_s)
        if defaults:
            final.write_videofile(
                str(output), fps=FPS, codec="libx264", audio_codec="aac", temp_audiofile_path=str(out_dir), logger=None
            )
        else:
            final.write_videofile(
                str(output),
                fps=FPS,
                codec="libx264",
                audio_codec="aac",
                audio_fps=48000,
                audio_bitrate="128k",
                preset="veryfast",
                ffmpeg_params=["-crf", "23", "-pix_fmt", "yuv420p"],
                threads=os.cpu_count(),
                temp_audiofile_path=str(out_dir),
                logger=None,
            )
    finally:
        for clip in opened:
            clip.close()
    return time.perf_counter() - started, output


# --- API ---------------------------------------------------------------------------------------


def composite_body(asset_ids: list[str], fade_s: float) -> dict[str, Any]:
    clips: list[dict[str, Any]] = []
    for n, asset_id in enumerate(asset_ids):
        clip: dict[str, Any] = {"type": "video", "source": {"asset_id": asset_id}}
        if n:
            clip["transition"] = {"type": "crossfade", "duration_s": fade_s}
        clips.append(clip)
    return {
        "timeline": {"tracks": [{"clips": clips}]},
        "output": {"width": WIDTH, "height": HEIGHT, "fps": FPS, "format": "mp4", "quality": "medium"},
    }


def run_api(api: Api, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Submit the composite and poll it to success: the timed section of the API measurement."""
    started = time.perf_counter()
    resp = api.client.post("/v1/video/edit/composite", json=body)
    api._expect(resp, 202, "composite")
    task_id = resp.json()["id"]
    while True:
        resp = api.client.get(f"/v1/video/tasks/{task_id}")
        api._expect(resp, 200, "task poll")
        task = resp.json()
        if task["status"] == "succeeded":
            return time.perf_counter() - started, task
        if task["status"] in ("failed", "canceled"):
            raise RuntimeError(f"API task {task_id} {task['status']}: {json.dumps(task.get('error'))}")
        if time.perf_counter() - started > TASK_TIMEOUT_S:
            raise RuntimeError(f"API task {task_id} still {task['status']} after {TASK_TIMEOUT_S:g} s")
        time.sleep(POLL_INTERVAL_S)


# --- driver ------------------------------------------------------------------------------------


def check_duration(label: str, path: Path, expected: float, *, strict: bool) -> float:
    got = output_duration(path)
    if abs(got - expected) > 1 / FPS + 1e-6:
        message = f"{label}: output lasts {got:.3f} s, expected {expected:.3f} s (within one frame)"
        if strict:
            raise RuntimeError(message)
        print(f"  warning: {message}")
    return got


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=float, default=10.0, help="length of each input clip in seconds (default 10)")
    parser.add_argument("--fade", type=float, default=1.0, help="crossfade length in seconds (default 1)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per method; the median is reported (default 1)")
    parser.add_argument("--skip-moviepy", action="store_true", help="do not run the MoviePy comparison")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if not 0 < args.fade < args.clip / 2:
        parser.error("need 0 < --fade < --clip / 2")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    sources = [input_clip(name, args.clip) for name in CLIPS]
    expected = 3 * args.clip - 2 * args.fade
    work = Path(tempfile.mkdtemp(prefix="videoapi-bench-"))
    server = Server(work)
    api: Api | None = None
    last: dict[str, Any] = {}
    try:
        print(f"server: starting `videoapi serve` on {server.base_url}", flush=True)
        server.start()
        api = Api(server)
        asset_ids = [api.upload(src)[1] for src in sources]
        body = composite_body(asset_ids, args.fade)
        print(f"composite: 3 x {args.clip:g} s, two {args.fade:g} s crossfades -> {expected:g} s of "
              f"{WIDTH}x{HEIGHT}@{FPS}", flush=True)  # fmt: skip

        def api_once() -> float:
            assert api is not None
            seconds, last["task"] = run_api(api, body)
            return seconds

        def ffmpeg_once() -> float:
            seconds, last["ffmpeg"] = run_ffmpeg(sources, args.clip, args.fade, work)
            return seconds

        def moviepy_once() -> float:
            seconds, last["moviepy"] = run_moviepy(sources, args.fade, work)
            return seconds

        def moviepy_defaults_once() -> float:
            seconds, last["moviepy_defaults"] = run_moviepy(sources, args.fade, work, defaults=True)
            return seconds

        methods = {"bare ffmpeg": ffmpeg_once, "API end to end": api_once}
        if not args.skip_moviepy:
            methods["MoviePy"] = moviepy_once
            methods["MoviePy defaults"] = moviepy_defaults_once
        runs = measure(args.repeat, methods)
        api_out = api.download(last["task"]["result"]["url"], work / "api.mp4")
        durations = {
            "api": check_duration("API", api_out, expected, strict=True),
            "ffmpeg": check_duration("ffmpeg", last["ffmpeg"], expected, strict=True),
        }
        if "moviepy" in last:
            durations["moviepy"] = check_duration("MoviePy", last["moviepy"], expected, strict=False)
    finally:
        if api is not None:
            api.close()
        server.stop()
        remove_tree(work)

    medians = {label: statistics.median(times) for label, times in runs.items()}
    base = medians["bare ffmpeg"]
    print(f"\nComposite of three clips ({', '.join(f'{w}x{h}@{f}' for w, h, f, _, _ in CLIPS.values())}) with two "
          f"crossfades to {WIDTH}x{HEIGHT}@{FPS} H.264, {expected:g} s ({os.cpu_count()} CPUs)\n")  # fmt: skip
    print(f"{'method':<16} {'seconds':>9} {'vs ffmpeg':>10}")
    for label, seconds in medians.items():
        print(f"{label:<16} {seconds:>9.2f} {seconds / base:>9.2f}x")
    api_ratio = medians["API end to end"] / base
    print(f"\nAPI / bare ffmpeg: {api_ratio:.2f}x (target <= 1.15x)")
    figures: dict[str, Any] = {
        "clip_s": args.clip,
        "fade_s": args.fade,
        "output_s": expected,
        "runs": runs,
        "medians": medians,
        "api_vs_ffmpeg": api_ratio,
        "output_durations_s": durations,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m_before": load_before},
    }
    if "MoviePy" in medians:
        moviepy_ratio = medians["MoviePy"] / medians["API end to end"]
        defaults_ratio = medians["MoviePy defaults"] / medians["API end to end"]
        figures["moviepy_vs_api"] = moviepy_ratio
        figures["moviepy_defaults_vs_api"] = defaults_ratio
        print(f"MoviePy / API: {moviepy_ratio:.1f}x with our encoder settings, {defaults_ratio:.1f}x with "
              "MoviePy's defaults (target >= 10x)")  # fmt: skip
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(f"note: the machine was busy before the run (load {load_before:.1f}); use --repeat and compare medians")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
