"""edit/reframe end to end: a real face moving across the frame is followed, the crop of each output
frame is the one the camera path planned, the aspect is exact, and a video without a face is centred
with a note."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.support.app import Api
from tests.support.media import decode, make_video, video_info
from tests.support.vision import astronaut_png, make_moving_face, moving_face_x
from videoapi.editing.reframe import NO_SUBJECT, ReframeRequest, TrackedReframe, crop_for, with_camera_path
from videoapi.editing.source import Source
from videoapi.media.probe import probe
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

WIDTH, HEIGHT, FACE_PX, SECONDS, FPS, TRAVEL = 640, 360, 260, 3.0, 25, 0.6


@pytest.fixture(scope="module")
def moving_face(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reframe")
    photo = astronaut_png(folder / "astronaut.png")
    return make_moving_face(
        folder / "face.mp4", photo, width=WIDTH, height=HEIGHT, face_px=FACE_PX, seconds=SECONDS, fps=FPS, travel=TRAVEL
    )


def test_the_crop_follows_a_face_moving_left_to_right(moving_face: Path, tmp_path: Path) -> None:
    media = probe(moving_face, Settings().limits)
    req = ReframeRequest(input={"asset_id": "x"}, aspect="9:16")  # type: ignore[arg-type]
    tracked = asyncio.run(with_camera_path(req, [Source(moving_face, media)], tmp_path, Settings()))
    assert isinstance(tracked, TrackedReframe)
    assert tracked.notes == []
    crop = crop_for(media, "9:16")
    centres = np.asarray(tracked.offsets) + crop.width / 2
    truth = np.asarray(
        [
            moving_face_x(n / FPS, width=WIDTH, face_px=FACE_PX, seconds=SECONDS, travel=TRAVEL)
            for n in range(len(centres))
        ]
    )
    assert len(centres) == SECONDS * FPS
    assert np.abs(centres - truth).max() <= 0.1 * WIDTH
    assert centres[-1] - centres[0] > 0.4 * WIDTH  # it really panned
    steps = np.abs(np.diff(tracked.offsets))
    assert steps.max() <= tracked.camera["max_speed_px_per_frame"] + 1  # whole pixels


def test_each_output_frame_is_the_planned_crop_at_the_exact_aspect(api: Api, moving_face: Path, tmp_path: Path) -> None:
    asset = api.upload(moving_face)
    resp = api.post("/v1/video/edit/reframe", json={"input": {"asset_id": asset["id"]}, "aspect": "9:16"})
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    result = task["result"]
    assert result["notes"] == [] and result["camera"]["samples_with_subject"] > 0
    out = api.download(result["url"], tmp_path / "out.mp4")
    info = video_info(out)
    assert info["width"] * 16 == info["height"] * 9 and info["frames"] == SECONDS * FPS
    # Replan the path as the worker did and compare the output's pixels with the input cropped there.
    media = probe(moving_face, Settings().limits)
    req = ReframeRequest(input={"asset_id": "x"}, aspect="9:16")  # type: ignore[arg-type]
    tracked = asyncio.run(with_camera_path(req, [Source(moving_face, media)], tmp_path, Settings()))
    assert isinstance(tracked, TrackedReframe)
    frames_in, frames_out = decode(moving_face), decode(out)
    w = info["width"]
    for n in (5, 37, 70):
        x = tracked.offsets[n] // 2 * 2
        planned = frames_in[n, 4 : 4 + info["height"], x : x + w].astype(int)
        centred = frames_in[n, 4 : 4 + info["height"], (WIDTH - w) // 2 : (WIDTH - w) // 2 + w].astype(int)
        got = frames_out[n].astype(int)
        assert np.abs(got - planned).mean() < 8, n
        if abs(x - (WIDTH - w) // 2) > 40:
            assert np.abs(got - centred).mean() > 2 * np.abs(got - planned).mean()


def test_no_subject_falls_back_to_the_centre_with_a_note(api: Api, tmp_path: Path) -> None:
    asset = api.upload(make_video(tmp_path / "pattern.mp4", duration_s=1.0, width=160, height=90, audio=False))
    resp = api.post("/v1/video/edit/reframe", json={"input": {"asset_id": asset["id"]}, "aspect": "1:1"})
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    assert task["result"]["notes"] == [NO_SUBJECT]
    assert (task["result"]["width"], task["result"]["height"]) == (90, 90)
