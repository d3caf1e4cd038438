"""Output moderation: every output's frames are scanned before it is stored; a flagged output fails
the task with `moderation_blocked`, is not stored and is not charged. The real NudeNet model (shipped
in its wheel) passes plain footage; the flagging path is driven by a stand-in detector that flags one
colour, since no explicit test footage may be shipped or downloaded."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.app import running_app
from tests.support.media import ffmpeg, make_growing_video
from videoapi.errors import MediaError
from videoapi.moderation import frames
from videoapi.moderation.frames import sample_frames, scan_output
from videoapi.settings import LimitSettings, Settings

pytestmark = pytest.mark.ffmpeg

BLOCKED = ["FEMALE_BREAST_EXPOSED"]


def magenta_flagger(images: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
    """Stand-in for the model: 'detects' a blocked class in frames that are mostly magenta (BGR 255,0,255)."""
    out = []
    for bgr in images:
        magenta = (bgr[..., 0] > 200) & (bgr[..., 1] < 60) & (bgr[..., 2] > 200)
        out.append(
            [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.9, "box": [0, 0, 1, 1]}] if magenta.mean() > 0.5 else []
        )
    return out


@pytest.fixture(scope="module")
def turns_magenta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s: plain test pattern for 3 s, then a magenta second."""
    out = tmp_path_factory.mktemp("mod") / "turns.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
        "-f", "lavfi", "-i", "color=c=magenta:size=320x240:rate=25:duration=1",
        "-filter_complex", "[0][1]concat=n=2:v=1:a=0,format=yuv420p",
        "-c:v", "libx264", "-preset", "ultrafast", str(out),
    )  # fmt: skip
    return out


def test_samples_spread_over_the_whole_output(turns_magenta: Path) -> None:
    times = [t for t, _ in sample_frames(turns_magenta, every_s=1.0, max_frames=16)]
    assert times == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=0.05)
    spread = [t for t, _ in sample_frames(turns_magenta, every_s=0.1, max_frames=4)]
    assert spread == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=0.05)  # capped: spaced over the length


def test_the_real_detector_passes_plain_footage_quickly(clip: Path) -> None:
    start = time.perf_counter()
    report = scan_output(clip, threshold=0.6, blocked_classes=BLOCKED, every_s=0.5, max_frames=16)
    elapsed = time.perf_counter() - start
    assert report.frames >= 4 and not report.blocked
    assert elapsed < 5.0


def test_a_flagged_frame_blocks_at_its_time(turns_magenta: Path) -> None:
    report = scan_output(turns_magenta, threshold=0.6, blocked_classes=BLOCKED, every_s=1.0, detector=magenta_flagger)
    assert report.blocked and report.flagged_class == "FEMALE_BREAST_EXPOSED"
    assert report.flagged_at_s == pytest.approx(3.0, abs=0.05)
    high = scan_output(turns_magenta, threshold=0.95, blocked_classes=BLOCKED, every_s=1.0, detector=magenta_flagger)
    assert not high.blocked and high.max_scores == {"FEMALE_BREAST_EXPOSED": 0.9}


def test_a_blocked_output_fails_the_task_unstored_and_unbilled(
    make_settings: Callable[..., Settings], turns_magenta: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames, "nudenet_detector", magenta_flagger)
    settings = make_settings(**{"moderation.output_every_s": 1.0})
    with running_app(settings) as api:
        bad, good = api.upload(turns_magenta), api.upload(clip)
        blocked = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": bad["id"]}})
        passed = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": good["id"]}})
        failed, ok = api.wait(blocked.json()["id"]), api.wait(passed.json()["id"])

        assert failed["status"] == "failed" and failed["attempts"] == 1
        assert failed["error"]["code"] == "moderation_blocked"
        assert "FEMALE_BREAST_EXPOSED" in failed["error"]["message"] and "3.0 s" in failed["error"]["message"]
        assert failed["result"] is None and failed["cost"] is None
        outputs = list((settings.storage_dir / "outputs").glob(f"{failed['id']}/**/*"))
        assert not [p for p in outputs if p.is_file()]

        assert ok["status"] == "succeeded" and ok["cost"] > 0
        assert ok["result"]["moderation"]["blocked"] is False
        assert ok["result"]["moderation"]["frames_scanned"] >= 1


def test_outputs_with_a_keyframe_every_2_s_are_sampled_from_keyframes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videoapi.media.encoding import KEYFRAMES

    video = tmp_path / "k.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6", "-c:v", "libx264", "-preset", "ultrafast",
           *KEYFRAMES, str(video))  # fmt: skip
    passes: list[bool] = []
    decode = frames._decode

    def spy(path: Path, limits: LimitSettings, *, keyframes_only: bool) -> Any:
        passes.append(keyframes_only)
        return decode(path, limits, keyframes_only=keyframes_only)

    monkeypatch.setattr(frames, "_decode", spy)
    times = [t for t, _ in sample_frames(video, every_s=2.0, max_frames=16)]
    assert times == pytest.approx([0.0, 2.0, 4.0], abs=0.05)
    assert passes == [True]  # no full decode was needed


def test_a_scan_refuses_frames_that_grow_past_the_limit(tmp_path: Path) -> None:
    """Given an output that is 320x240 at first and 2000x2000 later, the scan stops with `input_too_large`."""
    growing = make_growing_video(tmp_path / "grow.ts", small_s=1.0)
    limits = LimitSettings(max_width=1920, max_height=1920)
    with pytest.raises(MediaError) as refused:
        scan_output(
            growing, threshold=0.6, blocked_classes=BLOCKED, every_s=0.5, detector=magenta_flagger, limits=limits
        )
    assert refused.value.code == "input_too_large"
