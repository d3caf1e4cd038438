"""Invisible watermark: a 48-bit token (the task id's first 12 hex digits) in every frame's luma.

Scheme (our own, in the spirit of DWT-DCT watermarks, chosen to survive the attacks that matter
for video: re-encoding at low quality and downscaling):
- Each frame's luma is reduced to a 128x128 grid of cell means (resolution-independent: the same
  grid is read from a 4K original and from its 720p copy). A high-pass of that grid is the carrier.
- 64 payload bits (48-bit token + CRC-16) each own 256 grid cells, chosen with a pseudo-random
  +/-1 chip per cell from a secret key. A bit is read as the sign of the chip-weighted sum of its
  cells' high-pass values.
- Embedding is *informed*: it measures what the frame already says for each bit and adds only
  the smooth correction (upscaled from the grid, at most `MAX_AMPLITUDE` luma levels) that
  pushes each bit's sum past a margin. The host image therefore does not interfere with reading,
  so one frame decodes alone; detection still sums many frames.
- The correction is added equally to R, G and B, which changes luma only.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from videoapi.media.probe import decoded_frames, open_input
from videoapi.settings import LimitSettings

GRID = 128
BITS = 64
TOKEN_BYTES = 6
MARGIN = 2.25 * GRID * GRID / BITS
"""Target chip-weighted sum per bit: 2.25 luma levels per cell over a bit's 256 cells."""
MAX_AMPLITUDE = 6.0
"""Largest change of one grid cell's luma in one pass (twice that in all, where clipping ate part of it).

On a worst-case frame (testsrc2: saturated colours, hard edges) PSNR is about 38 dB; on natural
content about 40 dB."""
PASSES = 3
UPSCALE = cv2.INTER_LINEAR
_BLUR_SIGMA = 1.0
_GAIN = 0.7
"""How much of a cell change survives the high-pass (1 minus the blur's centre weight, roughly)."""


@dataclass(frozen=True)
class Detection:
    found: bool
    token: str | None
    """12 hex digits: the first 12 hex digits of the task id that produced the file."""
    frames: int
    agreement: float
    """Share of (frame, bit) readings that agree with the decoded token; 0 when none was found.

    A marked file reads near 1.0; a heavily degraded one lower, still found by the sum over frames.
    """


