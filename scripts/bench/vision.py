"""Benchmark edit/reframe against a naive per-frame OpenCV loop, side by side in one run.

    PYTHONPATH=src .venv/bin/python scripts/bench/vision.py [--duration 10] [--naive-frames 30] [--json PATH]

Input: 1080p30 H.264, lavfi `testsrc2` with scikit-image's astronaut photo moving across it, made once
with ffmpeg and cached in the temp dir.

- **reframe** (what the worker runs, storage aside): the downscaled analysis pass
  (`editing.reframe.with_camera_path`: cuts on every frame, faces twice a second at 320 px), then the
  planner's one ffmpeg pass (full-size decode, `sendcmd`-driven crop to 9:16, x264 encode).
- **naive loop**: PyAV decodes every frame at full size, the same face detector runs on each full
  frame, OpenCV crops around the face, PyAV encodes (x264 veryfast). It is timed on the first
  `--naive-frames` frames (a full run would take hours) and reported as frames per second.

Realtime factor = seconds of video / wall seconds. Prints the CPU model, cores and load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import imageio_ffmpeg
import numpy as np

from videoapi.assets.schemas import InputRef
from videoapi.editing.analysis import detect_faces
from videoapi.editing.reframe import ReframeRequest, crop_for, plan_reframe, with_camera_path
from videoapi.editing.source import Source
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.media.plan import bounded_args
from videoapi.media.probe import probe
from videoapi.settings import Settings

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
WIDTH, HEIGHT, FPS = 1920, 1080, 30


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable, "load": os.getloadavg()}


def input_clip(duration: float) -> Path:
    path = Path(tempfile.gettempdir()) / f"videoapi-bench-vision-{WIDTH}x{HEIGHT}-{FPS}fps-{duration:g}s.mp4"
    if path.exists() and path.stat().st_size > 0:
        return path
    from PIL import Image
    from skimage.data import astronaut

    photo = path.with_suffix(".png")
    Image.fromarray(np.asarray(astronaut())).resize((700, 700)).save(photo)
    overlay = f"overlay=x='100+1100*t/{duration}':y=190:shortest=1"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={duration}",
         "-loop", "1", "-framerate", str(FPS), "-i", str(photo),
         "-filter_complex", f"[0:v][1:v]{overlay}", "-t", str(duration),
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-g", "60", str(path)],
        check=True,
    )  # fmt: skip
    return path


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def reframe(src: Path, out_dir: Path, settings: Settings) -> dict[str, float]:
    media = probe(src, settings.limits)
    req = ReframeRequest(input=InputRef(asset_id="bench"), aspect="9:16")
    sources = [Source(src, media)]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    tracked = await with_camera_path(req, sources, out_dir, settings)
    t1 = time.perf_counter()
    plan = plan_reframe(tracked, sources, out_dir, settings)
    for path, content in plan.files.items():
        path.write_text(content, encoding="utf-8")
    await run_ffmpeg(bounded_args(plan), duration_s=plan.duration_s, timeout_s=3600)
    t2 = time.perf_counter()
    cpu = cpu_seconds() - cpu0
    return {"analysis_s": t1 - t0, "render_s": t2 - t1, "total_s": t2 - t0, "cpu_s": cpu, "video_s": media.duration_s}


def naive(src: Path, out: Path, frames: int) -> dict[str, float]:
    media = probe(src, Settings().limits)
    crop = crop_for(media, "9:16")
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    done = 0
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = crop.width, crop.height, "yuv420p"
        centre = WIDTH / 2
        for frame in inp.decode(video=0):
            image = frame.to_ndarray(format="bgr24")
            faces = detect_faces(np.ascontiguousarray(image[:, :, 1]))
            if faces:
                centre = faces[0].cx * WIDTH
            x = int(min(max(centre - crop.width / 2, 0), WIDTH - crop.width))
            cropped = np.ascontiguousarray(image[:, x : x + crop.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(cropped, format="bgr24")):
                dst.mux(packet)
            done += 1
            if done >= frames:
                break
        for packet in stream.encode():
            dst.mux(packet)
    wall = time.perf_counter() - t0
    return {"frames": done, "wall_s": wall, "fps": done / wall, "cpu_s_per_frame": (cpu_seconds() - cpu0) / done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--naive-frames", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    before = machine()
    print(f"machine: {before['cpu']}, {before['cores']} cores ({before['usable_cores']} usable), load {before['load']}")
    src = input_clip(args.duration)
    print(f"input: {src} ({WIDTH}x{HEIGHT} {FPS} fps, {args.duration:g} s)")
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        ours = asyncio.run(reframe(src, Path(tmp), settings))
        slow = naive(src, Path(tmp) / "naive.mp4", args.naive_frames)
    realtime = ours["video_s"] / ours["total_s"]
    naive_realtime = slow["fps"] / FPS
    print(
        f"reframe: {ours['total_s']:.2f} s for {ours['video_s']:.2f} s of video = {realtime:.2f}x realtime "
        f"(analysis {ours['analysis_s']:.2f} s, crop+encode pass {ours['render_s']:.2f} s)"
    )
    # Load-independent: how fast the same CPU work would run with every core free.
    cores = before["usable_cores"] or 1
    idle_realtime = ours["video_s"] / (ours["cpu_s"] / cores)
    print(f"reframe CPU: {ours['cpu_s']:.2f} CPU-s = {ours['cpu_s'] / ours['video_s']:.2f} CPU-s per video second; "
          f"on {cores} idle cores about {idle_realtime:.2f}x realtime")  # fmt: skip
    print(f"naive loop: {slow['frames']} frames in {slow['wall_s']:.2f} s = {slow['fps']:.2f} fps = "
          f"{naive_realtime:.3f}x realtime, {slow['cpu_s_per_frame']:.3f} CPU-s per frame")  # fmt: skip
    print(f"ratio: reframe is {realtime / naive_realtime:.1f}x faster than the naive loop; target >= 1x realtime: "
          f"{'met' if realtime >= 1 else 'NOT met'}")  # fmt: skip
    after = os.getloadavg()
    print(f"load after: {after}")
    if args.json:
        report = {"machine": before, "load_after": after, "reframe": ours, "naive": slow, "realtime": realtime}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
