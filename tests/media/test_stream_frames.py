"""stream_frames(): raw frames one at a time, ffmpeg stopped when the reader stops, errors as run_ffmpeg's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from tests.support.media import make_growing_video, make_video
from videoapi.errors import MediaError
from videoapi.media.ffmpeg import FFMPEG, stream_frames
from videoapi.media.safety import input_args

pytestmark = [pytest.mark.anyio, pytest.mark.ffmpeg]

SIZE = 32 * 18 * 3


def raw(src: Path) -> list[str]:
    return [*input_args(src), "-vf", "scale=32:18", "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1"]


async def test_every_frame_comes_whole_and_in_order(tmp_path: Path) -> None:
    src = make_video(tmp_path / "v.mp4", duration_s=1.0, width=64, height=36, fps=10, audio=False)
    frames = [frame async for frame in stream_frames(raw(src), SIZE, timeout_s=30)]
    assert len(frames) == 10 and {len(f) for f in frames} == {SIZE}
    assert len(set(frames)) == 10  # testsrc2 moves: no frame repeated


async def test_stopping_early_stops_ffmpeg(tmp_path: Path) -> None:
    src = make_video(tmp_path / "v.mp4", duration_s=20.0, width=64, height=36, fps=10, audio=False)
    frames = stream_frames(raw(src), SIZE, timeout_s=30)
    async for _ in frames:
        break
    await frames.aclose()
    assert not [p for p in psutil.Process().children() if p.exe() == FFMPEG]


async def test_a_damaged_input_is_a_media_error(tmp_path: Path) -> None:
    src = make_video(tmp_path / "v.mp4", duration_s=1.0, width=64, height=36, fps=10, audio=False, faststart=False)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as info:
        async for _ in stream_frames(raw(src), SIZE, timeout_s=30):
            pass
    assert info.value.code == "input_unreadable"


async def test_a_frame_over_max_pixels_is_input_too_large(tmp_path: Path) -> None:
    src = make_growing_video(tmp_path / "grow.ts", small="64x48", large="1000x1000", small_s=0.4)
    with pytest.raises(MediaError) as info:
        async for _ in stream_frames(raw(src), SIZE, timeout_s=30, max_pixels=64 * 48 * 4):
            pass
    assert info.value.code == "input_too_large"


async def test_cancelling_the_reader_stops_ffmpeg() -> None:
    # An endless input read in real time: ffmpeg would never end on its own.
    endless = ["-re", "-f", "lavfi", "-i", "testsrc2=size=32x18:rate=10", "-pix_fmt", "bgr24", "-f", "rawvideo"]

    async def read() -> None:
        async for _ in stream_frames([*endless, "pipe:1"], SIZE, timeout_s=30):
            pass

    task = asyncio.ensure_future(read())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not [p for p in psutil.Process().children() if p.exe() == FFMPEG]
