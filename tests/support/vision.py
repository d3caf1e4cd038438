"""Media for the vision kinds (scenes, reframe): hard cuts at known frames, a slow fade, a pan, and
a real face (scikit-image's `astronaut` photo) moving across a wider frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.media import ffmpeg

X264_FIXED_GOP = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-crf",
    "12",
    "-pix_fmt",
    "yuv420p",
    "-x264-params",
    "scenecut=0",
]
"""Near-lossless (coding noise in dark frames reads as hue flicker) and no keyframe at a cut unless asked."""


def astronaut_png(path: Path, size: int | None = None) -> Path:
    """scikit-image's astronaut photo (512x512, a real face in its upper middle) as a PNG."""
    from skimage.data import astronaut

    image = Image.fromarray(np.asarray(astronaut()))
    if size is not None:
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    image.save(path)
    return path


def make_cuts(path: Path, lengths: list[int], fps: int = 25, size: str = "160x90", keyframes: list[int] = ()) -> Path:  # type: ignore[assignment]
    """Shots of `lengths` frames, each a different source, joined by hard cuts; keyframes only at
    frame 0 and at `keyframes` (x264's own scene-cut keyframes are off)."""
    sources = ["testsrc2", "smptebars", "rgbtestsrc", "mandelbrot", "testsrc"]
    args: list[str] = []
    for i in range(len(lengths)):
        args += ["-f", "lavfi", "-i", f"{sources[i % len(sources)]}=size={size}:rate={fps}"]
    trims = "".join(f"[{i}:v]trim=end_frame={n},setpts=PTS-STARTPTS[v{i}];" for i, n in enumerate(lengths))
    joined = "".join(f"[v{i}]" for i in range(len(lengths)))
    forced = "+".join(f"eq(n,{k})" for k in keyframes) or "0"
    ffmpeg(
        *args, "-filter_complex", f"{trims}{joined}concat=n={len(lengths)}:v=1:a=0[v]", "-map", "[v]",
        *X264_FIXED_GOP, "-g", "1000", "-force_key_frames", f"expr:{forced}", str(path),
    )  # fmt: skip
    return path


def make_fade(path: Path, photo: Path, seconds: float = 3.0, fps: int = 25) -> Path:
    """A photo fading in from black over the whole clip: no cut anywhere."""
    ffmpeg(
        "-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", str(photo),
        "-vf", f"scale=160:90,fade=t=in:st=0:d={seconds}", *X264_FIXED_GOP, str(path),
    )  # fmt: skip
    return path


def make_pan(path: Path, photo: Path, seconds: float = 3.0, fps: int = 25) -> Path:
    """A 160x90 window panning steadily across a 512x512 photo (one continuous shot)."""
    ffmpeg(
        "-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", str(photo),
        "-vf", f"crop=160:90:x='t/{seconds}*352':y=200", *X264_FIXED_GOP, str(path),
    )  # fmt: skip
    return path


def make_moving_face(
    path: Path, photo: Path, *, width: int, height: int, face_px: int, seconds: float, fps: int, travel: float
) -> Path:
    """The photo (`face_px` square) on grey, moving left to right at constant speed over `travel` of
    the frame's width. The face's centre is at x = face_x(t) (see `moving_face_x`)."""
    x0, x1 = (1 - travel) / 2 * width - face_px / 2, (1 + travel) / 2 * width - face_px / 2
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=0x606060:size={width}x{height}:rate={fps}:duration={seconds}",
        "-loop", "1", "-framerate", str(fps), "-i", str(photo),
        "-filter_complex",
        f"[1:v]scale={face_px}:{face_px}[p];[0:v][p]overlay=x='{x0:.3f}+({x1 - x0:.3f})*t/{seconds}'"
        f":y={(height - face_px) // 2}:shortest=1",
        "-t", str(seconds), *X264_FIXED_GOP, str(path),
    )  # fmt: skip
    return path


def moving_face_x(t: float, *, width: int, face_px: int, seconds: float, travel: float) -> float:
    """Centre x of the astronaut's face at time t in `make_moving_face` (her face is at 43.5% of the photo's width)."""
    x0, x1 = (1 - travel) / 2 * width - face_px / 2, (1 + travel) / 2 * width - face_px / 2
    return x0 + (x1 - x0) * t / seconds + 0.435 * face_px


def stand_in_vision_registry(root: Path) -> Path:
    """A registry whose default matting and segmentation models count as installed (a config.json and
    an empty weights file each): for tests of planning, where no model runs."""
    for name in ("matter", "tracker"):
        (root / name).mkdir()
        (root / name / "config.json").write_text("{}")
        (root / name / "model.safetensors").write_bytes(b"")
    registry = root / "models.toml"
    registry.write_text(
        '[defaults]\nmatting = "matter"\nsegmentation = "tracker"\n'
        f'[models.matter]\nkinds = ["matting"]\narchitecture = "semantic-segmentation"\nsource = "{root}/matter"\n'
        f'[models.tracker]\nkinds = ["segmentation"]\narchitecture = "sam2-video"\nsource = "{root}/tracker"\n'
    )
    return registry
