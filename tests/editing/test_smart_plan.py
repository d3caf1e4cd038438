"""Smart trim planning, without ffmpeg: where it cuts, what it copies, and why it falls back."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import msgspec
import pytest

from videoapi.editing.plan import plan_trim
from videoapi.editing.schemas import TrimRequest
from videoapi.editing.smart import cut_pieces, piece_encode_args, plan_smart_trim, snap
from videoapi.media.gops import Keyframe, StreamIndex, clean_keyframes, frame_grid
from videoapi.media.probe import AudioInfo, MediaInfo, VideoInfo
from videoapi.outputs.watermark import VisibleWatermark

FRAME = 0.04


def index(duration_s: float = 6.0, gop_s: float = 1.0, **changes: object) -> StreamIndex:
    """25 fps H.264 High in MP4, a clean keyframe every `gop_s`, B-frames delaying DTS by two frames."""
    keys = tuple(Keyframe(t * gop_s, t * gop_s - 2 * FRAME) for t in range(round(duration_s / gop_s)))
    base = StreamIndex(
        container="mov,mp4,m4a,3gp,3g2,mj2", codec="h264", profile="High", level=30, width=320, height=180,
        pix_fmt="yuv420p", sar=Fraction(1), color={"-colorspace": "bt709"}, time_base=Fraction(1, 12800),
        frame_s=FRAME, end_s=duration_s, origin_s=0.0, lead_s=0.0, keyframes=keys,
    )  # fmt: skip
    return StreamIndex(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def hevc_index(**changes: object) -> StreamIndex:
    """The same stream coded as HEVC Main, level 3.1 (general_level_idc 93)."""
    return index(**{"codec": "hevc", "profile": "Main", "level": 93, **changes})


def media(codec: str = "h264", rotation: int = 0, audio: bool = True) -> MediaInfo:
    video = VideoInfo(codec=codec, width=320, height=180, fps=25.0, rotation=rotation, pix_fmt="yuv420p", bit_depth=8)
    sound = AudioInfo(codec="aac", sample_rate=48000, channels=1) if audio else None
    return MediaInfo(
        format_name="mov,mp4", duration_s=6.0, size_bytes=1, bit_rate=None, video=video, audio=sound, is_image=False
    )


def trim(**body: object) -> TrimRequest:
    return msgspec.convert({"input": {"asset_id": "a"}, **body}, TrimRequest)


def test_a_range_is_a_head_the_whole_gops_and_a_tail() -> None:
    [pieces] = cut_pieces([(1.2, 4.6)], index())
    assert [(p.start_s, p.end_s, p.copy) for p in pieces] == [
        (1.2, 2.0, False),
        (2.0, 4.0, True),
        (pytest.approx(4.0), pytest.approx(4.6), False),
    ]
    # The concat demuxer cuts on DTS: the copy ends before the DTS of the keyframe at 4 s.
    assert pieces[1].outpoint_s == pytest.approx(4.0 - 2 * FRAME)


def test_cuts_on_keyframes_encode_nothing_and_the_end_of_the_stream_closes_a_gop() -> None:
    [pieces] = cut_pieces([(2.0, 6.0)], index())
    assert [(p.start_s, p.end_s, p.copy, p.outpoint_s) for p in pieces] == [(2.0, 6.0, True, None)]


def test_a_range_inside_one_gop_is_encoded_whole() -> None:
    [pieces] = cut_pieces([(1.1, 1.9)], index())
    assert [(p.copy, p.start_s, p.end_s) for p in pieces] == [(False, pytest.approx(1.12), pytest.approx(1.92))]


def test_cut_times_round_up_to_the_frame_grid() -> None:
    assert snap(1.30, FRAME) == pytest.approx(1.32)
    assert snap(1.32, FRAME) == pytest.approx(1.32)
    assert snap(1.3200001, FRAME) == pytest.approx(1.32)


def test_open_gop_keyframes_are_no_place_to_cut() -> None:
    tb = Fraction(1, 25)
    # Decoding order; the keyframe at 6 has leading B-frames shown before it (an open GOP).
    packets = [(0, -2, True), (3, -1, False), (1, 0, False), (2, 1, False), (6, 2, True), (4, 3, False), (5, 4, False)]
    assert clean_keyframes(packets, tb) == [Keyframe(0.0, -0.08)]


def test_frame_grid_allows_one_tick_of_rounding_but_not_a_variable_rate() -> None:
    assert frame_grid([0, 40, 80, 120], Fraction(1, 1000)) == pytest.approx(0.04)
    assert frame_grid([0, 33, 67, 100], Fraction(1, 1000)) == pytest.approx(1 / 30, abs=1e-3)
    assert frame_grid([0, 40, 120, 160], Fraction(1, 1000)) is None


def test_smart_plan_encodes_pieces_then_joins_them_with_the_source_gops(tmp_path: Path) -> None:
    plan = plan_trim(trim(start_s=1.2, end_s=4.6), media(), Path("/in/src.mp4"), tmp_path, index=index())
    assert plan.render == {"method": "smart", "copied_s": 2.0, "encoded_s": 1.4, "reason": None}
    [encode] = plan.passes
    assert encode.count("libx264") == 2 and "-profile:v" in encode and "bt709" in encode
    assert plan.args[plan.args.index("-c:v") + 1] == "copy"
    [listing] = plan.files.values()
    assert listing.splitlines()[1:] == [
        f"file '{tmp_path / 'piece0.mp4'}'",
        "duration 0.800000",
        "file '/in/src.mp4'",
        "inpoint 2.000000",
        "outpoint 3.920000",
        "duration 2.000000",
        f"file '{tmp_path / 'piece1.mp4'}'",
        "duration 0.600000",
    ]
    assert plan.duration_s == pytest.approx(3.4)


def test_segments_join_every_range_and_their_audio(tmp_path: Path) -> None:
    req = trim(segments=[{"start_s": 0.0, "end_s": 2.5}, {"start_s": 3.0, "end_s": 6.0}])
    plan = plan_trim(req, media(), Path("/in/src.mp4"), tmp_path, index=index())
    assert plan.render is not None and plan.render["copied_s"] == pytest.approx(5.0)
    graph = plan.args[plan.args.index("-filter_complex") + 1]
    assert graph == "[1:a:0][2:a:0]concat=n=2:v=0:a=1[a]"


@pytest.mark.parametrize(("cpus", "threads"), [(2, "1"), (16, "8"), (1, "1")])
def test_the_pieces_encoders_share_the_cores_out(cpus: int, threads: str, tmp_path: Path) -> None:
    """A head and a tail piece encode side by side in pass 1: each x264 gets its share of the cores."""
    req = trim(start_s=0.5, end_s=4.5)
    plan = plan_smart_trim(req, media(), index(), Path("/in/src.mp4"), tmp_path, [(0.5, 4.5)], cpus)
    assert plan is not None and plan.passes is not None
    encode = plan.passes[0]
    given = [encode[i + 1] for i, arg in enumerate(encode) if arg == "-threads"]
    assert given == [threads, threads]  # one per piece, none for the poster


def test_piece_encoder_keeps_the_source_profile_level_and_time_base() -> None:
    args = piece_encode_args(index(profile="Main", level=31), "medium")
    assert args[args.index("-profile:v") + 1] == "main"
    assert args[args.index("-level") + 1] == "3.1"
    assert args[args.index("-video_track_timescale") + 1] == "12800"


def test_an_hevc_plan_copies_each_stretch_with_its_parameter_sets_then_joins_only_written_files(
    tmp_path: Path,
) -> None:
    plan = plan_trim(trim(start_s=1.2, end_s=4.6), media("hevc"), Path("/in/src.mp4"), tmp_path, index=hevc_index())
    assert plan.render == {"method": "smart", "copied_s": 2.0, "encoded_s": 1.4, "reason": None}
    [encode] = plan.passes
    assert encode.count("libx265") == 2
    # The copied GOPs: read from a one-entry concat list, the source's hvcC sets put before each IRAP.
    copy_list = tmp_path / "copy0.ffconcat"
    assert plan.files[copy_list].splitlines()[1:] == [
        "file '/in/src.mp4'",
        "inpoint 2.000000",
        "outpoint 3.920000",
        "duration 2.000000",
    ]
    copy = encode.index(str(copy_list))
    assert encode[copy:].index("hevc_mp4toannexb") < encode[copy:].index(str(tmp_path / "copy0.mp4"))
    assert encode.count("hev1") == 3
    assert plan.files[tmp_path / "pieces.ffconcat"].splitlines()[1:] == [
        f"file '{tmp_path / 'piece0.mp4'}'",
        "duration 0.800000",
        f"file '{tmp_path / 'copy0.mp4'}'",
        "duration 2.000000",
        f"file '{tmp_path / 'piece1.mp4'}'",
        "duration 0.600000",
    ]
    assert plan.args[plan.args.index("-c:v") + 1] == "copy" and plan.args[plan.args.index("-tag:v") + 1] == "hev1"
    assert plan.expect is not None and plan.expect.video_codec == "hevc"
    assert plan.fallback is not None and "libx265" in plan.fallback.args


def test_hevc_pieces_keep_the_source_profile_level_tier_and_carry_their_parameter_sets() -> None:
    args = piece_encode_args(hevc_index(level=123, high_tier=True), "high")
    assert args[args.index("-c:v") + 1] == "libx265" and args[args.index("-profile:v") + 1] == "main"
    params = args[args.index("-x265-params") + 1].split(":")
    assert {"repeat-headers=1", "level-idc=4.1", "high-tier=1"} <= set(params)
    assert args[args.index("-tag:v") + 1] == "hev1"
    assert args[args.index("-video_track_timescale") + 1] == "12800"
    main_tier = piece_encode_args(hevc_index(level=93), "high")
    assert "level-idc=3.1:high-tier=0" in main_tier[main_tier.index("-x265-params") + 1]


@pytest.mark.parametrize(("fmt", "codec", "encoder"), [("mp4", "hevc", "libx265"), ("webm", "hevc", "libvpx-vp9")])
def test_a_full_re_encode_keeps_an_hevc_input_in_hevc_where_the_format_holds_it(
    fmt: str, codec: str, encoder: str, tmp_path: Path
) -> None:
    req = trim(start_s=1, end_s=4, mode="reencode", format=fmt)
    plan = plan_trim(req, media(codec), Path("/in/src.mp4"), tmp_path, index=hevc_index())
    assert plan.args[plan.args.index("-c:v") + 1] == encoder


@pytest.mark.parametrize(
    ("req", "info", "idx", "reason"),
    [
        (trim(start_s=1, end_s=4, mode="reencode"), media(), index(), "mode `reencode`"),
        (trim(start_s=1, end_s=4, watermark=VisibleWatermark(text="x")), media(), index(), "watermark"),
        (trim(start_s=1, end_s=4, format="webm"), media(), index(), "format webm"),
        (trim(start_s=1, end_s=4), media(), None, "not indexed"),
        (trim(start_s=1, end_s=4), media(), index(codec="vp9"), "H.264 and HEVC only"),
        (trim(start_s=1, end_s=4), media(), index(container="matroska,webm"), "MP4/MOV inputs only"),
        (trim(start_s=1, end_s=4), media(), index(profile="High 10"), "profile High 10"),
        (trim(start_s=1, end_s=4), media(), index(pix_fmt="yuv422p"), "pixel format"),
        (trim(start_s=1, end_s=4), media("hevc"), hevc_index(profile="Main 10"), "HEVC profile Main 10"),
        (trim(start_s=1, end_s=4), media("hevc"), hevc_index(pix_fmt="yuv420p10le"), "pixel format"),
        (trim(start_s=1, end_s=4), media(), index(width=321), "odd frame size"),
        (trim(start_s=1, end_s=4), media(rotation=90), index(), "rotated"),
        (trim(start_s=1, end_s=4), media(), index(frame_s=None), "variable frame rate"),
        (trim(start_s=1, end_s=4), media(), index(lead_s=0.5), "starts after"),
        (trim(start_s=1.1, end_s=1.9), media(), index(), "no whole GOP"),
        # An open-GOP HEVC source (x265's default): only its first keyframe is a place to cut.
        (
            trim(start_s=1.2, end_s=4.6),
            media("hevc"),
            hevc_index(keyframes=index().keyframes[:1], open_keyframes=5),
            "5 of the input's keyframes open a GOP",
        ),
    ],
)
def test_anything_that_does_not_fit_falls_back_to_a_full_re_encode_and_says_why(
    req: TrimRequest, info: MediaInfo, idx: StreamIndex | None, reason: str, tmp_path: Path
) -> None:
    plan = plan_trim(req, info, Path("/in/src.mp4"), tmp_path, index=idx)
    assert plan.passes == []
    assert plan.render is not None and plan.render["method"] == "full"
    assert reason in plan.render["reason"]
    assert plan.render["encoded_s"] == pytest.approx(plan.duration_s)


def test_a_fast_trim_reports_no_render(tmp_path: Path) -> None:
    plan = plan_trim(trim(start_s=1, end_s=4, mode="fast"), media(), Path("/in/src.mp4"), tmp_path, index=index())
    assert plan.render is None and plan.passes == []
