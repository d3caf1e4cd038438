"""analyze/scenes: cuts found to the frame on downscaled frames, none in a fade or a pan; thumbnails of
each scene and, with split, clips that are stream copies from a keyframe and re-encodes otherwise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.app import Api, assert_problem
from tests.support.media import decode, make_audio, video_info
from tests.support.vision import astronaut_png, make_cuts, make_fade, make_pan
from videoapi.editing.analysis import analyse
from videoapi.media.probe import probe
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

LENGTHS = [30, 25, 20]
"""Frames per shot: cuts at frames 30 and 55 of 75 (25 fps); a keyframe only at 0 and 30."""


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    photo = astronaut_png(folder / "astronaut.png")
    make_cuts(folder / "cuts.mp4", LENGTHS, keyframes=[30])
    make_fade(folder / "fade.mp4", photo)
    make_pan(folder / "pan.mp4", photo)
    return folder


def detect(path: Path, detector: str = "content") -> list[int]:
    found = asyncio.run(analyse(path, probe(path, Settings().limits), detector=detector, timeout_s=60))  # type: ignore[arg-type]
    return found.cuts


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_hard_cuts_are_found_at_their_frames(media_dir: Path, detector: str) -> None:
    cuts = detect(media_dir / "cuts.mp4", detector)
    assert len(cuts) == 2
    assert abs(cuts[0] - 30) <= 1 and abs(cuts[1] - 55) <= 1


def test_a_slow_fade_and_a_pan_are_one_scene(media_dir: Path) -> None:
    assert detect(media_dir / "fade.mp4") == []
    assert detect(media_dir / "pan.mp4") == []
    assert detect(media_dir / "pan.mp4", "adaptive") == []


def test_scenes_have_times_thumbnails_and_clips_copied_only_from_keyframes(
    api: Api, media_dir: Path, tmp_path: Path
) -> None:
    asset = api.upload(media_dir / "cuts.mp4")
    resp = api.post("/v1/video/analyze/scenes", json={"input": {"asset_id": asset["id"]}, "split": True})
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    scenes = task["result"]["scenes"]
    assert [(s["start_frame"], s["end_frame"]) for s in scenes] == [(0, 30), (30, 55), (55, 75)]
    assert [(s["start_s"], s["end_s"]) for s in scenes] == [(0.0, 1.2), (1.2, 2.2), (2.2, 3.0)]
    assert [s["clip_copied"] for s in scenes] == [True, True, False]
    assert task["result"]["detector"] == {"name": "content", "threshold": 27.0}
    assert not any("thumbnail_key" in s or "clip_key" in s for s in scenes)
    middles = []
    for i, scene in enumerate(scenes):
        thumb = Image.open(api.download(scene["thumbnail_url"], tmp_path / f"t{i}.jpg")).convert("RGB")
        assert thumb.size == (160, 90)
        middles.append(thumb)
        clip = api.download(scene["clip_url"], tmp_path / f"c{i}.mp4")
        info = video_info(clip)
        frames = scene["end_frame"] - scene["start_frame"]
        assert info["frames"] == frames, (i, info)
        # The clip's first frame is the scene's: its middle frame matches the thumbnail, its first
        # frame is the shot's own picture (no frame of the shot before it).
        pixels = decode(clip)
        assert pixels.shape[0] == frames
        mid = pixels[(frames - 1) // 2].astype(int)
        assert abs(mid - np.asarray(thumb, int)).mean() < 12
    # Three different shots: three different thumbnails.
    assert len({m.tobytes()[:4096] for m in middles}) == 3


def test_threshold_out_of_range_is_a_422_naming_it(api: Api, media_dir: Path) -> None:
    asset = api.upload(media_dir / "pan.mp4")
    for body in ({"threshold": 300}, {"detector": "adaptive", "threshold": 80}, {"threshold": 0}):
        resp = api.post("/v1/video/analyze/scenes", json={"input": {"asset_id": asset["id"]}, **body})
        problem = assert_problem(resp, 422)
        assert "threshold" in resp.text, problem


def test_an_unknown_detector_is_a_422_naming_it(api: Api) -> None:
    resp = api.post("/v1/video/analyze/scenes", json={"input": {"asset_id": "x"}, "detector": "AAA"})
    problem = assert_problem(resp, 422, "invalid_request")
    assert problem["errors"][0]["field"] == "detector"


def test_an_input_without_video_is_a_422(api: Api, tmp_path: Path) -> None:
    asset = api.upload(make_audio(tmp_path / "tone.m4a"))
    resp = api.post("/v1/video/analyze/scenes", json={"input": {"asset_id": asset["id"]}})
    assert_problem(resp, 422, "input_not_video")
