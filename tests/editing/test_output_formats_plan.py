"""Output codecs and formats are planned purely: these read the ffmpeg arguments without running ffmpeg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.editing.test_compile import compile_
from tests.editing.test_compile import media as clip_media
from tests.editing.test_edit_plan import media, value_after
from videoapi.editing.plan import plan_transcode
from videoapi.editing.schemas import TranscodeRequest
from videoapi.errors import InvalidRequest
from videoapi.settings import OutputSettings

SRC = Path("/work/in.mp4")
OUT = Path("/work/out")


def transcode(**body: Any) -> TranscodeRequest:
    return msgspec.convert({"input": {"asset_id": "a"}, **body}, TranscodeRequest)


def field_of(exc: pytest.ExceptionInfo[InvalidRequest]) -> str:
    return exc.value.errors[0]["field"]


@pytest.mark.parametrize(
    ("fmt", "codec", "encoder", "pix_fmt", "muxer"),
    [
        ("mp4", "h264", "libx264", "yuv420p", "mp4"),
        ("mp4", "hevc", "libx265", "yuv420p", "mp4"),
        ("mp4", "av1", "libsvtav1", "yuv420p", "mp4"),
        ("mp4", "vp9", "libvpx-vp9", "yuv420p", "mp4"),
        ("webm", "av1", "libsvtav1", "yuv420p", "webm"),
        ("webm", None, "libvpx-vp9", "yuv420p", "webm"),
        ("mov", "prores", "prores_ks", "yuv422p10le", "mov"),
        ("mov", None, "libx264", "yuv420p", "mov"),
    ],
)
def test_each_codec_gets_its_encoder_pixel_format_and_container(
    fmt: str, codec: str | None, encoder: str, pix_fmt: str, muxer: str
) -> None:
    plan = plan_transcode(transcode(format=fmt, codec=codec), media(), SRC, OUT)

    assert value_after(plan.args, "-c:v") == encoder
    assert value_after(plan.args, "-pix_fmt") == pix_fmt
    assert value_after(plan.args, "-f") == muxer
    assert plan.output == OUT / f"output.{fmt}"
    assert plan.expect is not None and plan.expect.pix_fmt == pix_fmt
    assert plan.expect.video_codec == (codec or ("vp9" if fmt == "webm" else "h264"))


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9"])
def test_quality_levels_lower_the_crf_of_every_crf_codec(codec: str) -> None:
    crfs = [
        int(value_after(plan_transcode(transcode(codec=codec, quality=q), media(), SRC, OUT).args, "-crf"))
        for q in ("low", "medium", "high")
    ]

    assert crfs[0] > crfs[1] > crfs[2]


def test_prores_quality_picks_the_profile_lt_standard_hq() -> None:
    profiles = [
        value_after(
            plan_transcode(transcode(format="mov", codec="prores", quality=q), media(), SRC, OUT).args, "-profile:v"
        )
        for q in ("low", "medium", "high")
    ]

    assert profiles == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("fmt", "codec"), [("mp4", "prores"), ("webm", "h264"), ("webm", "hevc"), ("hls", "vp9"), ("gif", "h264")]
)
def test_a_codec_the_format_cannot_hold_is_a_422_naming_codec(fmt: str, codec: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        plan_transcode(transcode(format=fmt, codec=codec), media(), SRC, OUT)

    assert exc.value.code == "codec_unsupported" and field_of(exc) == "codec"


def test_composite_output_codec_is_checked_and_encoded() -> None:
    clip = [{"type": "video", "source": {"asset_id": "a"}}]
    with pytest.raises(InvalidRequest) as exc:
        compile_([clip], {"a": clip_media()}, format="mp4", codec="prores")
    plan = compile_([clip], {"a": clip_media()}, format="mov", codec="prores")

    assert exc.value.code == "codec_unsupported" and field_of(exc) == "output.codec"
    assert value_after(plan.args, "-c:v") == "prores_ks" and plan.output.name == "output.mov"
    assert plan.expect is not None and plan.expect.pix_fmt == "yuv422p10le"


# ---- GIF -----------------------------------------------------------------------------------------


def test_gif_palette_is_made_and_used_in_the_same_pass() -> None:
    plan = plan_transcode(transcode(format="gif", width=320, fps=10, quality="low"), media(duration_s=5), SRC, OUT)

    graph = value_after(plan.args, "-filter_complex")
    assert plan.args.count("-i") == 1
    assert "split[gif_a][gif_b]" in graph and "palettegen=max_colors=64" in graph and "paletteuse=dither=bayer" in graph
    assert "fps=10" in graph and "scale=320:-2" in graph
    assert value_after(plan.args, "-f") == "gif" and "-an" in plan.args
    assert plan.content_type == "image/gif" and plan.poster is None
    assert plan.expect is not None and plan.expect.size == (320, 180) and plan.expect.video_codec == "gif"


def test_gif_takes_the_input_fps_capped_by_the_limit() -> None:
    plan = plan_transcode(
        transcode(format="gif", width=320), media(duration_s=5), SRC, OUT, OutputSettings(gif_max_fps=12)
    )

    assert "fps=12" in value_after(plan.args, "-filter_complex")


@pytest.mark.parametrize(
    ("body", "limits", "field", "setting"),
    [
        ({"width": 800}, OutputSettings(), "width", "gif_max_width"),
        ({"resolution": "1080p"}, OutputSettings(), "resolution", "gif_max_width"),
        ({}, OutputSettings(), "input", "gif_max_width"),  # a 1920x1080 input at its own size
        ({"width": 320, "fps": 30}, OutputSettings(gif_max_fps=25), "fps", "gif_max_fps"),
        ({"width": 320}, OutputSettings(gif_max_duration_s=10), "input", "gif_max_duration_s"),
    ],
)
def test_gif_past_a_limit_is_a_422_naming_the_field_and_setting(
    body: dict[str, Any], limits: OutputSettings, field: str, setting: str
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        plan_transcode(transcode(format="gif", **body), media(duration_s=60), SRC, OUT, limits)

    assert exc.value.code == "limit_exceeded" and field_of(exc) == field and setting in str(exc.value)


# ---- HLS -----------------------------------------------------------------------------------------


def test_hls_ladder_is_one_pass_with_a_split_per_rendition() -> None:
    plan = plan_transcode(transcode(format="hls"), media(1920, 1080), SRC, OUT, OutputSettings(hls_segment_s=6))

    args = plan.args
    graph = value_after(args, "-filter_complex")
    assert args.count("-i") == 1 and "split=3[hls_s0][hls_s1][hls_s2]" in graph
    assert "scale=1920:1080[hls_v0]" in graph and "scale=1280:720[hls_v1]" in graph and "scale=854:480[hls_v2]" in graph
    assert value_after(args, "-var_stream_map") == (
        "v:0,a:0,name:stream_1080p v:1,a:1,name:stream_720p v:2,a:2,name:stream_480p"
    )
    assert value_after(args, "-master_pl_name") == "master.m3u8"
    assert value_after(args, "-hls_segment_type") == "fmp4" and value_after(args, "-hls_time") == "6"
    assert [value_after(args, f"-maxrate:v:{i}") for i in range(3)] == ["6000k", "3000k", "1200k"]
    assert plan.output == OUT / "hls" / "master.m3u8" and plan.content_type == "application/vnd.apple.mpegurl"
    assert plan.expect is not None
    assert [(name, e.size) for name, e in plan.expect.renditions] == [
        ("stream_1080p.m3u8", (1920, 1080)),
        ("stream_720p.m3u8", (1280, 720)),
        ("stream_480p.m3u8", (854, 480)),
    ]


def test_hls_never_upscales_and_a_small_source_gets_one_rendition_at_its_size() -> None:
    portrait = plan_transcode(transcode(format="hls"), media(720, 1280), SRC, OUT)
    tiny = plan_transcode(transcode(format="hls", hls={"ladder": ["720p"]}), media(160, 120, audio=None), SRC, OUT)

    assert portrait.expect is not None and tiny.expect is not None
    assert [e.size for _, e in portrait.expect.renditions] == [(720, 1280), (480, 854)]
    assert [e.size for _, e in tiny.expect.renditions] == [(160, 120)]
    assert value_after(tiny.args, "-var_stream_map") == "v:0,name:stream_120p"  # no audio to map
    assert value_after(tiny.args, "-hls_fmp4_init_filename") == "stream_120p_init.mp4"  # %v: several variants only


def test_hls_ts_segments() -> None:
    plan = plan_transcode(transcode(format="hls", hls={"segments": "ts"}), media(), SRC, OUT)

    assert value_after(plan.args, "-hls_segment_type") == "mpegts" and "-hls_fmp4_init_filename" not in plan.args
    assert value_after(plan.args, "-hls_segment_filename").endswith("%v_%03d.ts")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"format": "hls", "width": 640}, "hls.ladder"), ({"format": "mp4", "hls": {"ladder": ["720p"]}}, "hls")],
)
def test_hls_options_out_of_place_are_a_422(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        plan_transcode(transcode(**body), media(), SRC, OUT)

    assert field_of(exc) == field
