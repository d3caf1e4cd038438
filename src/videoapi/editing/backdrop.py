"""The backdrop colour of a chroma-key video, estimated from its frame borders when `key.color` is not
given: one small frame is decoded on the worker and the median of its outer ring is the key colour,
when that is a keyable green or blue (studio greens like #00b140 are far from pure #00ff00)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np

from videoapi.editing.background import BackgroundRequest, ChromaMatte, chroma_key
from videoapi.editing.source import Source
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.media.safety import input_args
from videoapi.settings import Settings

SAMPLE_WIDTH = 64
"""Width in pixels of the frame the colour is read from; the border survives downscaling."""
RING_PX = 2
"""Width of the outer ring of the sample that is taken as backdrop."""
MIN_DOMINANCE = 40
"""How far (0..255) green or blue must exceed both other channels for the border to count as a backdrop."""
SAMPLE_TIMEOUT_S = 30.0


async def with_estimated_key(
    req: BackgroundRequest, sources: Sequence[Source], work_dir: Path, settings: Settings
) -> BackgroundRequest:
    """The request with `key.color` set from the input's borders, when it names none and they are keyable."""
    media = sources[0].media
    key = chroma_key(req)
    if key is None or key.color is not None or media.video is None or media.is_image:
        return req
    height = max(2, round(SAMPLE_WIDTH * media.video.height / max(1, media.video.width) / 2) * 2)
    sample = work_dir / "backdrop.rgb"
    # Past a fade-in, but never past the end of a short clip.
    at_s = min(1.0, media.duration_s / 2)
    args = ["-ss", f"{at_s:.3f}", *input_args(sources[0].path), "-frames:v", "1"]
    args += ["-vf", f"scale={SAMPLE_WIDTH}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", str(sample)]
    await run_ffmpeg(args, duration_s=None, timeout_s=SAMPLE_TIMEOUT_S, max_pixels=settings.limits.max_pixels)
    data = sample.read_bytes()
    if len(data) != SAMPLE_WIDTH * height * 3:
        return req
    color = backdrop_color(np.frombuffer(data, np.uint8).reshape(height, SAMPLE_WIDTH, 3))
    if color is None:
        return req
    if isinstance(req.matte, ChromaMatte):
        return msgspec.structs.replace(req, matte=msgspec.structs.replace(req.matte, color=color))
    return msgspec.structs.replace(req, key=msgspec.structs.replace(req.key, color=color))


def backdrop_color(frame: np.ndarray) -> str | None:
    """`#rrggbb` of the median border colour of an RGB frame, or None when it is neither green nor blue."""
    ring = np.concatenate(
        [
            frame[:RING_PX].reshape(-1, 3),
            frame[-RING_PX:].reshape(-1, 3),
            frame[RING_PX:-RING_PX, :RING_PX].reshape(-1, 3),
            frame[RING_PX:-RING_PX, -RING_PX:].reshape(-1, 3),
        ]
    )
    r, g, b = (int(v) for v in np.median(ring, axis=0))
    if g - max(r, b) < MIN_DOMINANCE and b - max(r, g) < MIN_DOMINANCE:
        return None
    return f"#{r:02x}{g:02x}{b:02x}"
