"""Every output codec and the GIF format, really encoded from a tiny clip and probed with PyAV."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import av
import msgspec
import pytest

from tests.support.app import Api
from tests.support.media import ffmpeg, make_video
from videoapi.editing.plan import plan_transcode
from videoapi.editing.schemas import TranscodeRequest
from videoapi.media.probe import probe
from videoapi.outputs.verify import OutputMismatch, verify_output
from videoapi.outputs.watermark import VisibleWatermark, replace_plan
from videoapi.settings import LimitSettings, OutputSettings

pytestmark = pytest.mark.ffmpeg


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s of 160x120 at 25 fps with sound."""
    return make_video(tmp_path_factory.mktemp("codecs") / "tiny.mp4", duration_s=1.0, width=160, height=120)


def _render(src: Path, out_dir: Path, limits: OutputSettings | None = None, **body: Any) -> Path:
    req = msgspec.convert({"input": {"asset_id": "a"}, **body}, TranscodeRequest)
    plan = plan_transcode(req, probe(src, LimitSettings()), src, out_dir, limits)
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg(*plan.args)
    assert plan.expect is not None
    verify_output(plan.output, plan.expect)  # the check every job makes before storing
    return plan.output


@pytest.mark.parametrize(
    ("fmt", "codec", "decoded_as", "pix_fmt"),
    [
        ("mp4", "hevc", "hevc", "yuv420p"),
        ("mp4", "av1", "av1", "yuv420p"),
        ("webm", "av1", "av1", "yuv420p"),
        ("mp4", "vp9", "vp9", "yuv420p"),
        ("mov", "prores", "prores", "yuv422p10le"),
        ("mov", "h264", "h264", "yuv420p"),
    ],
)
def test_each_codec_encodes_a_tiny_clip_that_pyav_decodes(
    tiny: Path, tmp_path: Path, fmt: str, codec: str, decoded_as: str, pix_fmt: str
) -> None:
    out = _render(tiny, tmp_path, format=fmt, codec=codec, quality="low")

    with av.open(str(out)) as c:
        video = c.streams.video[0]
        frames = [f for f in c.decode(video)]
        audio = c.streams.audio[0].codec_context.name
    assert video.codec_context.name in {decoded_as, "libdav1d"}
    assert video.codec_context.pix_fmt == pix_fmt
    assert (frames[0].width, frames[0].height) == (160, 120)
    assert len(frames) == 25
    assert audio == ("opus" if fmt == "webm" else "aac")


def test_av1_encodes_an_odd_multiple_of_two_width(tmp_path: Path) -> None:
    # SVT-AV1 once needed sizes in multiples of 8: a 162x90 output (neither) must still encode at its size.
    src = make_video(tmp_path / "wide.mp4", duration_s=1.0, width=162, height=90, audio=False)

    out = _render(src, tmp_path / "out", format="mp4", codec="av1")

    with av.open(str(out)) as c:
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (162, 90)


def test_verification_refuses_a_pixel_format_other_than_planned(tiny: Path, tmp_path: Path) -> None:
    req = msgspec.convert({"input": {"asset_id": "a"}, "format": "mov", "codec": "prores"}, TranscodeRequest)
    plan = plan_transcode(req, probe(tiny, LimitSettings()), tiny, tmp_path)
    ffmpeg(*plan.args)
    assert plan.expect is not None

    with pytest.raises(OutputMismatch, match="pixel format is yuv422p10le, planned yuv420p"):
        verify_output(plan.output, dataclasses.replace(plan.expect, pix_fmt="yuv420p"))


def test_gif_has_the_planned_frames_rate_and_size(tiny: Path, tmp_path: Path) -> None:
    out = _render(tiny, tmp_path, OutputSettings(gif_max_fps=10), format="gif", width=120)

    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert c.format.name == "gif"
    assert (frames[0].width, frames[0].height) == (120, 90)
    assert len(frames) == 10  # 1 s at the 10 fps cap, not the input's 25
    assert float(frames[1].time - frames[0].time) == pytest.approx(0.1, abs=0.011)


def test_gif_and_prores_through_the_api(api: Api, tiny: Path) -> None:
    asset = api.upload(tiny)
    gif = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, "format": "gif"})
    mov = api.post(
        "/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, "format": "mov", "codec": "prores"}
    )
    refused = api.post(
        "/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, "format": "webm", "codec": "h264"}
    )

    gif_task, mov_task = api.wait(gif.json()["id"]), api.wait(mov.json()["id"])
    assert gif_task["status"] == "succeeded", gif_task
    assert gif_task["result"]["content_type"] == "image/gif"
    assert (gif_task["result"]["width"], gif_task["result"]["height"]) == (160, 120)
    assert mov_task["status"] == "succeeded", mov_task
    assert mov_task["result"]["content_type"] == "video/quicktime"
    assert refused.status_code == 422 and refused.json()["code"] == "codec_unsupported"
    assert refused.json()["errors"][0]["field"] == "codec"


def test_hls_with_one_rendition_names_its_init_segment(tiny: Path, tmp_path: Path) -> None:
    # A 160x120 source is below every rung: one rendition, whose init segment ffmpeg names without `%v`.
    master = _render(tiny, tmp_path, format="hls", hls={"ladder": ["480p", "360p"]})

    assert sorted(p.name for p in master.parent.iterdir()) == [
        "master.m3u8", "stream_120p.m3u8", "stream_120p_000.m4s", "stream_120p_init.mp4",
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["gif", "hls"])
def test_a_visible_watermark_is_drawn_once_before_the_split(tiny: Path, tmp_path: Path, fmt: str) -> None:
    # Trial keys always get a watermark: a GIF or an HLS ladder must take it like any output.
    req = msgspec.convert({"input": {"asset_id": "a"}, "format": fmt}, TranscodeRequest)
    plan = replace_plan(
        plan_transcode(req, probe(tiny, LimitSettings()), tiny, tmp_path), VisibleWatermark(text="TRIAL"), None
    )
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    for path, content in plan.files.items():
        path.write_text(content, encoding="utf-8")

    ffmpeg(*plan.args)

    assert plan.expect is not None
    verify_output(plan.output, plan.expect)
    graph = plan.args[plan.args.index("-filter_complex") + 1]
    assert graph.count("drawtext=") == 1 and graph.index("drawtext=") < graph.index("split")
    assert not (plan.output.parent / "watermark.txt").exists() or fmt == "gif"
