"""The planners are pure: these check the ffmpeg arguments without running ffmpeg."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from videoapi.assets.schemas import InputRef
from videoapi.editing.plan import plan_transcode, plan_trim
from videoapi.editing.schemas import TranscodeRequest, TrimRequest
from videoapi.errors import InvalidRequest
from videoapi.media.probe import AudioInfo, MediaInfo, VideoInfo

SRC = Path("/work/in.mp4")
OUT = Path("/work/out")


def media(
    width: int = 1920,
    height: int = 1080,
    codec: str = "h264",
    audio: str | None = "aac",
    pix_fmt: str = "yuv420p",
    duration_s: float = 60.0,
) -> MediaInfo:
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=duration_s,
        size_bytes=1000,
        bit_rate=1000,
        video=VideoInfo(codec=codec, width=width, height=height, fps=25.0, rotation=0, pix_fmt=pix_fmt, bit_depth=8),
        audio=AudioInfo(codec=audio, sample_rate=48000, channels=2) if audio else None,
        is_image=False,
    )


def trim(**kw: object) -> TrimRequest:
    return TrimRequest(input=InputRef(asset_id="a"), **{"start_s": 10.0, "end_s": 20.0, **kw})  # type: ignore[arg-type]


def value_after(args: list[str], flag: str, nth: int = 0) -> str:
    return [args[i + 1] for i, a in enumerate(args) if a == flag][nth]


def test_accurate_trim_seeks_before_input_and_encodes_exact_duration() -> None:
    plan = plan_trim(trim(), media(), SRC, OUT)
    args = plan.args
    assert args.index("-ss") < args.index("-i")
    assert value_after(args, "-ss") == "10.000000"
    assert value_after(args, "-t") == "10.000000"
    assert value_after(args, "-c:v") == "libx264"
    assert "+faststart" in args
    assert plan.duration_s == 10.0
    assert plan.output == OUT / "output.mp4"
    assert plan.content_type == "video/mp4"


def test_every_input_is_opened_with_the_protocol_and_format_whitelist() -> None:
    for plan in (
        plan_trim(trim(), media(), SRC, OUT),
        plan_transcode(TranscodeRequest(input=InputRef(asset_id="a")), media(), SRC, OUT),
    ):
        args = plan.args
        i = args.index("-i")
        assert "-protocol_whitelist" in args[:i] and value_after(args, "-protocol_whitelist") == "file,pipe"
        assert "-format_whitelist" in args[:i]
        assert "hls" not in value_after(args, "-format_whitelist").split(",")


def test_poster_is_a_second_output_of_the_same_pass() -> None:
    plan = plan_trim(trim(), media(), SRC, OUT)
    assert plan.args.count("-i") == 1
    assert plan.args[-1] == str(OUT / "poster.jpg")
    assert value_after(plan.args, "-frames:v") == "1"


def test_accurate_trim_adds_no_filter_for_even_8bit_input() -> None:
    assert plan_trim(trim(), media(), SRC, OUT).args.count("-vf") == 1  # the poster's scale only


def test_accurate_trim_normalises_odd_sizes_and_10bit() -> None:
    args = plan_trim(trim(), media(width=321, height=241, pix_fmt="yuv420p10le"), SRC, OUT).args
    vf = value_after(args, "-vf")
    assert "trunc(iw/2)*2" in vf and "format=yuv420p" in vf


def test_fast_trim_copies_streams_into_the_matching_container() -> None:
    webm = media(codec="vp9", audio="opus")
    plan = plan_trim(
        trim(mode="fast"), MediaInfo(**{**msgspec.structs.asdict(webm), "format_name": "matroska,webm"}), SRC, OUT
    )
    assert value_after(plan.args, "-c") == "copy"
    assert plan.output.suffix == ".webm"
    plan = plan_trim(trim(mode="fast"), media(), SRC, OUT)
    assert plan.output.suffix == ".mp4"


def test_fast_trim_refuses_codecs_no_container_can_hold() -> None:
    with pytest.raises(InvalidRequest) as err:
        plan_trim(trim(mode="fast"), media(codec="prores", audio="pcm_s24le"), SRC, OUT)
    assert err.value.code == "fast_trim_unsupported"


@pytest.mark.parametrize(
    ("start", "end", "code"), [(5, 5, "invalid_range"), (9, 3, "invalid_range"), (10, 61, "input_out_of_range")]
)
def test_trim_range_errors_name_the_field(start: float, end: float, code: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        plan_trim(trim(start_s=start, end_s=end), media(), SRC, OUT)
    assert err.value.code == code
    assert err.value.errors[0]["field"] == "end_s"


@pytest.mark.parametrize(
    ("req", "dims", "expected"),
    [
        ({"resolution": "720p"}, (1920, 1080), "scale=-2:720"),
        ({"resolution": "1080p"}, (1080, 1920), "scale=1080:-2"),  # portrait: the short side is the width
        ({"width": 641}, (1920, 1080), "scale=640:-2"),
        ({"height": 480}, (1920, 1080), "scale=-2:480"),
        ({"width": 1280, "height": 1280}, (1920, 1080), "pad=1280:1280"),
    ],
)
def test_transcode_scaling(req: dict[str, object], dims: tuple[int, int], expected: str) -> None:
    plan = plan_transcode(TranscodeRequest(input=InputRef(asset_id="a"), **req), media(*dims), SRC, OUT)  # type: ignore[arg-type]
    assert expected in value_after(plan.args, "-vf")


def test_transcode_to_webm_uses_vp9_and_opus() -> None:
    plan = plan_transcode(TranscodeRequest(input=InputRef(asset_id="a"), format="webm", fps=30), media(), SRC, OUT)
    assert value_after(plan.args, "-c:v") == "libvpx-vp9"
    assert value_after(plan.args, "-c:a") == "libopus"
    assert "fps=30" in value_after(plan.args, "-vf")
    assert plan.content_type == "video/webm"
    assert plan.duration_s == 60.0


def test_transcode_refuses_an_image() -> None:
    still = MediaInfo(
        format_name="png_pipe",
        duration_s=0,
        size_bytes=1,
        bit_rate=None,
        video=media().video,
        audio=None,
        is_image=True,
    )
    with pytest.raises(InvalidRequest):
        plan_transcode(TranscodeRequest(input=InputRef(asset_id="a")), still, SRC, OUT)
