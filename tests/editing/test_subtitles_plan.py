"""The subtitles planner is pure: one ffmpeg pass, checked here without running ffmpeg."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from videoapi.editing.kinds import KINDS, Source
from videoapi.editing.subtitles import SubtitlesRequest, check_subtitles, plan_subtitles
from videoapi.errors import InvalidRequest
from videoapi.media.filters import filter_quote
from videoapi.media.probe import AudioInfo, MediaInfo, VideoInfo
from videoapi.settings import Settings

SRC = Path("/work/in.mp4")
OUT = Path("/work/out")
SRT = "1\n00:00:01,000 --> 00:00:02,000\nHello\n\n2\n00:00:03,000 --> 00:00:04,500\nWorld\n"


def media(
    width: int = 1280,
    height: int = 720,
    codec: str = "h264",
    audio: str | None = "aac",
    duration_s: float = 10.0,
    fmt: str = "mov,mp4,m4a,3gp,3g2,mj2",
) -> MediaInfo:
    return MediaInfo(
        format_name=fmt,
        duration_s=duration_s,
        size_bytes=1000,
        bit_rate=1000,
        video=VideoInfo(codec=codec, width=width, height=height, fps=25.0, rotation=0, pix_fmt="yuv420p", bit_depth=8),
        audio=AudioInfo(codec=audio, sample_rate=48000, channels=2) if audio else None,
        is_image=False,
    )


def request(**kw: Any) -> SubtitlesRequest:
    body = {"input": {"asset_id": "a"}, "srt": SRT, **kw}
    return msgspec.convert({k: v for k, v in body.items() if v is not None}, SubtitlesRequest)


def plan(req: SubtitlesRequest, info: MediaInfo | None = None, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    return plan_subtitles(req, [Source(SRC, info or media())], OUT, settings or Settings())


def after(args: list[str], flag: str, nth: int = 0) -> str:
    return [args[i + 1] for i, a in enumerate(args) if a == flag][nth]


def problem(call: Callable[[], object]) -> tuple[str, dict[str, Any]]:
    with pytest.raises(InvalidRequest) as info:
        call()
    return info.value.code, info.value.errors[0] if info.value.errors else {}


def test_subtitles_and_thumbnails_are_registered_edit_kinds() -> None:
    assert KINDS["edit.subtitles"].path == "subtitles" and KINDS["edit.subtitles"].request_type is SubtitlesRequest
    assert KINDS["edit.thumbnails"].path == "thumbnails"


def test_burn_renders_the_written_ass_script_in_one_encode() -> None:
    p = plan(request())
    script = OUT / "subtitles.ass"
    assert list(p.files) == [script]
    assert "Dialogue: 1,0:00:01.00,0:00:02.00,Text,,0,0,0,,Hello" in p.files[script]
    assert "PlayResX: 1280" in p.files[script] and "PlayResY: 720" in p.files[script]
    vf = after(p.args, "-vf")
    assert vf == f"format=yuv420p,subtitles=filename={filter_quote(str(script))}:wrap_unicode=1"
    assert after(p.args, "-c:v") == "libx264"
    assert after(p.args, "-c:a") == "copy"  # AAC fits MP4 as it is
    assert p.output == OUT / "output.mp4" and p.content_type == "video/mp4"
    assert p.duration_s == 10.0 and p.poster == OUT / "poster.jpg"
    assert p.args.count("-i") == 1


def test_burn_into_webm_encodes_vp9_and_opus() -> None:
    p = plan(request(format="webm", quality="low"))
    assert after(p.args, "-c:v") == "libvpx-vp9" and after(p.args, "-c:a") == "libopus"
    assert p.output == OUT / "output.webm" and p.content_type == "video/webm"


def test_odd_sized_input_is_made_even_before_rendering() -> None:
    p = plan(request(), media(width=641, height=361))
    assert after(p.args, "-vf").startswith("scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p,subtitles=")
    assert "PlayResX: 640" in p.files[OUT / "subtitles.ass"]


def test_style_reaches_the_ass_style_line() -> None:
    style = {"size": 48, "color": "#ff0000", "outline_color": "blue", "outline_width": 3, "position": "top"}
    ass = plan(request(style={**style, "margin": 20, "box_color": "#00000080"})).files[OUT / "subtitles.ass"]
    text = next(line for line in ass.splitlines() if line.startswith("Style: Text,")).split(",")
    assert text[1] == "DejaVu Sans"
    assert text[2:4] == ["48", "&H000000FF"] and text[5] == "&H00FF0000"
    assert text[16] == "3" and text[18] == "8" and text[21] == "20"  # outline, alignment top, margin
    assert any(line.startswith("Style: Box,") for line in ass.splitlines())


def test_cjk_text_gets_a_cjk_font_and_the_language_picks_the_regional_face() -> None:
    def family(req: SubtitlesRequest) -> str:
        ass = plan(req).files[OUT / "subtitles.ass"]
        return next(line for line in ass.splitlines() if line.startswith("Style: Text,")).split(",")[1]

    cjk = "1\n00:00:01,000 --> 00:00:02,000\n日本語の字幕\n"
    assert family(request(srt=cjk)) == "Noto Sans CJK SC"
    assert family(request(srt=cjk, language="jpn")) == "Noto Sans CJK JP"
    assert family(request(srt="1\n00:00:01,000 --> 00:00:02,000\n한국어\n", language="kor")) == "Noto Sans CJK KR"
    # A Latin font asked to draw CJK is replaced by one that has the glyphs.
    assert family(request(srt=cjk, style={"font": "DejaVu Sans"})) == "Noto Sans CJK SC"


def test_fonts_dir_is_handed_to_libass(tmp_path: Path) -> None:
    settings = Settings(editing=msgspec.structs.replace(Settings().editing, fonts_dir=str(tmp_path)))
    vf = after(plan(request(), settings=settings).args, "-vf")
    assert vf.endswith(f":fontsdir={filter_quote(str(tmp_path))}")
    assert "fontsdir" not in after(plan(request()).args, "-vf")


def test_filter_quote_survives_filtergraph_metacharacters() -> None:
    assert filter_quote("/a/b.ass") == "\\'/a/b.ass\\'"
    assert filter_quote("/x'y,z;[w]:v\\u") == "\\'/x\\'\\\\\\'\\'y\\,z\\;\\[w\\]:v\\\\u\\'"


def test_soft_track_in_mp4_copies_video_and_audio_and_encodes_mov_text() -> None:
    p = plan(request(mode="soft", language="jpn"))
    track = OUT / "subtitles.srt"
    assert list(p.files) == [track] and "00:00:03,000 --> 00:00:04,500\nWorld" in p.files[track]
    i = p.args.index(str(track))
    assert p.args[i - 7 : i] == ["-f", "srt", "-protocol_whitelist", "file", "-format_whitelist", "srt", "-i"]
    assert after(p.args, "-c:v") == "copy" and after(p.args, "-c:a") == "copy"
    assert after(p.args, "-c:s") == "mov_text"
    assert after(p.args, "-metadata:s:s:0") == "language=jpn"
    assert "-vf" not in p.args[: p.args.index(str(p.output))]
    assert ["-map", "1:s:0"] == p.args[p.args.index("1:s:0") - 1 : p.args.index("1:s:0") + 1]


def test_soft_track_in_webm_reencodes_what_webm_cannot_hold_and_copies_webvtt() -> None:
    p = plan(request(mode="soft", format="webm"))
    assert list(p.files) == [OUT / "subtitles.vtt"] and p.files[OUT / "subtitles.vtt"].startswith("WEBVTT\n")
    assert after(p.args, "-c:v") == "libvpx-vp9" and after(p.args, "-c:a") == "libopus"
    assert after(p.args, "-c:s") == "copy"
    vp9 = plan(request(mode="soft", format="webm"), media(codec="vp9", audio="opus", fmt="matroska,webm"))
    assert after(vp9.args, "-c:v") == "copy" and after(vp9.args, "-c:a") == "copy"


def test_cues_past_the_end_are_cut_and_a_cue_starting_after_it_is_refused() -> None:
    p = plan(request(mode="soft"), media(duration_s=4.0))
    assert "00:00:03,000 --> 00:00:04,000\nWorld" in p.files[OUT / "subtitles.srt"]
    code, error = problem(lambda: plan(request(), media(duration_s=2.5)))
    assert code == "input_out_of_range" and error["field"] == "srt"
    assert error["message"].startswith("line 6, cue 2: starts at 3.000 s")
    segments = [{"start_s": 0, "end_s": 1, "text": "a"}, {"start_s": 9, "end_s": 10, "text": "b"}]
    code, error = problem(lambda: plan(request(srt=None, segments=segments), media(duration_s=5)))
    assert code == "input_out_of_range" and error["field"] == "segments[1].start_s"


@pytest.mark.parametrize(
    ("kw", "code", "field"),
    [
        ({"vtt": "WEBVTT\n\n00:01.000 --> 00:02.000\nx\n"}, "invalid_subtitles", "vtt"),
        ({"srt": None}, "invalid_subtitles", "srt"),
        ({"srt": "1\n00:00:01,000 --> 00:00:00,500\nx\n"}, "invalid_subtitles", "srt"),
        ({"style": {"font": "No Such Font"}}, "unknown_font", "style.font"),
        ({"style": {"box_color": "#12345"}}, "invalid_color", "style.box_color"),
        ({"style": {"color": "not-a-colour"}}, "invalid_color", "style.color"),
    ],
)
def test_bad_requests_are_refused_before_anything_runs(kw: dict[str, Any], code: str, field: str) -> None:
    req = request(**kw)
    for call in (lambda: plan(req), lambda: check_subtitles(req, Settings())):
        got, error = problem(call)
        assert (got, error["field"]) == (code, field)


def test_an_image_input_is_not_subtitled() -> None:
    still = msgspec.structs.replace(media(audio=None, duration_s=0.0), is_image=True)
    assert problem(lambda: plan(request(), still))[0] == "input_not_video"


def test_an_output_over_the_limits_names_the_setting() -> None:
    settings = Settings(editing=msgspec.structs.replace(Settings().editing, max_output_pixels=1280 * 720 - 1))
    code, error = problem(lambda: plan(request(), settings=settings))
    assert code == "limit_exceeded" and "editing.max_output_pixels" in error["message"]
    # A soft track that copies the video does not re-encode anything, so the output limits do not apply.
    assert plan(request(mode="soft"), settings=settings).output == OUT / "output.mp4"
