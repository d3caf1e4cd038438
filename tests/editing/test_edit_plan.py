"""The planners are pure: these check the ffmpeg arguments without running ffmpeg."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from videoapi.assets.schemas import InputRef
from videoapi.editing.plan import plan_transcode, plan_trim, transcode_size, trim_ranges
from videoapi.editing.schemas import Segment, TranscodeRequest, TrimRequest
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


# ---- multi-segment trim ---------------------------------------------------------------------


def segments(*ranges: tuple[float, float], **kw: object) -> TrimRequest:
    segs = [{"start_s": s, "end_s": e} for s, e in ranges]
    return msgspec.convert({"input": {"asset_id": "a"}, "segments": segs, **kw}, TrimRequest)


def test_segments_seek_each_range_and_join_them_with_concat() -> None:
    plan = plan_trim(segments((1, 2.5), (10, 12), (30, 30.5)), media(), SRC, OUT)
    args = plan.args
    assert args.count("-i") == 3 and args.count("-protocol_whitelist") == 3
    # -ss and -t are input options: each range is seeked by the demuxer, never decoded from 0.
    opened = [i for i, a in enumerate(args) if a == "-i"]
    assert [args[i - 8 : i - 4] for i in opened] == [
        ["-ss", "1.000000", "-t", "1.500000"],
        ["-ss", "10.000000", "-t", "2.000000"],
        ["-ss", "30.000000", "-t", "0.500000"],
    ]
    assert value_after(args, "-filter_complex") == "[0:v:0][0:a:0][1:v:0][1:a:0][2:v:0][2:a:0]concat=n=3:v=1:a=1[v][a]"
    assert plan.duration_s == pytest.approx(4.0)
    assert value_after(args, "-c:v") == "libx264"


def test_segments_of_a_silent_input_join_video_only() -> None:
    args = plan_trim(segments((0, 1), (2, 3)), media(audio=None), SRC, OUT).args
    assert value_after(args, "-filter_complex") == "[0:v:0][1:v:0]concat=n=2:v=1:a=0[v]"
    assert "[a]" not in args


def test_segments_are_normalised_after_the_join() -> None:
    args = plan_trim(segments((0, 1), (2, 3)), media(width=321, pix_fmt="yuv420p10le"), SRC, OUT).args
    graph = value_after(args, "-filter_complex")
    assert graph.endswith("[joined][a];[joined]scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p[v]")


def test_one_segment_is_the_same_plan_as_start_and_end() -> None:
    assert plan_trim(segments((10, 20)), media(), SRC, OUT) == plan_trim(trim(), media(), SRC, OUT)


def test_segments_to_webm() -> None:
    plan = plan_trim(segments((0, 1), (2, 3), format="webm"), media(), SRC, OUT)
    assert value_after(plan.args, "-c:v") == "libvpx-vp9" and plan.output.suffix == ".webm"


@pytest.mark.parametrize(
    ("ranges", "field", "code"),
    [
        (((0, 1), (2, 3), (3, 3)), "segments[2].end_s", "invalid_range"),  # zero length
        (((0, 1), (2, 3), (5, 4)), "segments[2].end_s", "invalid_range"),  # reversed
        (((0, 1), (2, 3), (10, 61)), "segments[2].end_s", "input_out_of_range"),  # past the end
        (((0, 5), (4, 6)), "segments[1].start_s", "invalid_range"),  # overlapping
        (((10, 20), (0, 5)), "segments[1].start_s", "invalid_range"),  # out of order
    ],
)
def test_bad_segments_name_the_field(ranges: tuple[tuple[float, float], ...], field: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        plan_trim(segments(*ranges), media(), SRC, OUT)
    assert (err.value.code, err.value.errors[0]["field"]) == (code, field)


def test_touching_segments_are_allowed() -> None:
    assert plan_trim(segments((0, 1), (1, 2)), media(), SRC, OUT).duration_s == 2.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_s": 1, "end_s": 2, "segments": [{"start_s": 3, "end_s": 4}]}, "segments"),
        ({}, "segments"),
        ({"start_s": 1}, "end_s"),
        ({"end_s": 1}, "start_s"),
    ],
)
def test_trim_needs_exactly_one_form_of_range(body: dict[str, object], field: str) -> None:
    req = msgspec.convert({"input": {"asset_id": "a"}, **body}, TrimRequest)
    with pytest.raises(InvalidRequest) as err:
        trim_ranges(req, None)
    assert err.value.errors[0]["field"] == field


def test_fast_mode_keeps_one_segment_only() -> None:
    assert plan_trim(segments((10, 20), mode="fast"), media(), SRC, OUT).args.count("copy") == 1
    with pytest.raises(InvalidRequest) as err:
        trim_ranges(segments((0, 1), (2, 3), mode="fast"), None)
    assert err.value.code == "fast_trim_unsupported" and err.value.errors[0]["field"] == "mode"
    assert "accurate" in str(err.value)


def test_segment_count_is_limited_by_max_inputs() -> None:
    many = segments(*[(i, i + 0.5) for i in range(5)])
    assert len(trim_ranges(many, None, max_segments=5)) == 5
    with pytest.raises(InvalidRequest) as err:
        plan_trim(many, media(), SRC, OUT, max_segments=4)
    assert err.value.code == "limit_exceeded" and "editing.max_inputs" in str(err.value)
    assert err.value.errors[0]["field"] == "segments"


def test_empty_segment_list_is_refused_by_the_schema() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.segments"):
        segments()


@pytest.mark.parametrize(
    ("width", "height", "resolution", "size"),
    [
        (None, None, None, (320, 240)),
        (161, None, None, (160, 120)),
        (None, 100, None, (134, 100)),  # 133.3 rounds to the nearest even width
        (200, 200, None, (200, 200)),  # fitted and padded
        (None, None, "720p", (960, 720)),
    ],
)
def test_the_planned_transcode_frame_is_what_the_scale_filter_makes(
    width: int | None, height: int | None, resolution: str | None, size: tuple[int, int]
) -> None:
    req = TranscodeRequest(input=InputRef(asset_id="a"), width=width, height=height, resolution=resolution)  # type: ignore[arg-type]
    plan = plan_transcode(req, media(320, 240), SRC, OUT)
    assert transcode_size(req, media(320, 240)) == size
    assert plan.expect is not None and plan.expect.size == size and plan.expect.video_codec == "h264"


def test_trims_declare_the_output_they_make() -> None:
    fast = plan_trim(trim(mode="fast"), media(), SRC, OUT)
    assert fast.expect is not None and (fast.expect.video_codec, fast.expect.audio_codec) == ("h264", "aac")
    assert fast.expect.size is None  # a copy keeps the coded size, which a rotated input does not display
    odd = plan_trim(trim(mode="reencode"), media(width=321, height=241, codec="vp9", audio=None), SRC, OUT)
    assert odd.expect is not None and odd.expect.size == (320, 240) and odd.expect.video_codec == "h264"
    assert odd.expect.audio_codec is None
    segments = [Segment(start_s=1, end_s=2), Segment(start_s=3, end_s=4)]
    joined = plan_trim(TrimRequest(input=InputRef(asset_id="a"), segments=segments, format="webm"), media(), SRC, OUT)
    assert joined.expect is not None and joined.expect.size == (1920, 1080) and joined.expect.video_codec == "vp9"
