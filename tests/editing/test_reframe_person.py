"""edit/reframe `subject: person`: the registry's person (matting) model finds the subject on the sampled
frames, the camera follows the person's centroid, and without the model faces are followed, as a note
says. Random tiny weights make arbitrary masks, so the following itself is checked with a stand-in
detector of known behaviour (a bright figure on black); the tiny model proves the path through the
registry and the real loader."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.app import settings_in
from videoapi.editing.analysis import analyse, analysis_timeout, person_boxes
from videoapi.editing.reframe import ReframeRequest, TrackedReframe, crop_for, track, with_camera_path
from videoapi.editing.source import Source
from videoapi.media.ffmpeg import FFMPEG
from videoapi.media.probe import probe
from videoapi.settings import Settings

WIDTH, HEIGHT, SECONDS, FPS, SPEED_PX_S, FIGURE_W = 640, 360, 3.0, 25, 150, 80


def test_a_person_map_becomes_one_box_at_its_centroid_and_a_speck_is_nobody() -> None:
    probability = np.zeros((100, 200))
    probability[20:80, 120:160] = 0.9
    (box,) = person_boxes(probability)
    assert (box.cx, box.cy, box.w, box.h) == pytest.approx((0.7, 0.5, 0.2, 0.6))
    speck = np.zeros((100, 200))
    speck[0, 0] = 1.0
    assert person_boxes(speck) == []
    assert person_boxes(np.full((10, 10), 0.4)) == []  # unsure everywhere: below the threshold


@pytest.fixture(scope="module")
def walking_figure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A white figure walking left to right at SPEED_PX_S on black."""
    path = tmp_path_factory.mktemp("person") / "walk.mp4"
    background = f"color=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={SECONDS}"
    figure = f"color=white:s={FIGURE_W}x160:r={FPS}:d={SECONDS}"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", background, "-f", "lavfi", "-i", figure,
         "-filter_complex", f"[0][1]overlay=x='40+{SPEED_PX_S}*t':y=100", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.ffmpeg
def test_the_camera_follows_the_person_the_detector_sees(walking_figure: Path) -> None:
    media = probe(walking_figure, Settings().limits)

    def brightness(frame: np.ndarray) -> list:  # type: ignore[type-arg]
        return person_boxes(frame[:, :, 1] / 255.0)

    found = asyncio.run(analyse(walking_figure, media, subjects=brightness, timeout_s=analysis_timeout(media)))
    req = ReframeRequest(input={"asset_id": "x"}, aspect="9:16", subject="person")  # type: ignore[arg-type]
    tracked = track(req, media, found, "stand-in")
    assert tracked.notes == [] and tracked.camera["detector"] == "stand-in"
    crop = crop_for(media, "9:16")
    centres = np.asarray(tracked.offsets) + crop.width / 2
    truth = np.clip(
        40 + SPEED_PX_S * np.arange(len(centres)) / FPS + FIGURE_W / 2, crop.width / 2, WIDTH - crop.width / 2
    )
    assert np.abs(centres - truth).max() <= 0.1 * WIDTH
    assert centres[-1] - centres[0] > 0.4 * WIDTH


@pytest.mark.ffmpeg
@pytest.mark.slow  # builds a tiny SegFormer: imports torch and transformers
def test_person_uses_the_registrys_person_model_and_without_it_follows_faces(
    walking_figure: Path, tmp_path: Path
) -> None:
    from tests.support.tiny_vision import build_segformer

    segformer = build_segformer(tmp_path / "segformer")
    registry = tmp_path / "models.toml"
    registry.write_text(
        '[defaults]\nmatting = "tiny-segformer"\n[models.tiny-segformer]\nkinds = ["matting"]\n'
        f'architecture = "semantic-segmentation"\nsource = "{segformer}"\n'
    )
    media = probe(walking_figure, Settings().limits)
    req = ReframeRequest(input={"asset_id": "x"}, aspect="9:16", subject="person")  # type: ignore[arg-type]
    settings = settings_in(tmp_path / "with", **{"generation.models_file": str(registry), "generation.device": "cpu"})
    tracked = asyncio.run(with_camera_path(req, [Source(walking_figure, media)], tmp_path, settings))
    assert isinstance(tracked, TrackedReframe)
    assert tracked.camera["detector"] == "person model tiny-segformer"
    assert tracked.camera["samples"] == 7  # frames 0, 12, ... 72 of 75: every one went through the model
    assert not any("faces were followed" in note for note in tracked.notes)

    absent = tmp_path / "absent.toml"
    absent.write_text(registry.read_text().replace(f'source = "{segformer}"', 'source = "nvidia/absent"'))
    without = settings_in(tmp_path / "without", **{"generation.models_file": str(absent)})
    tracked = asyncio.run(with_camera_path(req, [Source(walking_figure, media)], tmp_path, without))
    assert tracked.camera["detector"] == "faces"
    assert any("tiny-segformer is not installed" in note and "faces were followed" in note for note in tracked.notes)
