"""Benchmark edit/reframe against a naive per-frame OpenCV loop, and the matting mask pass, in one run.

    PYTHONPATH=src:. .venv/bin/python scripts/bench/vision.py [--duration 10] [--naive-frames 30]
        [--matting-frames 24] [--matting-size 512] [--skip-reframe] [--skip-real-size] [--json PATH]

Input: 1080p30 H.264, lavfi `testsrc2` with scikit-image's astronaut photo moving across it, made once
with ffmpeg and cached in the temp dir.

- **reframe** (what the worker runs, storage aside): the downscaled analysis pass
  (`editing.reframe.with_camera_path`: cuts on every frame, faces twice a second at 320 px), then the
  planner's one ffmpeg pass (full-size decode, `sendcmd`-driven crop to 9:16, x264 encode).
- **naive loop**: PyAV decodes every frame at full size, the same face detector runs on each full
  frame, OpenCV crops around the face, PyAV encodes (x264 veryfast). It is timed on the first
  `--naive-frames` frames (a full run would take hours) and reported as frames per second.

- **matting** (`edit/background` `matte` person and object): the worker's mask pass
  (`vision.masks.compute_mask`: one downscaled decode, the model on every frame, time smoothing, the
  Y4M mask written) on the first `--matting-frames` frames of the same input, at `--matting-size` px
  on the long side, in frames per second. Models: the tests' tiny ones, and (unless
  `--skip-real-size`) the real architectures from their published configs with random weights:
  SegFormer-B2 (ADE20K head, 150 classes) and SAM 2.1 Hiera-Tiny run at the matting size instead of
  its native 1024 px. Random weights cost the same arithmetic as trained ones, so the speed carries
  over; the masks do not. Runs on the GPU when torch sees one (the `device` column says).

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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import imageio_ffmpeg
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# The tiny matting models are the tests' (tests/support/tiny_vision.py): the repository root on the path.
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from videoapi.assets.schemas import InputRef  # noqa: E402
from videoapi.editing.analysis import detect_faces  # noqa: E402
from videoapi.editing.reframe import ReframeRequest, crop_for, plan_reframe, with_camera_path  # noqa: E402
from videoapi.editing.source import Source  # noqa: E402
from videoapi.media.ffmpeg import run_ffmpeg  # noqa: E402
from videoapi.media.plan import bounded_args  # noqa: E402
from videoapi.media.probe import probe  # noqa: E402
from videoapi.settings import Settings  # noqa: E402

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


def real_segformer(path: Path) -> Path:
    """SegFormer-B2 as nvidia/segformer-b2-finetuned-ade-512-512 publishes it (ADE20K's 150 classes)."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    labels = {i: f"class{i}" for i in range(150)} | {12: "person"}
    config = SegformerConfig(
        depths=[3, 4, 6, 3], hidden_sizes=[64, 128, 320, 512], decoder_hidden_size=768, num_labels=150,
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).save_pretrained(path)
    return path


def real_sam2(path: Path, size: int) -> Path:
    """SAM 2.1 Hiera-Tiny (transformers' Sam2VideoConfig defaults, blocks 1-2-7-2) at `size` px square."""
    import torch
    from transformers import Sam2VideoConfig, Sam2VideoModel

    backbone = {
        "model_type": "sam2_hiera_det_model", "image_size": [size, size], "blocks_per_stage": [1, 2, 7, 2],
        "embed_dim_per_stage": [96, 192, 384, 768], "num_attention_heads_per_stage": [1, 2, 4, 8],
        "window_size_per_stage": [8, 4, 14, 7], "global_attention_blocks": [5, 7, 9],
    }  # fmt: skip
    vision = {
        "backbone_config": backbone,
        "backbone_feature_sizes": [[size // 4] * 2, [size // 8] * 2, [size // 16] * 2],
    }
    config = Sam2VideoConfig(
        vision_config=vision, image_size=size, prompt_encoder_config={"image_size": size},
        memory_attention_rope_feat_sizes=[size // 16, size // 16],
    )  # fmt: skip
    torch.manual_seed(0)
    Sam2VideoModel(config).save_pretrained(path)
    return path


def matting_input(src: Path, root: Path, frames: int) -> Path:
    """The first `frames` frames of the input, full size."""
    clip = root / "matting-input.mp4"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-frames:v", str(frames), "-an",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(clip)],
        check=True,
    )  # fmt: skip
    return clip


async def matting(clip: Path, root: Path, size: int, real_size: bool) -> list[dict[str, Any]]:
    """Frames per second of the mask pass, per model and mode."""
    from tests.support.tiny_vision import build_sam2, build_segformer
    from videoapi.vision.masks import Prompt, compute_mask, model_device
    from videoapi.vision.registry import VisionSpec

    settings = Settings()
    media = probe(clip, settings.limits)
    models = [
        ("tiny SegFormer", "semantic-segmentation", build_segformer(root / "tiny-seg")),
        ("tiny SAM 2", "sam2-video", build_sam2(root / "tiny-sam2")),
    ]
    if real_size:
        models += [
            ("SegFormer-B2 (real size)", "semantic-segmentation", real_segformer(root / "segformer-b2")),
            ("SAM 2.1 Hiera-T (real size)", "sam2-video", real_sam2(root / "sam2-tiny", size)),
        ]
    results = []
    for label, architecture, folder in models:
        kind = "matting" if architecture == "semantic-segmentation" else "segmentation"
        spec = VisionSpec(kinds=[kind], architecture=architecture, source=str(folder), name=label, input_size=size)  # type: ignore[arg-type]
        mode = "person" if kind == "matting" else "object"
        prompt = Prompt([(WIDTH / 2, HEIGHT / 2)], None, 0) if mode == "object" else None
        t0 = time.perf_counter()
        mask = await compute_mask(
            mode, spec, folder, clip, media, root / f"{label}.y4m", settings, timeout_s=3600, prompt=prompt
        )
        wall = time.perf_counter() - t0
        result = {"model": label, "mode": mode, "device": model_device(spec, settings), "frames": mask.frames,
                  "mask": f"{mask.width}x{mask.height}", "wall_s": wall, "fps": mask.frames / wall}  # fmt: skip
        print(f"matting {mode:<6} {label:<28} {result['device']}: {mask.frames} frames at {result['mask']} in "
              f"{wall:.2f} s = {result['fps']:.2f} fps (model load included)")  # fmt: skip
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--naive-frames", type=int, default=30)
    parser.add_argument("--matting-frames", type=int, default=24)
    parser.add_argument("--matting-size", type=int, default=512, help="mask long side in pixels")
    parser.add_argument("--skip-reframe", action="store_true")
    parser.add_argument("--skip-real-size", action="store_true", help="tiny models only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    before = machine()
    print(f"machine: {before['cpu']}, {before['cores']} cores ({before['usable_cores']} usable), load {before['load']}")
    src = input_clip(args.duration)
    print(f"input: {src} ({WIDTH}x{HEIGHT} {FPS} fps, {args.duration:g} s)")
    settings = Settings()
    report: dict[str, Any] = {"machine": before}
    with tempfile.TemporaryDirectory() as tmp:
        report["matting"] = asyncio.run(
            matting(
                matting_input(src, Path(tmp), args.matting_frames),
                Path(tmp),
                args.matting_size,
                not args.skip_real_size,
            )
        )
        if args.skip_reframe:
            report["load_after"] = os.getloadavg()
            print(f"load after: {report['load_after']}")
            if args.json:
                args.json.write_text(json.dumps(report, indent=2))
            return
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
        report |= {"load_after": after, "reframe": ours, "naive": slow, "realtime": realtime}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
