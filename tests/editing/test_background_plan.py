"""The background planner is pure: these check its ffmpeg arguments without running ffmpeg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from videoapi.editing.background import BackgroundRequest, background_inputs, check_background, plan_background
from videoapi.editing.kinds import KINDS, Source
from videoapi.errors import InvalidRequest
from videoapi.media.probe import AudioInfo, MediaInfo, VideoInfo
from videoapi.settings import load_settings

SETTINGS = load_settings(environ={})
OUT = Path("/work/out")
REF = {"asset_id": "a"}


def video(
    width: int = 1280, height: int = 720, fps: float | None = 30.0, audio: str | None = "aac", duration_s: float = 10.0
) -> MediaInfo:
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=duration_s,
        size_bytes=1000,
        bit_rate=None,
        video=VideoInfo(codec="h264", width=width, height=height, fps=fps, rotation=0, pix_fmt="yuv420p", bit_depth=8),
        audio=AudioInfo(codec=audio, sample_rate=48000, channels=2) if audio else None,
        is_image=False,
    )


IMAGE = MediaInfo(
    format_name="png_pipe",
    duration_s=0.0,
    size_bytes=100,
    bit_rate=None,
    video=VideoInfo(codec="png", width=400, height=400, fps=None, rotation=0, pix_fmt="rgb24", bit_depth=8),
    audio=None,
    is_image=True,
)
AUDIO_ONLY = MediaInfo(
    format_name="wav",
    duration_s=3.0,
    size_bytes=100,
    bit_rate=None,
    video=None,
    audio=AudioInfo(codec="pcm_s16le", sample_rate=48000, channels=1),
    is_image=False,
)


def request(**kw: Any) -> BackgroundRequest:
    return msgspec.convert({"input": REF, "replacement": {"color": "#0000ff"}, **kw}, BackgroundRequest)


def plan(req: BackgroundRequest, *medias: MediaInfo) -> list[str]:
    sources = [Source(Path(f"/work/in{i}"), m) for i, m in enumerate(medias or (video(),))]
    return plan_background(req, sources, OUT, SETTINGS).args


def value_after(args: list[str], flag: str, nth: int = 0) -> str:
    return [args[i + 1] for i, a in enumerate(args) if a == flag][nth]


def graph(args: list[str]) -> str:
    return value_after(args, "-filter_complex")


def test_colour_background_is_a_generated_source_sized_and_timed_like_the_input() -> None:
    args = plan(request(), video(1280, 720, fps=30))
    assert args.count("-i") == 1
    g = graph(args)
    assert "color=c=0x0000ff:s=1280x720:r=30" in g
    assert "[bg][fg]overlay=shortest=1" in g
    assert value_after(args, "-map") == "[v]"


def test_default_key_is_a_green_rgb_colour_key_then_green_despill() -> None:
    g = graph(plan(request()))
    assert "format=rgba,colorkey=color=0x00ff00:similarity=0.2:blend=0.05,despill=type=green:mix=0.5:expand=0[fg]" in g


def test_key_options_reach_the_filters() -> None:
    key = {"color": "#0000ff", "similarity": 0.3, "blend": 0.2, "yuv": True, "spill": {"mix": 0.7, "expand": 0.1}}
    g = graph(plan(request(key=key)))
    assert "format=yuva444p,chromakey=color=0x0000ff:similarity=0.3:blend=0.2" in g
    assert "colorkey" not in g
    assert "format=rgba,despill=type=blue:mix=0.7:expand=0.1" in g


@pytest.mark.parametrize(("key", "despill"), [({"spill": None}, False), ({"color": "red"}, False), ({}, True)])
def test_spill_suppression_only_for_green_or_blue_keys_unless_asked(key: dict[str, Any], despill: bool) -> None:
    assert ("despill" in graph(plan(request(key=key)))) is despill


def test_named_key_colour_is_rendered_as_hex() -> None:
    assert "colorkey=color=0x00ff00:" in graph(plan(request(key={"color": "lime"})))


def test_colour_text_cannot_reach_the_filtergraph() -> None:
    with pytest.raises(InvalidRequest) as err:
        plan(request(key={"color": "green:similarity=1[x];[x]"}))
    assert err.value.code == "invalid_color"
    assert err.value.errors[0]["field"] == "key.color"


def test_image_background_is_fitted_once_and_repeated_at_the_input_rate() -> None:
    req = request(replacement={"image": {"asset_id": "img"}, "fit": "cover"})
    args = plan(req, video(640, 360, fps=25), IMAGE)
    assert args.count("-i") == 2 and "-stream_loop" not in args
    g = graph(args)
    assert "[1:v:0]scale=640:360:force_original_aspect_ratio=increase,crop=640:360" in g
    assert "loop=loop=-1:size=1,fps=25" in g


@pytest.mark.parametrize(
    ("fit", "expected"),
    [
        ("contain", "force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2"),
        ("stretch", "[1:v:0]scale=640:360,setsar=1"),
    ],
)
def test_fit_modes(fit: str, expected: str) -> None:
    req = request(replacement={"image": {"asset_id": "img"}, "fit": fit})
    assert expected in graph(plan(req, video(640, 360), IMAGE))


def test_video_background_loops_and_is_cut_at_the_input_length() -> None:
    req = request(replacement={"video": {"asset_id": "bg"}})
    args = plan(req, video(duration_s=12.5, fps=24), video(320, 240, fps=60, duration_s=2))
    second = [i for i, a in enumerate(args) if a == "-i"][1]
    assert args[second - 8 : second - 4] == ["-stream_loop", "-1", "-t", "12.500000"]
    assert "fps=24,setpts=PTS-STARTPTS" in graph(args)


def test_inputs_are_the_video_then_the_replacement() -> None:
    req = request(replacement={"video": {"asset_id": "bg"}})
    assert [r.asset_id for r in background_inputs(req)] == ["a", "bg"]
    assert [r.asset_id for r in background_inputs(request())] == ["a"]
    assert KINDS["edit.background"].inputs(req) == background_inputs(req)


def test_every_input_is_opened_with_the_whitelists() -> None:
    args = plan(request(replacement={"video": {"asset_id": "bg"}}), video(), video())
    assert args.count("-protocol_whitelist") == args.count("-i") == 2


def test_audio_is_copied_when_the_container_holds_it_else_encoded() -> None:
    assert value_after(plan(request()), "-c:a") == "copy"
    assert value_after(plan(request(format="webm")), "-c:a") == "libopus"
    assert value_after(plan(request(format="webm"), video(audio="opus")), "-c:a") == "copy"
    assert value_after(plan(request(), video(audio="pcm_s16le")), "-c:a") == "aac"


def test_output_duration_size_and_poster() -> None:
    req = request()
    p = plan_background(req, [Source(Path("/work/in0"), video(641, 361, duration_s=7.5))], OUT, SETTINGS)
    assert p.duration_s == 7.5
    assert "scale=640:360" in graph(p.args)  # odd input sizes are made even for 4:2:0
    assert p.poster == OUT / "poster.jpg" and p.args[-1] == str(OUT / "poster.jpg")
    assert value_after(p.args, "-map", 2) == "[poster]"
    assert p.content_type == "video/mp4"


def test_unknown_fps_falls_back_to_25() -> None:
    assert "r=25" in graph(plan(request(), video(fps=None)))


@pytest.mark.parametrize(
    ("replacement", "message"),
    [({}, "none"), ({"color": "red", "image": REF}, "color, image")],
)
def test_replacement_needs_exactly_one_source(replacement: dict[str, Any], message: str) -> None:
    req = request(replacement=replacement)
    with pytest.raises(InvalidRequest) as err:
        check_background(req, SETTINGS)
    assert err.value.errors[0]["field"] == "replacement"
    assert message in err.value.errors[0]["message"]


@pytest.mark.parametrize(
    ("replacement", "bg", "field", "code"),
    [
        ({"image": REF}, video(), "replacement.image", "input_not_image"),
        ({"image": REF}, AUDIO_ONLY, "replacement.image", "input_not_video"),
        ({"video": REF}, IMAGE, "replacement.video", "input_not_video"),
    ],
)
def test_replacement_media_must_match_its_slot(
    replacement: dict[str, Any], bg: MediaInfo, field: str, code: str
) -> None:
    with pytest.raises(InvalidRequest) as err:
        plan(request(replacement=replacement), video(), bg)
    assert (err.value.code, err.value.errors[0]["field"]) == (code, field)


@pytest.mark.parametrize("media", [IMAGE, AUDIO_ONLY])
def test_input_must_be_a_video(media: MediaInfo) -> None:
    with pytest.raises(InvalidRequest) as err:
        plan(request(), media)
    assert (err.value.code, err.value.errors[0]["field"]) == ("input_not_video", "input")


def test_output_limits_name_the_setting() -> None:
    settings = msgspec.structs.replace(
        SETTINGS, editing=msgspec.structs.replace(SETTINGS.editing, max_output_pixel_seconds=1280 * 720 * 5.0)
    )
    with pytest.raises(InvalidRequest) as err:
        plan_background(request(), [Source(Path("/work/in0"), video(duration_s=10))], OUT, settings)
    assert err.value.code == "limit_exceeded"
    assert "editing.max_output_pixel_seconds" in str(err.value)


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ({"similarity": 0}, "$.key.similarity"),
        ({"similarity": 1.5}, "$.key.similarity"),
        ({"blend": -0.1}, "$.key.blend"),
        ({"spill": {"mix": 2}}, "$.key.spill.mix"),
        ({"shape": "x"}, "$.key"),
    ],
)
def test_out_of_range_key_options_are_refused_by_the_schema(key: dict[str, Any], path: str) -> None:
    with pytest.raises(msgspec.ValidationError) as err:
        request(key=key)
    assert str(err.value).endswith(f"at `{path}`")
