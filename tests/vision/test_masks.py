"""The mask pass's parts: its size, the time smoothing that keeps edges still, the Y4M file written
out of order, and SAM 2 tracking state that stays bounded on a long video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from videoapi.media.ffmpeg import FFMPEG
from videoapi.vision.masks import Prompt, Y4mMaskWriter, hysteresis, mask_size, smooth


def test_mask_size_keeps_the_aspect_and_is_even() -> None:
    assert mask_size(1920, 1080, 512) == (512, 288)
    assert mask_size(1080, 1920, 512) == (288, 512)
    assert mask_size(160, 120, 512) == (160, 120)  # never upscaled
    assert mask_size(1001, 333, 256) == (256, 86)


def test_smoothing_steadies_an_edge_pixel_that_flickers() -> None:
    # An edge pixel whose raw probability jumps between two values every frame (model noise).
    raw = np.array([0.45, 0.75] * 20, dtype=np.float32)
    unsmoothed = hysteresis(raw)
    state, smoothed = None, []
    for p in raw:
        state = smooth(state, np.array(p), 0.6)
        smoothed.append(float(hysteresis(state)))
    flicker_raw = np.abs(np.diff(unsmoothed[10:])).mean()
    flicker_smoothed = np.abs(np.diff(smoothed[10:])).mean()
    assert flicker_raw > 0.5
    assert flicker_smoothed < flicker_raw / 3, (flicker_smoothed, flicker_raw)


def test_hysteresis_is_background_below_low_and_subject_above_high() -> None:
    assert hysteresis(np.array([0.0, 0.29, 0.5, 0.71, 1.0])).tolist() == pytest.approx([0, 0, 0.5, 1, 1])


@pytest.mark.ffmpeg
def test_y4m_frames_written_out_of_order_decode_in_index_order(tmp_path: Path) -> None:
    writer = Y4mMaskWriter(tmp_path / "m.y4m", 8, 4, 30000 / 1001)
    for index in (2, 0, 1):
        writer.write(index, np.full((4, 8), (index + 1) * 60, np.uint8))
    mask = writer.close()
    assert mask.frames == 3
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(mask.path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    frames = np.frombuffer(raw, np.uint8).reshape(3, 4, 8)
    assert [int(f[0, 0]) for f in frames] == [60, 120, 180]
    assert b"F30000:1001" in mask.path.read_bytes()[:64]


@pytest.mark.slow  # imports torch and transformers' SAM 2: about 4 s before the first frame
def test_sam2_tracking_state_stays_bounded(tmp_path: Path) -> None:
    import torch

    from tests.support.tiny_vision import build_sam2
    from videoapi.vision.masks import ObjectTracker, load_model
    from videoapi.vision.registry import VisionSpec

    folder = build_sam2(tmp_path / "sam2")
    spec = VisionSpec(kinds=["segmentation"], architecture="sam2-video", source=str(folder), name="t")
    keep = 3  # the worker keeps KEEP_MEMORY_FRAMES; fewer here so that a few frames show the bound
    model = load_model(spec, folder, "cpu")
    tracker = ObjectTracker(model, Prompt([(8, 8)], None, 0), (32, 32), False, "cpu", keep_frames=keep)
    rng = np.random.default_rng(0)
    frames = keep + 4
    torch.manual_seed(0)
    for index in range(frames):
        probability = tracker(index, rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        assert probability.shape == (16, 16) and 0 <= probability.min() <= probability.max() <= 1
    session = tracker.session
    assert list(session.processed_frames) == [frames - 1]
    recent = session.output_dict_per_obj[0]["non_cond_frame_outputs"]
    assert sorted(recent) == list(range(frames - keep, frames))
    assert list(session.output_dict_per_obj[0]["cond_frame_outputs"]) == [0]  # the prompt is kept


@pytest.mark.ffmpeg
def test_person_mask_pass_streams_every_frame_and_reports_progress(tmp_path: Path) -> None:
    import asyncio

    from tests.support.media import make_video
    from tests.support.tiny_vision import build_segformer
    from videoapi.media.probe import probe
    from videoapi.settings import load_settings
    from videoapi.vision.masks import compute_mask
    from videoapi.vision.registry import VisionSpec

    folder = build_segformer(tmp_path / "seg")
    spec = VisionSpec(kinds=["matting"], architecture="semantic-segmentation", source=str(folder), name="s")
    spec = VisionSpec(**{**{f: getattr(spec, f) for f in spec.__struct_fields__}, "input_size": 64})
    settings = load_settings(environ={"VIDEOAPI_GENERATION__DEVICE": "cpu"})
    clip = make_video(tmp_path / "in.mp4", duration_s=2.0, width=160, height=90, fps=10, audio=False)
    seen: list[float] = []
    mask = asyncio.run(
        compute_mask(
            "person", spec, folder, clip, probe(clip, settings.limits), tmp_path / "m.y4m", settings,
            timeout_s=60, on_progress=seen.append,
        )
    )  # fmt: skip
    assert (mask.width, mask.height, mask.frames) == (64, 36, 20)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
