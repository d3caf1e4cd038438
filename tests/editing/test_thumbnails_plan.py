"""The thumbnails planner is pure: every image from one ffmpeg pass, checked without running ffmpeg."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from videoapi.editing.kinds import Source
from videoapi.editing.thumbnails import (
    MAX_DECODERS,
    POSTER_CANDIDATES,
    ThumbnailsRequest,
    check_thumbnails,
    plan_thumbnails,
    seek_groups,
)
from videoapi.errors import InvalidRequest
from videoapi.media.probe import MediaInfo, VideoInfo
from videoapi.settings import Settings

SRC = Path("/work/in.mp4")
OUT = Path("/work/out")


def media(width: int = 1280, height: int = 720, duration_s: float = 10.0, fps: float | None = 25.0) -> MediaInfo:
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=duration_s,
        size_bytes=1000,
        bit_rate=1000,
        video=VideoInfo(codec="h264", width=width, height=height, fps=fps, rotation=0, pix_fmt="yuv420p", bit_depth=8),
        audio=None,
        is_image=False,
    )


def request(**kw: Any) -> ThumbnailsRequest:
    return msgspec.convert({"input": {"asset_id": "a"}, **kw}, ThumbnailsRequest)


def plan(req: ThumbnailsRequest, info: MediaInfo | None = None, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    return plan_thumbnails(req, [Source(SRC, info or media())], OUT, settings or Settings())


def seeks(args: list[str]) -> list[float]:
    """The -ss of each input, in input order."""
    return [float(args[i + 1]) for i, a in enumerate(args) if a == "-ss"]


def graph(args: list[str]) -> str:
    return args[args.index("-filter_complex") + 1]


def frame_times(args: list[str]) -> list[float]:
    """The time of each grabbed frame: its input's seek, or its branch's trim start in a single pass."""
    return seeks(args) or [float(t) for t in re.findall(r"trim=start=([0-9.]+)", graph(args))]


def outputs(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "image2"]


def problem(call: Callable[[], object]) -> tuple[str, dict[str, Any]]:
    with pytest.raises(InvalidRequest) as info:
        call()
    return info.value.code, info.value.errors[0]


def test_close_frames_come_from_one_decode_split_into_branches() -> None:
    p = plan(request(mode="frames", count=4))  # 2.5 s apart in a 10 s video
    assert p.args.count("-i") == 1 and seeks(p.args) == []
    assert graph(p.args).startswith("[0:v:0]split=4[s0][s1][s2][s3];")
    assert "[s2]trim=start=6.250000,trim=end_frame=1,setpts=PTS-STARTPTS,scale=1280:-2[o2]" in graph(p.args)


def test_far_apart_frames_are_each_seeked_in_their_own_input() -> None:
    p = plan(request(mode="frames", count=4), media(duration_s=3600))  # 15 minutes apart
    assert seeks(p.args) == [450, 1350, 2250, 3150]
    assert p.args.count("-i") == 4 and "split" not in graph(p.args)
    assert "[3:v:0]trim=end_frame=1,setpts=PTS-STARTPTS,scale=1280:-2[o3]" in graph(p.args)
    # Every input is opened with the whitelists, after its own seek.
    for i, a in enumerate(p.args):
        if a == "-ss":
            assert p.args[i + 2 : i + 4] == ["-protocol_whitelist", "file,pipe"]
    assert p.args.count("-protocol_whitelist") == 4


def test_default_poster_is_the_most_representative_of_evenly_spaced_frames() -> None:
    for info in (media(), media(duration_s=3600)):
        p = plan(request(), info)
        expected = [info.duration_s * (i + 0.5) / POSTER_CANDIDATES for i in range(POSTER_CANDIDATES)]
        assert frame_times(p.args) == pytest.approx(expected)
        n = POSTER_CANDIDATES
        assert graph(p.args).endswith(f"concat=n={n}:v=1:a=0,thumbnail=n={n},scale=1280:-2[o0]")
        assert outputs(p.args) == [str(OUT / "thumbnail.jpg")]
        assert p.output == OUT / "thumbnail.jpg" and p.content_type == "image/jpeg"
        assert p.poster is None and p.extra_outputs == []


def test_poster_at_a_time_and_the_end_means_the_last_frame() -> None:
    p = plan(request(time_s=4.2, format="png", width=321))
    assert frame_times(p.args) == [4.2]
    assert graph(p.args).endswith("trim=end_frame=1,setpts=PTS-STARTPTS,scale=320:-2[o0]")
    assert p.output == OUT / "thumbnail.png" and p.content_type == "image/png"
    assert frame_times(plan(request(time_s=10.0)).args) == [pytest.approx(10.0 - 1 / 25)]


def test_frames_at_times_are_one_output_each_in_order() -> None:
    p = plan(request(mode="frames", times_s=[3, 1, 9.5], format="webp", width=160))
    assert frame_times(p.args) == [3, 1, 9.5]
    assert outputs(p.args) == [str(OUT / f"frame-{i:03d}.webp") for i in range(3)]
    assert p.output == OUT / "frame-000.webp"
    assert p.extra_outputs == [(OUT / "frame-001.webp", "image/webp"), (OUT / "frame-002.webp", "image/webp")]
    assert p.args.count("libwebp") == 3
    maps = [p.args[i + 1] for i, a in enumerate(p.args) if a == "-map"]
    assert maps == ["[o0]", "[o1]", "[o2]"]


def test_count_frames_are_the_middles_of_equal_parts() -> None:
    assert frame_times(plan(request(mode="frames", count=4)).args) == [1.25, 3.75, 6.25, 8.75]


def test_contact_sheet_tiles_evenly_spaced_frames_on_a_grid() -> None:
    p = plan(request(mode="contact_sheet", rows=2, columns=3, width=200), media(width=1920, height=1080))
    assert frame_times(p.args) == pytest.approx([10 * (i + 0.5) / 6 for i in range(6)])
    g = graph(p.args)
    assert g.count("scale=200:112,setsar=1") == 6
    assert g.endswith("[t0][t1][t2][t3][t4][t5]xstack=inputs=6:grid=3x2[o0]")
    assert outputs(p.args) == [str(OUT / "contact-sheet.jpg")] and p.extra_outputs == []
    assert p.files == {}


def test_contact_sheet_labels_come_from_files_the_plan_writes() -> None:
    p = plan(request(mode="contact_sheet", rows=1, columns=2, timestamps=True), media(duration_s=130))
    labels = {path.name: text for path, text in p.files.items()}
    assert labels == {"label-000.txt": "0:32.5", "label-001.txt": "1:37.5"}
    assert graph(p.args).count("drawtext=fontfile=") == 2 and "textfile=" in graph(p.args)
    assert "expansion=none" in graph(p.args)


def test_one_tile_sheet_needs_no_stacking() -> None:
    p = plan(request(mode="contact_sheet", rows=1, columns=1))
    assert "xstack" not in graph(p.args) and graph(p.args).endswith("[o0]")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"time_s": 10.5}, "time_s"),
        ({"mode": "frames", "times_s": [1, 2, 10.2]}, "times_s[2]"),
    ],
)
def test_a_time_past_the_end_names_the_field_and_index(kw: dict[str, Any], field: str) -> None:
    code, error = problem(lambda: plan(request(**kw)))
    assert code == "input_out_of_range" and error["field"] == field


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"times_s": [1.0]}, "times_s"),
        ({"mode": "frames", "time_s": 1.0, "count": 2}, "time_s"),
        ({"mode": "frames"}, "times_s"),
        ({"mode": "frames", "times_s": [1.0], "count": 2}, "times_s"),
        ({"mode": "contact_sheet", "count": 4}, "count"),
        ({"rows": 2}, "rows"),
        ({"mode": "frames", "count": 2, "timestamps": True}, "timestamps"),
    ],
)
def test_options_of_another_mode_are_refused(kw: dict[str, Any], field: str) -> None:
    req = request(**kw)
    for call in (lambda: plan(req), lambda: check_thumbnails(req, Settings())):
        code, error = problem(call)
        assert (code, error["field"]) == ("invalid_request", field)


def test_a_sheet_over_the_output_limits_names_the_setting() -> None:
    settings = Settings(editing=msgspec.structs.replace(Settings().editing, max_output_width=1000))
    code, error = problem(lambda: plan(request(mode="contact_sheet", columns=4, width=300), settings=settings))
    assert code == "limit_exceeded" and error["field"] == "columns"
    assert "editing.max_output_width" in error["message"]


def test_an_image_input_has_no_thumbnails() -> None:
    still = msgspec.structs.replace(media(duration_s=0.0, fps=None), is_image=True)
    assert problem(lambda: plan(request(), still))[0] == "input_not_video"


def test_many_far_apart_frames_share_at_most_max_decoders_inputs() -> None:
    p = plan(request(mode="frames", times_s=[float(t) for t in range(3000, 0, -30)]), media(duration_s=3600))
    assert p.args.count("-i") == MAX_DECODERS
    assert len(outputs(p.args)) == 100
    # Output 0 is the frame at 3000 s: the last input seeks to the first time of its run, and trims to 3000 s.
    last_seek = seeks(p.args)[-1]
    head = re.search(rf"\[g{MAX_DECODERS - 1}_(\d+)\]trim=start=([0-9.]+),[^;]*\[o0\]", graph(p.args))
    assert head is not None and last_seek + float(head.group(2)) == pytest.approx(3000)
    # Equal gaps: equal shares.
    assert [len(g) for g in seek_groups([float(t) for t in range(100)], 10)] == [10] * 10
    # Clusters: one run per cluster, whatever the order asked.
    assert seek_groups([500.0, 1.0, 501.0, 2.0, 900.0], 3) == [[1, 3], [0, 2], [4]]