class WatermarkKey:
    """The secret layout: which cells carry which bit, and each cell's chip."""

    def __init__(self, secret: bytes) -> None:
        self.secret = hmac.new(secret, b"videoapi-watermark-v1", hashlib.sha256).digest()

    @cached_property
    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(int.from_bytes(self.secret[:8], "big"))
        groups = rng.permutation(GRID * GRID).reshape(BITS, -1)
        chips = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=GRID * GRID)
        return groups, chips

    def bit_sums(self, luma_grid: np.ndarray) -> np.ndarray:
        groups, chips = self._layout
        high = (luma_grid - cv2.GaussianBlur(luma_grid, (0, 0), _BLUR_SIGMA)).reshape(-1) * chips
        return high[groups].sum(axis=1)

    def correction(self, luma_grid: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """The grid of luma changes that makes `luma_grid` read as `bits` (+1/-1) with margin."""
        groups, chips = self._layout
        delta = np.zeros(GRID * GRID, np.float32)
        cells = groups.shape[1]
        for _ in range(3):  # the high-pass couples neighbouring cells; three rounds settle it
            sums = self.bit_sums(luma_grid + delta.reshape(GRID, GRID))
            short = bits * MARGIN - sums
            short[bits * sums >= MARGIN] = 0.0
            delta[groups] += chips[groups] * (short / (cells * _GAIN))[:, None]
            np.clip(delta, -MAX_AMPLITUDE, MAX_AMPLITUDE, out=delta)
        return delta.reshape(GRID, GRID)


def watermark_key(configured_secret: str, signing_secret: bytes) -> WatermarkKey:
    """The key that marks and detects: `watermark.secret` when configured, else the server's signing secret."""
    return WatermarkKey(configured_secret.encode() if configured_secret else signing_secret)


def token_for(task_id: str) -> bytes:
    """The 48-bit token a task's outputs carry: the first 12 hex digits of its id."""
    hexdigits = task_id.replace("-", "")[: TOKEN_BYTES * 2]
    return bytes.fromhex(hexdigits)


def payload_bits(token: bytes) -> np.ndarray:
    crc = (zlib.crc32(token) & 0xFFFF).to_bytes(2, "big")
    bits = np.unpackbits(np.frombuffer(token + crc, dtype=np.uint8)).astype(np.float32)
    return bits * 2 - 1


def _luma_grid(rgb: np.ndarray) -> np.ndarray:
    # Area-averaging then converting equals converting then averaging (both are linear), and works on
    # 128x128 pixels instead of the whole frame.
    small = cv2.resize(rgb, (GRID, GRID), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _add_luma(base: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """`base` + `delta` (per pixel, the same on R, G and B) with saturation, in OpenCV's SIMD code."""
    rounded = np.rint(delta)
    up = np.clip(rounded, 0, 255).astype(np.uint8)
    down = np.clip(-rounded, 0, 255).astype(np.uint8)
    return cv2.subtract(cv2.add(base, cv2.merge([up, up, up])), cv2.merge([down, down, down]))


def embed_frame(rgb: np.ndarray, key: WatermarkKey, token: bytes) -> np.ndarray:
    """Return `rgb` (H, W, 3 uint8) carrying `token`.

    Pixels at 0 or 255 cannot move both ways, so part of a correction can be lost to clipping;
    the frame is measured again after each pass and the shortfall corrected, up to three passes.
    """
    height, width = rgb.shape[:2]
    bits = payload_bits(token)
    total = np.zeros((GRID, GRID), np.float32)
    out = rgb
    for _ in range(PASSES):
        grid = _luma_grid(out)
        if np.all(bits * key.bit_sums(grid) >= MARGIN * 0.9):
            break
        total = np.clip(total + key.correction(grid, bits), -2 * MAX_AMPLITUDE, 2 * MAX_AMPLITUDE)
        out = _add_luma(rgb, cv2.resize(total, (width, height), interpolation=UPSCALE))
    return out


def embed_frames(frames: np.ndarray, key: WatermarkKey, token: bytes) -> np.ndarray:
    """Watermark a (T, H, W, 3) uint8 clip frame by frame."""
    return np.stack([embed_frame(frame, key, token) for frame in frames])


def decode_sums(sums: np.ndarray) -> bytes | None:
    data = np.packbits((sums > 0).astype(np.uint8)).tobytes()
    token, crc = data[:TOKEN_BYTES], int.from_bytes(data[TOKEN_BYTES:], "big")
    return token if zlib.crc32(token) & 0xFFFF == crc else None


def detect_frames(frames: list[np.ndarray], key: WatermarkKey) -> Detection:
    if not frames:
        return Detection(False, None, 0, 0.0)
    sums = np.stack([key.bit_sums(_luma_grid(rgb)) for rgb in frames])
    token = decode_sums(sums.sum(axis=0))
    if token is None:
        return Detection(False, None, len(frames), 0.0)
    agreement = float((np.sign(sums) == payload_bits(token)).mean())
    return Detection(True, token.hex(), len(frames), round(agreement, 3))


def detect_file(path: Path, key: WatermarkKey, *, limits: LimitSettings, max_frames: int = 48) -> Detection:
    """Read up to `max_frames` frames spread over the video (or the one picture of an image)."""
    frames: list[np.ndarray] = []
    with open_input(path, limits) as container:
        if not container.streams.video:
            return detect_frames([], key)
        stream = container.streams.video[0]
        total = stream.frames or 0
        step = max(1, total // max_frames) if total else 1
        for index, frame in enumerate(decoded_frames(container, stream, limits)):
            if index % step == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) >= max_frames:
                    break
    return detect_frames(frames, key)
