"""Smart trims on real media: the same frames and timestamps as a full re-encode, clean to decode, in sync."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import av
import av.logging
import msgspec
import numpy as np
import pytest

from tests.support.media import make_video
from videoapi.editing.plan import plan_trim
from videoapi.editing.schemas import TrimRequest
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.media.gops import read_index
from videoapi.media.plan import Plan, bounded_args
from videoapi.media.probe import probe
from videoapi.outputs.step import OutputStep
from videoapi.outputs.verify import verify_output
from videoapi.queue.jobs import JobContext
from videoapi.settings import LimitSettings, Settings

pytestmark = pytest.mark.ffmpeg

FPS = 25
LIMITS = LimitSettings()


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s of 320x180 25 fps H.264 (a keyframe every second, B-frames) + AAC."""
    path = tmp_path_factory.mktemp("smart") / "gop.mp4"
    return make_video(path, duration_s=5.0, width=320, height=180, gop_frames=25)


@pytest.fixture(scope="module")
def hevc_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s of 320x180 25 fps HEVC Main (closed GOPs of one second, B-frames, 32-pixel CTUs) + AAC."""
    path = tmp_path_factory.mktemp("smart") / "hevc.mp4"
    return make_video(path, duration_s=5.0, width=320, height=180, codec="libx265", gop_frames=25)


def render(src: Path, out_dir: Path, **body: object) -> Plan:
    """Plan a trim as the worker does (with the GOP index) and run every pass of it."""
    req = msgspec.convert({"input": {"asset_id": "a"}, **body}, TrimRequest)
    out_dir.mkdir()
    plan = plan_trim(req, probe(src, LIMITS), src, out_dir, index=read_index(src, LIMITS))
    for path, content in plan.files.items():
        path.write_text(content, encoding="utf-8")
    for args in [*plan.passes, bounded_args(plan)]:
        asyncio.run(run_ffmpeg(args, duration_s=None, timeout_s=60))
    if plan.expect is not None:
        verify_output(plan.output, plan.expect)
    return plan


def frames(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """Every frame's time and luma, decoded by PyAV; fails on any decoder error message."""
    times, lumas = [], []
    with av.logging.Capture() as logs, av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            times.append(round(float(frame.pts * stream.time_base), 4))
            lumas.append(frame.to_ndarray(format="gray").astype(np.float64))
    errors = [entry for entry in logs if entry[0] <= av.logging.ERROR]
    assert errors == [], errors
    return times, lumas


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def codec_of(path: Path) -> str:
    with av.open(str(path)) as c:
        return c.streams.video[0].codec_context.name


def audio_span(path: Path) -> tuple[float, float]:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        packets = [p for p in c.demux(stream) if p.pts is not None]
        start = float(packets[0].pts * stream.time_base)
        end = max(float((p.pts + p.duration) * stream.time_base) for p in packets)
    return start, end


@pytest.mark.parametrize("clip", ["gop_clip", "hevc_clip"])
@pytest.mark.parametrize(
    "body",
    [
        {"start_s": 0.6, "end_s": 3.4},
        # The output starts with copied source packets: the source's audio must not shift the video.
        {"start_s": 1.0, "end_s": 3.4},
        {"segments": [{"start_s": 0.2, "end_s": 2.4}, {"start_s": 2.8, "end_s": 5.0}]},
    ],
    ids=["one-range", "starts-on-a-keyframe", "segments"],
)
def test_smart_trim_matches_the_full_re_encode_and_the_source(
    clip: str, tmp_path: Path, body: dict, request: pytest.FixtureRequest
) -> None:
    # Quality `high` encodes the pieces with x264's medium preset (x265's fast one, 64-pixel CTUs), the
    # source is veryfast (32-pixel CTUs): the joined stream switches between different parameter sets,
    # which must all travel in-band (decoded with the first file's, a copied HEVC GOP is noise).
    gop_clip: Path = request.getfixturevalue(clip)
    smart = render(gop_clip, tmp_path / "smart", **body, quality="high")
    full = render(gop_clip, tmp_path / "full", **body, quality="high", mode="reencode")
    assert smart.render is not None and smart.render["method"] == "smart", smart.render
    assert smart.render["copied_s"] >= 1.0 and smart.render["encoded_s"] > 0
    assert full.render is not None and full.render["method"] == "full"
    # A trim keeps the input's codec, smart or not.
    codec = "hevc" if clip == "hevc_clip" else "h264"
    assert codec_of(smart.output) == codec_of(full.output) == codec

    smart_times, smart_frames = frames(smart.output)
    full_times, _ = frames(full.output)
    assert smart_times == full_times

    # Every output frame is the source frame it stands for, at the cuts and in the copied GOPs.
    src_times, src_frames = frames(gop_clip)
    by_time = dict(zip(src_times, src_frames, strict=True))
    ranges = [(s["start_s"], s["end_s"]) for s in body.get("segments", [body])]
    wanted = [t for start, end in ranges for t in src_times if start - 1e-6 <= t < end - 1e-6]
    assert len(wanted) == len(smart_frames)
    worst = min(psnr(frame, by_time[t]) for frame, t in zip(smart_frames, wanted, strict=True))
    assert worst >= 35, worst

    # The audio covers the video from 0 to its end, within one frame.
    start, end = audio_span(smart.output)
    video_end = smart_times[-1] + 1 / FPS
    assert abs(start) <= 1 / FPS and abs(end - video_end) <= 1 / FPS


