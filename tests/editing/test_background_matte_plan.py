"""The matte and replacement options of the background planner, checked without running ffmpeg or a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.editing.test_background_plan import video
from tests.support.vision import stand_in_vision_registry
from videoapi.editing.background import BackgroundRequest, ChromaMatte, MattedBackground, plan_background
from videoapi.editing.kinds import Source
from videoapi.errors import InvalidRequest, ModelNotInstalled
from videoapi.settings import Settings, load_settings

OUT = Path("/work/out")
REF = {"asset_id": "a"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A registry whose matting and segmentation models are installed (config.json and weights)."""
    registry = stand_in_vision_registry(tmp_path)
    return load_settings(environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(registry)})


def request(**kw: Any) -> BackgroundRequest:
    return msgspec.convert({"input": REF, "replacement": {"color": "#0000ff"}, **kw}, BackgroundRequest)


def graph(args: list[str]) -> str:
    return args[args.index("-filter_complex") + 1]


def fields(exc: pytest.ExceptionInfo[Any]) -> list[str]:
    return [e["field"] for e in exc.value.errors]


def test_a_request_without_matte_keeps_the_chroma_key_and_matte_chroma_is_the_same(settings: Settings) -> None:
    old = plan_background(request(key={"color": "#00ff00"}), [Source(Path("in.mp4"), video())], OUT, settings)
    new = plan_background(
        request(matte={"mode": "chroma", "color": "#00ff00"}), [Source(Path("in.mp4"), video())], OUT, settings
    )
    assert old.args == new.args
    assert "colorkey=color=0x00ff00" in graph(old.args)
    assert isinstance(request(matte={"mode": "chroma"}).matte, ChromaMatte)


def test_person_matte_merges_the_scaled_mask_video_as_alpha(settings: Settings) -> None:
    fields_ = msgspec.to_builtins(request(matte={"mode": "person"}))
    req = msgspec.convert({**fields_, "mask_path": "/work/mask.y4m", "mask_frames": 300}, MattedBackground)
    p = plan_background(req, [Source(Path("in.mp4"), video())], OUT, settings)
    assert p.args[p.args.index("/work/mask.y4m") - 1] == "-i"
    g = graph(p.args)
    assert "[1:v:0]setpts=PTS-STARTPTS,scale=1280:720:flags=bicubic,format=gray[mask]" in g
    assert "[cut][mask]alphamerge[fg]" in g and "[bg][fg]overlay" in g
    assert "colorkey" not in g


def test_blur_replacement_puts_the_blurred_input_behind_the_subject(settings: Settings) -> None:
    p = plan_background(
        request(matte={"mode": "person"}, replacement={"blur": 12}), [Source(Path("in.mp4"), video())], OUT, settings
    )
    g = graph(p.args)
    assert "split=2[src][blur_in]" in g and "gblur=sigma=12" in g
    assert p.args.count("-i") == 2  # the input and the mask: the background is the input itself


@pytest.mark.parametrize(
    ("fmt", "codec", "pix_fmt", "content_type"),
    [("webm", "libvpx-vp9", "yuva420p", "video/webm"), ("mov", "prores_ks", "yuva444p10le", "video/quicktime")],
)
def test_transparent_output_encodes_alpha(
    settings: Settings, fmt: str, codec: str, pix_fmt: str, content_type: str
) -> None:
    req = request(matte={"mode": "person"}, replacement={"transparent": True}, format=fmt)
    p = plan_background(req, [Source(Path("in.mp4"), video())], OUT, settings)
    assert p.args[p.args.index("-c:v") + 1] == codec
    assert p.args[p.args.index("-pix_fmt") + 1] == pix_fmt
    assert f"[fg]format={pix_fmt},split=2[v][p]" in graph(p.args)
    assert "overlay" not in graph(p.args)
    assert p.content_type == content_type and p.output.name == f"output.{fmt}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"replacement": {"transparent": True}, "format": "mp4"}, "format"),
        ({"format": "mov"}, "format"),
        ({"replacement": {"blur": 5, "color": "red"}}, "replacement"),
        ({"matte": {"mode": "object"}}, "matte.points"),
        ({"matte": {"mode": "object", "box": [50, 50, 10, 80]}}, "matte.box"),
        ({"matte": {"mode": "object", "points": [[10, 10], [1280, 5]]}}, "matte.points[1]"),
        ({"matte": {"mode": "object", "points": [[10, 10]], "frame_s": 10.0}}, "matte.frame_s"),
        ({"matte": {"mode": "object", "box": [0, 0, 100, 721]}}, "matte.box"),
    ],
)
def test_bad_matte_or_replacement_is_refused_naming_the_field(
    settings: Settings, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        plan_background(request(**body), [Source(Path("in.mp4"), video(duration_s=10.0))], OUT, settings)
    assert fields(exc) == [field]


def test_the_last_frame_is_a_valid_prompt_frame(settings: Settings) -> None:
    req = request(matte={"mode": "object", "points": [[1279, 719]], "frame_s": 9.96})
    plan_background(req, [Source(Path("in.mp4"), video(duration_s=10.0))], OUT, settings)


def test_a_model_that_is_not_installed_is_a_503_naming_the_download_command(tmp_path: Path) -> None:
    registry = tmp_path / "models.toml"
    registry.write_text(
        '[defaults]\nmatting = "people"\n'
        '[models.people]\nkinds = ["matting"]\narchitecture = "semantic-segmentation"\nsource = "org/people"\n'
    )
    env = {"VIDEOAPI_GENERATION__MODELS_FILE": str(registry), "VIDEOAPI_GENERATION__MODELS_DIR": str(tmp_path / "m")}
    settings = load_settings(environ=env)
    with pytest.raises(ModelNotInstalled) as exc:
        plan_background(request(matte={"mode": "person"}), [Source(Path("in.mp4"), video())], OUT, settings)
    assert "videoapi models download people" in str(exc.value)
    assert fields(exc) == ["matte.mode"]
