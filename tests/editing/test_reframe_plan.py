"""edit/reframe planning without ffmpeg: exact aspect windows, a camera path bounded in speed that holds
still inside its dead zone and starts again at a cut, and the sendcmd script that drives the crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videoapi.editing.analysis import Analysis, Box
from videoapi.editing.reframe import (
    NO_SUBJECT,
    ReframeRequest,
    camera_for,
    camera_path,
    crop_for,
    output_size,
    plan_reframe,
    sendcmd_script,
    track,
)
from videoapi.editing.source import Source
from videoapi.media.probe import MediaInfo, VideoInfo
from videoapi.settings import Settings

REF = {"asset_id": "00000000-0000-0000-0000-000000000000"}


def media(width: int = 1920, height: int = 1080, fps: float = 30.0, duration_s: float = 4.0) -> MediaInfo:
    video = VideoInfo(codec="h264", width=width, height=height, fps=fps, rotation=0, pix_fmt="yuv420p", bit_depth=8)
    return MediaInfo(
        format_name="mov,mp4",
        duration_s=duration_s,
        size_bytes=1,
        bit_rate=None,
        video=video,
        audio=None,
        is_image=False,
    )


@pytest.mark.parametrize(
    ("aspect", "size", "expected"),
    [
        ("9:16", (1920, 1080), (594, 1056)),
        ("1:1", (1920, 1080), (1080, 1080)),
        ("4:5", (1920, 1080), (864, 1080)),
        ("16:9", (1080, 1920), (1056, 594)),
        ("9:16", (160, 90), (36, 64)),
    ],
)
def test_the_window_has_exactly_the_aspect(aspect: str, size: tuple[int, int], expected: tuple[int, int]) -> None:
    crop = crop_for(media(*size), aspect)  # type: ignore[arg-type]
    assert (crop.width, crop.height) == expected
    p, q = (int(v) for v in aspect.split(":"))
    assert crop.width * q == crop.height * p
    assert crop.width % 2 == 0 and crop.height % 2 == 0
    assert crop.width <= size[0] and crop.height <= size[1]


def test_resolution_sets_the_short_side_and_keeps_the_aspect() -> None:
    crop = crop_for(media(), "9:16")
    assert output_size(ReframeRequest(input=REF, aspect="9:16", resolution="1080p"), crop) == (1080, 1920)
    assert output_size(ReframeRequest(input=REF, aspect="4:5", resolution="720p"), crop_for(media(), "4:5")) == (
        720,
        900,
    )


def test_the_camera_never_pans_faster_than_its_bound_and_holds_inside_the_dead_zone() -> None:
    crop = crop_for(media(), "9:16")
    camera = camera_for(0.5, crop, 30.0)
    frames = 120
    # The subject jumps across the frame twice, then jitters by a few pixels.
    targets: dict[int, float | None] = {0: 300.0, 30: 1700.0, 60: 1700.0, 61: 400.0}
    targets |= {n: 1000.0 + (5 if n % 2 else -5) for n in range(90, 120)}
    path, empty = camera_path(frames, targets, [], crop, camera)
    assert empty == []
    steps = np.abs(np.diff(path))
    assert steps.max() <= camera.max_speed_px + 1e-9
    # A jitter smaller than the dead zone does not move a camera that has settled on it.
    assert np.ptp(path[110:]) < 1.0
    assert abs(path[-1] - 1000.0) <= camera.dead_zone_px


def test_a_cut_starts_the_path_again_on_the_new_subject() -> None:
    crop = crop_for(media(), "9:16")
    camera = camera_for(1.0, crop, 30.0)
    targets: dict[int, float | None] = {0: 400.0, 59: 400.0, 60: 1500.0, 119: 1500.0}
    path, _ = camera_path(120, targets, [60], crop, camera)
    assert path[59] == pytest.approx(400.0) and path[60] == pytest.approx(1500.0)
    assert np.abs(np.diff(path[:60])).max() <= camera.max_speed_px


def test_no_face_anywhere_centres_the_crop_and_says_so() -> None:
    found = Analysis(frames=90, cuts=[45], faces={0: [], 30: [], 60: []})
    tracked = track(ReframeRequest(input=REF), media(), found)
    assert tracked.notes == [NO_SUBJECT]
    crop = crop_for(media(), "9:16")
    assert set(tracked.offsets) == {(1920 - crop.width) // 2}


def test_a_shot_without_a_face_is_centred_and_named_in_the_notes() -> None:
    found = Analysis(frames=90, cuts=[45], faces={0: [Box(0.2, 0.5, 0.1, 0.2)], 30: [], 60: []})
    tracked = track(ReframeRequest(input=REF), media(), found)
    assert tracked.notes == ["no subject found from 1.50 s to 3.00 s: the crop stays at the centre there"]
    assert tracked.camera["shots"] == 2 and tracked.camera["samples_with_subject"] == 1


def test_the_plan_crops_in_one_pass_driven_by_a_sendcmd_script(tmp_path: Path) -> None:
    found = Analysis(frames=120, faces={0: [Box(0.2, 0.5, 0.1, 0.2)], 90: [Box(0.8, 0.5, 0.1, 0.2)]})
    tracked = track(ReframeRequest(input=REF, resolution="720p"), media(), found)
    plan = plan_reframe(tracked, [Source(tmp_path / "in.mp4", media())], tmp_path, Settings())
    vf = plan.args[plan.args.index("-vf") + 1]
    assert "sendcmd=f=" in vf and "crop@rf=w=594:h=1056" in vf and "scale=720:1280" in vf
    assert plan.args.count("-i") == 1
    assert plan.expect is not None and plan.expect.size == (720, 1280)
    script = plan.files[tmp_path / "camera.cmd"]
    lines = script.strip().splitlines()
    assert lines[0].startswith("0.000000 crop@rf x ")
    changes = 1 + sum(1 for a, b in zip(tracked.offsets, tracked.offsets[1:], strict=False) if a != b)
    assert len(lines) == changes > 1


def test_sendcmd_script_has_one_command_per_change() -> None:
    assert sendcmd_script([10, 10, 12, 12, 12, 9], "x", 25.0) == (
        "0.000000 crop@rf x 10;\n0.060000 crop@rf x 12;\n0.180000 crop@rf x 9;\n"
    )
