"""The one ffmpeg pass that applies a mask video, checked with a known mask (no model involved).

The mask's left half is white and its right half black: the output must show the input on the left
and the replacement on the right (a colour, the blurred input, or transparency).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import av
import msgspec
import numpy as np
import pytest

from tests.support.media import ffmpeg
from tests.support.vision import stand_in_vision_registry
from videoapi.editing.background import MattedBackground, plan_background
from videoapi.editing.source import Source
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.media.plan import Plan
from videoapi.media.probe import probe
from videoapi.settings import Settings, load_settings
from videoapi.vision.masks import Y4mMaskWriter

pytestmark = pytest.mark.ffmpeg

FPS, FRAMES, WIDTH, HEIGHT = 10, 10, 160, 120
LEFT = np.s_[:, : WIDTH // 2 - 12]  # clear of the soft edge the upscaled mask has at the middle
RIGHT = np.s_[:, WIDTH // 2 + 12 :]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("apply")
    registry = stand_in_vision_registry(root)
    return load_settings(environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(registry)})


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detailed picture (testsrc2: text, gradients, sharp edges) so that a blur shows."""
    path = tmp_path_factory.mktemp("src") / "in.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}", "-frames:v", str(FRAMES),
        "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv444p", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def mask(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half the input's size, as the worker writes it: left half subject, right half background."""
    path = tmp_path_factory.mktemp("mask") / "mask.y4m"
    writer = Y4mMaskWriter(path, WIDTH // 2, HEIGHT // 2, FPS)
    frame = np.zeros((HEIGHT // 2, WIDTH // 2), np.uint8)
    frame[:, : WIDTH // 4] = 255
    for n in range(FRAMES):
        writer.write(n, frame)
    assert writer.close().frames == FRAMES
    return path


def render(settings: Settings, source: Path, mask: Path, out_dir: Path, **body: Any) -> Plan:
    req = msgspec.convert(
        {
            "input": {"asset_id": "a"},
            "matte": {"mode": "person"},
            **body,
            "mask_path": str(mask),
            "mask_frames": FRAMES,
        },
        MattedBackground,
    )
    out_dir.mkdir()
    plan = plan_background(req, [Source(source, probe(source, settings.limits))], out_dir, settings)
    asyncio.run(run_ffmpeg(plan.args, duration_s=plan.duration_s, timeout_s=60))
    return plan


def frames(path: Path, fmt: str = "rgb24", decoder: str | None = None) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if decoder is None:
            return [f.to_ndarray(format=fmt).astype(int) for f in c.decode(stream)]
        ctx = av.CodecContext.create(decoder, "r")
        out = []
        for packet in c.demux(stream):  # the last, empty packet flushes the decoder
            out += [f.to_ndarray(format=fmt).astype(int) for f in ctx.decode(packet)]
        return out


def detail(image: np.ndarray) -> float:
    """High-frequency energy: the mean absolute difference between neighbouring pixels."""
    gray = image.mean(axis=2)
    return float(np.abs(np.diff(gray, axis=0)).mean() + np.abs(np.diff(gray, axis=1)).mean())


def test_known_mask_keeps_the_input_on_the_left_and_the_colour_on_the_right(
    settings: Settings, source: Path, mask: Path, tmp_path: Path
) -> None:
    plan = render(settings, source, mask, tmp_path / "out", replacement={"color": "#0000ff"})
    got, want = frames(plan.output), frames(source)
    assert len(got) == FRAMES and got[0].shape == (HEIGHT, WIDTH, 3)
    for n in (0, FRAMES - 1):
        assert np.abs(got[n][LEFT] - want[n][LEFT]).mean() < 6  # the input, up to H.264 coding
        assert np.abs(got[n][RIGHT] - np.array([0, 0, 255])).max() < 30
    assert plan.poster is not None and plan.poster.exists()


def test_blur_replacement_blurs_only_the_background(
    settings: Settings, source: Path, mask: Path, tmp_path: Path
) -> None:
    plan = render(settings, source, mask, tmp_path / "out", replacement={"blur": 10})
    got, want = frames(plan.output)[5], frames(source)[5]
    assert detail(got[RIGHT]) < detail(want[RIGHT]) / 2.5, (detail(got[RIGHT]), detail(want[RIGHT]))
    assert detail(got[LEFT]) > detail(want[LEFT]) * 0.8
    # A blur keeps the picture's colours where it is flat: the right side is not replaced by a colour.
    assert abs(got[RIGHT].mean() - want[RIGHT].mean()) < 12


def test_transparent_webm_is_vp9_with_an_alpha_channel(
    settings: Settings, source: Path, mask: Path, tmp_path: Path
) -> None:
    plan = render(settings, source, mask, tmp_path / "out", replacement={"transparent": True}, format="webm")
    with av.open(str(plan.output)) as c:
        stream = c.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("vp9", WIDTH, HEIGHT)
        assert stream.metadata.get("alpha_mode") == "1", stream.metadata
        assert abs(c.duration / 1e6 - FRAMES / FPS) <= 1 / FPS + 0.03
    # FFmpeg's own VP9 decoder ignores the alpha side data; libvpx decodes it.
    decoded = frames(plan.output, "rgba", decoder="libvpx-vp9")
    assert len(decoded) == FRAMES
    alpha = decoded[3][..., 3]
    assert alpha[LEFT].min() > 245 and alpha[RIGHT].max() < 10


def test_transparent_mov_is_prores_4444_with_alpha(
    settings: Settings, source: Path, mask: Path, tmp_path: Path
) -> None:
    plan = render(settings, source, mask, tmp_path / "out", replacement={"transparent": True}, format="mov")
    with av.open(str(plan.output)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "prores"
        assert stream.codec_context.pix_fmt.startswith("yuva444p")  # the decoder gives 12-bit
        assert stream.codec_context.profile == "4444"
    decoded = frames(plan.output, "rgba")
    assert len(decoded) == FRAMES
    alpha, rgb = decoded[3][..., 3], decoded[3][..., :3]
    assert alpha[LEFT].min() > 250 and alpha[RIGHT].max() < 5
    assert np.abs(rgb[LEFT] - frames(source)[3][LEFT]).mean() < 6
