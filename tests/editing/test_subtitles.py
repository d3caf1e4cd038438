"""edit/subtitles end to end: burn-in that shows only while a cue is on screen, real CJK glyphs,
soft tracks with the right codec and language, and bad input refused with the field that is wrong."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import av
import msgspec
import numpy as np
import pytest

from tests.support.app import Api, assert_problem
from tests.support.media import ffmpeg
from videoapi.editing.captions import WORD_JOINER
from videoapi.editing.kinds import Source
from videoapi.editing.subtitles import SubtitlesRequest, pick_font, plan_subtitles
from videoapi.media.ffmpeg import FFMPEG
from videoapi.media.probe import probe
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

FPS = 25
BACKGROUND = (64, 96, 128)


@pytest.fixture(scope="module")
def plain_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of one flat colour (so any drawn pixel stands out) at 320x240, H.264 + AAC."""
    path = tmp_path_factory.mktemp("subs") / "plain.mp4"
    colour = "0x{:02x}{:02x}{:02x}".format(*BACKGROUND)
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c={colour}:s=320x240:r={FPS}:d=3",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
        "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return path


def run(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post("/v1/video/edit/subtitles", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    return task


def frames(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def frame_at(decoded: list[tuple[float, np.ndarray]], t: float) -> np.ndarray:
    return min(decoded, key=lambda item: abs(item[0] - t))[1]


def changed(frame: np.ndarray, rows: slice) -> int:
    """Pixels in `rows` that differ clearly from the flat background."""
    diff = np.abs(frame[rows].astype(int) - np.array(BACKGROUND)).max(axis=2)
    return int((diff > 40).sum())


def test_burned_subtitle_changes_pixels_in_its_box_only_while_on_screen(
    api: Api, plain_clip: Path, tmp_path: Path
) -> None:
    # Filtergraph metacharacters and an ASS override block in the text: shown, never obeyed.
    text = "It's 50%: a, b; [c] \\\\ {\\pos(10,10)\\fs90}"
    srt = f"1\n00:00:01,000 --> 00:00:02,000\n{text}\n"
    asset = api.upload(plain_clip)
    task = run(api, {"input": {"asset_id": asset["id"]}, "srt": srt, "style": {"size": 20}})
    result = task["result"]
    assert (result["width"], result["height"]) == (320, 240)
    assert result["video_codec"] == "h264" and result["audio_codec"] == "aac"
    assert abs(result["duration"] - 3.0) <= 1 / FPS + 0.03
    out = api.download(result["url"], tmp_path / "burned.mp4")
    decoded = frames(out)
    bottom, top = slice(160, 240), slice(0, 150)
    assert changed(frame_at(decoded, 0.5), bottom) == 0
    assert changed(frame_at(decoded, 1.5), bottom) > 300  # the cue is on screen, in the bottom band
    assert changed(frame_at(decoded, 1.5), top) == 0  # and nowhere else: \pos did not move it
    assert changed(frame_at(decoded, 2.5), bottom) == 0
    # The cue is on screen for exactly its time, to the frame.
    on = [t for t, f in decoded if changed(f, bottom) > 100]
    assert on[0] == pytest.approx(1.0, abs=1e-6) and on[-1] == pytest.approx(2.0 - 1 / FPS, abs=1e-6)


def ink(frame: np.ndarray) -> np.ndarray:
    """Where white glyph pixels are."""
    return frame.min(axis=2) > 200


def test_chinese_japanese_and_korean_cues_render_real_glyphs(api: Api, plain_clip: Path, tmp_path: Path) -> None:
    # Two different characters of each script. A font without CJK draws every one as the same
    # "tofu" box, so two different characters rendering differently proves real glyphs.
    pairs = [("中", "国"), ("ひ", "ら"), ("한", "국")]
    segments = [
        {"start_s": i * 0.5, "end_s": (i + 1) * 0.5, "text": ch}
        for i, ch in enumerate(c for pair in pairs for c in pair)
    ]
    asset = api.upload(plain_clip)
    body = {"input": {"asset_id": asset["id"]}, "segments": segments}
    task = run(api, {**body, "style": {"size": 150, "position": "middle", "outline_width": 0}})
    decoded = frames(api.download(task["result"]["url"], tmp_path / "cjk.mp4"))
    for i, _ in enumerate(pairs):
        first, first_again, second = (ink(frame_at(decoded, t)) for t in (i + 0.1, i + 0.4, i + 0.75))
        assert first.sum() > 400 and second.sum() > 400  # a glyph of ~150 px was drawn
        assert (first ^ first_again).sum() < 0.02 * first.sum()  # the same character renders the same
        assert (first ^ second).sum() > 0.3 * max(first.sum(), second.sum()), pairs[i]


def test_libass_opens_exactly_the_font_the_planner_resolved(plain_clip: Path, tmp_path: Path) -> None:
    # resolve_font reads the system's fontconfig; the static ffmpeg's libass has its own fontconfig.
    settings = Settings()
    for language, text in (("jpn", "日本語"), ("kor", "한국어"), ("und", "plain latin")):
        req = msgspec.convert(
            {"input": {"asset_id": "a"}, "segments": [{"start_s": 0, "end_s": 1, "text": text}], "language": language},
            SubtitlesRequest,
        )
        plan = plan_subtitles(req, [Source(plain_clip, probe(plain_clip, settings.limits))], tmp_path, settings)
        for path, content in plan.files.items():
            path.write_text(content, encoding="utf-8")
        vf = plan.args[plan.args.index("-vf") + 1]
        log = subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "verbose", "-i", str(plain_clip), "-vf", vf, "-frames:v", "1",
             "-f", "null", "-"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stderr  # fmt: skip
        chosen = re.search(r"fontselect: \((.+?), \d+, \d+\) -> (.+?), (\d+),", log)
        assert chosen is not None, log[-2000:]
        font = pick_font(None, text, language, settings)
        assert (chosen.group(1), chosen.group(2), int(chosen.group(3))) == (font.family, str(font.path), font.index)


def test_ass_script_in_a_directory_with_filtergraph_metacharacters_is_found(plain_clip: Path, tmp_path: Path) -> None:
    settings = Settings()
    out_dir = tmp_path / "it's [a],b;c:d"
    out_dir.mkdir()
    req = msgspec.convert(
        {"input": {"asset_id": "a"}, "srt": "1\n00:00:00,000 --> 00:00:01,000\nok\n"}, SubtitlesRequest
    )
    plan = plan_subtitles(req, [Source(plain_clip, probe(plain_clip, settings.limits))], out_dir, settings)
    for path, content in plan.files.items():
        path.write_text(content, encoding="utf-8")
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *plan.args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert changed(frame_at(frames(plan.output), 0.5), slice(160, 240)) > 50


def subtitle_packets(path: Path) -> tuple[str, dict[str, str], list[tuple[float, float, bytes]]]:
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        packets = [
            (float(p.pts * p.time_base), float(p.duration * p.time_base), bytes(p))
            for p in container.demux(stream)
            if p.size > 2  # mov_text writes empty samples (2 zero bytes) in the gaps
        ]
        return stream.codec_context.name, dict(stream.metadata), packets


def test_soft_track_in_mp4_is_mov_text_with_language_and_copied_streams(
    api: Api, plain_clip: Path, tmp_path: Path
) -> None:
    segments = [
        {"start_s": 0.5, "end_s": 1.25, "text": "日本語の字幕"},
        {"start_s": 2.0, "end_s": 9.0, "text": "a <3 & {x} \\N c\nsecond line"},
    ]
    asset = api.upload(plain_clip)
    task = run(api, {"input": {"asset_id": asset["id"]}, "segments": segments, "mode": "soft", "language": "jpn"})
    out = api.download(task["result"]["url"], tmp_path / "soft.mp4")
    codec, metadata, packets = subtitle_packets(out)
    assert codec == "mov_text" and metadata["language"] == "jpn"
    # mov_text samples: a 16-bit length, then the UTF-8 text.
    texts = [data[2 : 2 + int.from_bytes(data[:2], "big")].decode() for _, _, data in packets]
    assert [t.replace(WORD_JOINER, "") for t in texts] == [s["text"] for s in segments]
    assert [(start, round(start + dur, 3)) for start, dur, _ in packets] == [(0.5, 1.25), (2.0, 3.0)]  # cut at the end
    with av.open(str(out)) as got, av.open(str(plain_clip)) as src:
        assert abs(float(got.duration / 1e6) - 3.0) <= 1 / FPS + 0.03
        first_out = next(p for p in got.demux(got.streams.video[0]) if p.size)
        first_in = next(p for p in src.demux(src.streams.video[0]) if p.size)
        assert bytes(first_out) == bytes(first_in)  # the video was copied, not re-encoded
        assert got.streams.audio[0].codec_context.name == "aac"


def test_formatting_tags_in_segments_are_dropped_as_in_srt(api: Api, plain_clip: Path, tmp_path: Path) -> None:
    """`segments` text is plain text like SRT cues: `<i>`, `{\\an8}` and WebVTT tags are not drawn."""
    asset = api.upload(plain_clip)

    def burned(text: str, name: str) -> np.ndarray:
        body = {"input": {"asset_id": asset["id"]}, "segments": [{"start_s": 0, "end_s": 3, "text": text}]}
        return frame_at(frames(api.download(run(api, body)["result"]["url"], tmp_path / name)), 1.0).astype(int)

    plain = burned("HELLO", "plain.mp4")
    tagged = burned("{\\an2}<b>HEL</b><i>LO</i><c.yellow></c>", "tagged.mp4")
    assert changed(plain.astype(np.uint8), slice(None)) > 50  # the text is there
    assert np.abs(plain - tagged).mean() < 0.5, np.abs(plain - tagged).mean()

    soft = {"input": {"asset_id": asset["id"]}, "mode": "soft"}
    soft["segments"] = [{"start_s": 0, "end_s": 1, "text": "<i>HELLO</i> <v Bob>there"}]
    _, _, packets = subtitle_packets(api.download(run(api, soft)["result"]["url"], tmp_path / "soft.mp4"))
    assert [data[2 : 2 + int.from_bytes(data[:2], "big")].decode() for _, _, data in packets] == ["HELLO there"]


def test_soft_track_in_webm_is_webvtt(api: Api, plain_clip: Path, tmp_path: Path) -> None:
    vtt = "WEBVTT\n\n00:00.500 --> 00:01.500\n<i>Tom</i> &amp; Jerry\n\n00:02.000 --> 00:02.500\n한국어 자막\n"
    asset = api.upload(plain_clip)
    body = {"input": {"asset_id": asset["id"]}, "vtt": vtt, "mode": "soft", "format": "webm", "quality": "low"}
    task = run(api, {**body, "language": "kor"})
    assert task["result"]["video_codec"] == "vp9" and task["result"]["audio_codec"] == "opus"
    codec, metadata, packets = subtitle_packets(api.download(task["result"]["url"], tmp_path / "soft.webm"))
    assert codec == "webvtt" and metadata["language"] == "kor"
    assert [(start, dur, data.decode()) for start, dur, data in packets] == [
        (0.5, 1.0, "Tom &amp; Jerry"),
        (2.0, 0.5, "한국어 자막"),
    ]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"srt": "1\n00:00:01,000 --> 00:00:00,500\nbackwards\n"}, "invalid_subtitles", "srt"),
        ({"srt": "1\n00:00:01.000 -> 00:00:02.000\nno arrow\n"}, "invalid_subtitles", "srt"),
        ({"vtt": "00:01.000 --> 00:02.000\nno header\n"}, "invalid_subtitles", "vtt"),
        ({"segments": [{"start_s": 0, "end_s": 1, "text": "bell\u0007"}]}, "invalid_subtitles", "segments[0].text"),
        ({"segments": [{"start_s": 5, "end_s": 6, "text": "late"}]}, "input_out_of_range", "segments[0].start_s"),
        (
            {"srt": "1\n00:00:01,000 --> 00:00:02,000\nx\n", "style": {"font": "Nope Sans"}},
            "unknown_font",
            "style.font",
        ),
        ({"srt": "1\n00:00:01,000 --> 00:00:02,000\nx\n", "vtt": "WEBVTT\n"}, "invalid_subtitles", "vtt"),
    ],
)
def test_bad_subtitles_are_a_422_naming_the_field(
    api: Api, plain_clip: Path, body: dict[str, Any], code: str, field: str
) -> None:
    asset = api.upload(plain_clip)
    resp = api.post("/v1/video/edit/subtitles", json={"input": {"asset_id": asset["id"]}, **body})
    problem = assert_problem(resp, 422, code)
    assert problem["errors"][0]["field"] == field
    if field == "srt":
        assert problem["errors"][0]["line"] == 2 and problem["errors"][0]["cue"] == 1