def test_an_mkv_input_is_re_encoded_and_says_why(gop_clip: Path, tmp_path: Path) -> None:
    mkv = make_video(tmp_path / "gop.mkv", duration_s=3.0, width=320, height=180, gop_frames=25)
    plan = render(mkv, tmp_path / "out", start_s=0.4, end_s=2.6)
    assert plan.render is not None and plan.render["method"] == "full"
    assert "MP4/MOV inputs only" in plan.render["reason"]
    times, _ = frames(plan.output)
    assert len(times) == round(2.2 * FPS)


def test_a_smart_render_that_does_not_verify_falls_back_to_the_full_re_encode(
    gop_clip: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    # A copied stretch the concat demuxer ends early (as an audio packet past the outpoint, read before
    # the last video packets, would make it do): the output is short, and the full re-encode replaces it.
    req = msgspec.convert({"input": {"asset_id": "a"}, "start_s": 0.6, "end_s": 3.4}, TrimRequest)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    plan = plan_trim(req, probe(gop_clip, LIMITS), gop_clip, out_dir, index=read_index(gop_clip, LIMITS))
    [(listing, text)] = plan.files.items()
    broken = dataclasses.replace(plan, files={listing: text.replace("outpoint 2.920000", "outpoint 2.000000")})
    step = OutputStep(make_settings(), assets=None, policies=None)  # type: ignore[arg-type]
    ctx = JobContext(task=SimpleNamespace(id="t"), work_dir=tmp_path, time_limit_s=60)  # type: ignore[arg-type]
    rendered = asyncio.run(step.run_plan(ctx, broken, None))
    assert rendered.render is not None and rendered.render["method"] == "full"
    assert "output_mismatch" in rendered.render["reason"]
    times, _ = frames(rendered.output)
    assert len(times) == round(2.8 * FPS)


def test_an_hevc_mkv_input_is_re_encoded_in_hevc_and_says_why(tmp_path: Path) -> None:
    mkv = make_video(tmp_path / "hevc.mkv", duration_s=3.0, width=320, height=180, codec="libx265", gop_frames=25)
    plan = render(mkv, tmp_path / "out", start_s=0.4, end_s=2.6)
    assert plan.render is not None and plan.render["method"] == "full"
    assert "MP4/MOV inputs only" in plan.render["reason"]
    times, _ = frames(plan.output)
    assert len(times) == round(2.2 * FPS) and codec_of(plan.output) == "hevc"


def test_open_hevc_gops_are_re_encoded_not_copied_and_it_says_why(tmp_path: Path) -> None:
    # x265's default: every keyframe after the first is a CRA whose leading pictures are shown before
    # it and reference the GOP before. Copied from its DTS, a GOP would lose them (4 frames of 70).
    src = make_video(
        tmp_path / "open.mp4", duration_s=5.0, width=320, height=180, codec="libx265", gop_frames=25, open_gop=True
    )
    index = read_index(src, LIMITS)
    assert index is not None and len(index.keyframes) == 1 and index.open_keyframes == 4
    plan = render(src, tmp_path / "out", start_s=0.6, end_s=3.4)
    assert plan.render is not None and plan.render["method"] == "full"
    assert "4 of the input's keyframes open a GOP" in plan.render["reason"]
    times, _ = frames(plan.output)
    assert times == [round(n / FPS, 4) for n in range(round(2.8 * FPS))]


def test_the_index_of_an_hevc_input_has_its_profile_level_tier_and_closed_gops(hevc_clip: Path) -> None:
    index = read_index(hevc_clip, LIMITS)
    assert index is not None and (index.codec, index.profile, index.high_tier) == ("hevc", "Main", False)
    # general_level_idc: 30 times the level x265 chose for 320x180 at 25 fps (2.0).
    assert index.level == 60
    assert [k.pts_s for k in index.keyframes] == [0.0, 1.0, 2.0, 3.0, 4.0] and index.open_keyframes == 0
