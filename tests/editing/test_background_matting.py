"""Matting over HTTP: tiny random-weight models (a SegFormer with a `person` class, a SAM 2 video
model) saved with save_pretrained and loaded back through the registry, as real weights would be.

Random weights make arbitrary masks, so these prove the path (registry, loader, streamed mask pass,
one ffmpeg pass, verified output), not the quality of a matte; see docs/api/editing.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest

from tests.support.app import Api, assert_problem, running_app
from tests.support.media import make_video
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

FPS, DURATION_S, WIDTH, HEIGHT = 10, 1.0, 160, 120


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_vision import build_sam2, build_segformer  # torch: only when these tests run

    root = tmp_path_factory.mktemp("vision-models")
    segformer, sam2 = build_segformer(root / "segformer"), build_sam2(root / "sam2")
    path = root / "models.toml"
    path.write_text(
        '[defaults]\nmatting = "tiny-segformer"\nsegmentation = "tiny-sam2"\n'
        '[models.tiny-segformer]\nkinds = ["matting"]\narchitecture = "semantic-segmentation"\n'
        f'source = "{segformer}"\ninput_size = 96\n'
        '[models.tiny-sam2]\nkinds = ["segmentation"]\narchitecture = "sam2-video"\n'
        f'source = "{sam2}"\ninput_size = 96\n'
        # Listed, never downloaded: its weights are absent.
        '[models.absent-sam2]\nkinds = ["segmentation"]\narchitecture = "sam2-video"\nsource = "facebook/absent"\n'
    )
    return path


@pytest.fixture
def api(make_settings: Callable[..., Settings], registry: Path) -> Iterator[Api]:
    settings = make_settings(**{"generation.models_file": str(registry), "generation.device": "cpu"})
    with running_app(settings) as api:
        yield api


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "in.mp4"
    return make_video(path, duration_s=DURATION_S, width=WIDTH, height=HEIGHT, fps=FPS)


def submit(api: Api, clip: Path, matte: dict, replacement: dict, fmt: str = "mp4") -> dict:
    body = {"input": {"asset_id": api.upload(clip)["id"]}, "matte": matte, "replacement": replacement, "format": fmt}
    resp = api.post("/v1/video/edit/background", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=120)
    assert task["status"] == "succeeded", task
    return task


def test_person_matte_gives_a_transparent_webm_of_the_input_size_and_length(
    api: Api, clip: Path, tmp_path: Path
) -> None:
    task = submit(api, clip, {"mode": "person", "smoothing": 0.6}, {"transparent": True}, "webm")
    out = api.download(task["result"]["url"], tmp_path / "out.webm")
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("vp9", WIDTH, HEIGHT)
        assert stream.metadata.get("alpha_mode") == "1"
        assert abs(c.duration / 1e6 - DURATION_S) <= 1 / FPS + 0.03
        assert [s.type for s in c.streams] == ["video", "audio"]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        decoded = [f for p in c.demux(stream) for f in decoder.decode(p)]
    assert len(decoded) == DURATION_S * FPS
    assert decoded[0].format.name == "yuva420p"


def test_object_matte_is_propagated_both_ways_from_the_prompt_frame(api: Api, clip: Path, tmp_path: Path) -> None:
    # The prompt is mid-clip: frames after it are tracked forwards, those before it backwards.
    matte = {"mode": "object", "points": [[80, 60]], "box": [40, 30, 120, 90], "frame_s": 0.5}
    task = submit(api, clip, matte, {"color": "#0000ff"})
    out = api.download(task["result"]["url"], tmp_path / "out.mp4")
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", WIDTH, HEIGHT)
        assert sum(1 for _ in c.decode(stream)) == DURATION_S * FPS
    assert abs(task["result"]["duration"] - DURATION_S) <= 1 / FPS


@pytest.mark.parametrize(
    ("matte", "field"),
    [
        ({"mode": "object", "points": [[WIDTH + 5, 10]]}, "matte.points[0]"),
        ({"mode": "object", "points": [[10, 10]], "frame_s": DURATION_S + 0.5}, "matte.frame_s"),
    ],
)
def test_a_prompt_outside_the_input_is_a_422_naming_the_field(api: Api, clip: Path, matte: dict, field: str) -> None:
    body = {"input": {"asset_id": api.upload(clip)["id"]}, "matte": matte, "replacement": {"color": "red"}}
    problem = assert_problem(api.post("/v1/video/edit/background", json=body), 422)
    assert [e["field"] for e in problem["errors"]] == [field]


def test_a_model_that_is_not_installed_is_refused_with_503(
    make_settings: Callable[..., Settings], registry: Path, clip: Path, tmp_path: Path
) -> None:
    text = registry.read_text().replace('segmentation = "tiny-sam2"', 'segmentation = "absent-sam2"')
    (tmp_path / "models.toml").write_text(text)
    settings = make_settings(**{"generation.models_file": str(tmp_path / "models.toml")})
    with running_app(settings) as api:
        body = {
            "input": {"asset_id": api.upload(clip)["id"]},
            "matte": {"mode": "object", "points": [[10, 10]]},
            "replacement": {"blur": 4},
        }
        problem = assert_problem(api.post("/v1/video/edit/background", json=body), 503, "model_not_installed")
    assert "videoapi models download absent-sam2" in problem["detail"]
