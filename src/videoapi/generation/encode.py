"""Frames in, files out: generated frames go straight into MP4/WebM with PyAV (no image files),
and input media comes out as PIL frames fitted to the model's size."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from videoapi.errors import MediaError, ProcessingError
from videoapi.media.encoding import KEYFRAMES, VP9, X264
from videoapi.media.ffmpeg import FFMPEG
from videoapi.media.probe import decoded_frames, open_input
from videoapi.settings import LimitSettings

if TYPE_CHECKING:
    from numpy.typing import NDArray


def to_uint8(frames: NDArray[np.floating] | NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(frames, height, width, 3) in 0..1 (diffusers' "np" output) to 8-bit RGB."""
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def encode_video(
    frames: NDArray[np.uint8],
    fps: float,
    path: Path,
    container: str = "mp4",
    quality: str = "medium",
    metadata: dict[str, str] | None = None,
    vf: str | None = None,
) -> None:
    """Encode RGB frames to H.264 MP4 (faststart) or VP9 WebM at `fps`, through ffmpeg's stdin.

    Raw frames go down a pipe, never through image files. (PyAV's in-process encoder gave
    slightly different bits from run to run in a process that also runs torch; the same seed must
    give the same file.)
    """
    count, height, width = frames.shape[:3]
    # Container tags (e.g. "AI-generated"); values are argv items, never parsed by a shell.
    tags = [arg for k, v in (metadata or {}).items() for arg in ("-metadata", f"{k}={v}")]
    rate = Fraction(fps).limit_denominator(1001)
    if container == "mp4":
        preset, crf = X264[quality]
        codec = ["-c:v", "libx264", "-preset", preset, "-crf", crf, "-profile:v", "high", "-movflags", "+faststart"]
    else:
        cpu_used, crf = VP9[quality]
        codec = ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", crf, "-deadline", "good", "-cpu-used", cpu_used]
    args = [
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{rate.numerator}/{rate.denominator}",
        "-i", "pipe:0", *(["-vf", vf] if vf else []), *codec, *KEYFRAMES, "-pix_fmt", "yuv420p",
        "-map_metadata", "-1", *tags, "-f", container, str(path),
    ]  # fmt: skip
    proc = subprocess.run(
        args, input=np.ascontiguousarray(frames).tobytes(), capture_output=True, timeout=60 + count, check=False
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip()[-400:]
        raise ProcessingError(f"encoding the generated frames failed: {tail}", code="encode_failed")


def write_poster(frame: NDArray[np.uint8], path: Path, max_height: int = 720) -> None:
    image = Image.fromarray(frame)
    if image.height > max_height:
        image = image.resize((round(image.width * max_height / image.height), max_height), Image.Resampling.LANCZOS)
    image.save(path, format="JPEG", quality=88)


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height, then crop the centre: no distortion, no borders."""
    image = image.convert("RGB")
    scale = max(width / image.width, height / image.height)
    w, h = max(width, round(image.width * scale)), max(height, round(image.height * scale))
    image = image.resize((w, h), Image.Resampling.LANCZOS)
    left, top = (w - width) // 2, (h - height) // 2
    return image.crop((left, top, left + width, top + height))


def load_image(path: Path, width: int, height: int, limits: LimitSettings) -> Image.Image:
    """The first video frame of an image (or video) file, fitted to the output size."""
    frames = read_frames(path, 1, None, width, height, limits)
    return frames[0]


def read_frames(
    path: Path, count: int, fps: float | None, width: int, height: int, limits: LimitSettings
) -> list[Image.Image]:
    """`count` frames sampled at `fps` from the start (every decoded frame when fps is None), fitted.

    A shorter input repeats its last frame, so the call always gets exactly `count` frames.
    """
    frames: list[Image.Image] = []
    with open_input(path, limits) as src:
        stream = next((s for s in src.streams if s.type == "video"), None)
        if stream is None:
            raise MediaError("the input has no video stream", code="input_no_media")
        for frame in decoded_frames(src, stream, limits):
            if frame.time is not None and fps is not None and frame.time + 1e-6 < len(frames) / fps:
                continue
            frames.append(fit(frame.to_image(), width, height))
            if len(frames) >= count:
                break
    if not frames:
        raise MediaError("the input has no decodable frame", code="input_unreadable")
    frames += [frames[-1]] * (count - len(frames))
    return frames
