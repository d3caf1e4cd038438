"""Subtitle parsers and writers: strict parsing with precise errors, and text that stays text."""

from __future__ import annotations

import dataclasses
import re

import msgspec
import pytest

from videoapi.editing.captions import (
    WORD_JOINER,
    AssStyle,
    Cue,
    CueLimits,
    ass_escape,
    parse_segments,
    parse_srt,
    parse_vtt,
    to_ass,
    to_srt,
    to_webvtt,
)
from videoapi.errors import InvalidRequest
from videoapi.media.colors import parse_color

LIMITS = CueLimits(max_cues=100, max_text_chars=200)


class Seg(msgspec.Struct):
    start_s: float
    end_s: float
    text: str


def error_of(call, *args, **kw) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as info:
        call(*args, **kw)
    assert len(info.value.errors) == 1
    return info.value.code, info.value.errors[0]


# ---- SRT ----------------------------------------------------------------------------------------

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello <i>world</i>

2
00:00:03,000 --> 00:00:04,000 X1:10 X2:20 Y1:5 Y2:9
{\\an8}two
lines

"""


def test_srt_cues_keep_times_and_plain_text() -> None:
    cues = parse_srt(SRT, LIMITS)
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [(1.0, 2.5, "Hello world"), (3.0, 4.0, "two\nlines")]
    assert [(c.number, c.line) for c in cues] == [(1, 2), (2, 6)]


def test_srt_accepts_crlf_bom_missing_numbers_and_dot_milliseconds() -> None:
    text = "\ufeff00:00:00.100 --> 00:00:00.900\r\nfirst\r\n\r\n\r\n7\r\n01:02:03,004 --> 01:02:04,000\r\nsecond\r\n"
    cues = parse_srt(text, LIMITS)
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [(0.1, 0.9, "first"), (3723.004, 3724.0, "second")]


@pytest.mark.parametrize(
    ("text", "line", "cue", "why"),
    [
        ("1\n00:00:01 --> 00:00:02,000\nx\n", 2, 1, "bad start timestamp '00:00:01'"),
        ("1\n00:00:01,000 --> 00:00:2,000\nx\n", 2, 1, "bad end timestamp"),
        ("1\n00:00:01,000 -> 00:00:02,000\nx\n", 2, 1, "expected a timing line"),
        ("1\n00:61:01,000 --> 00:62:00,000\nx\n", 2, 1, "minutes and seconds must be 00-59"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:05,000 --> 00:00:04,000\nx\n", 6, 2, "is before start"),
        ("1\n00:00:01,000 --> 00:00:01,000\nx\n", 2, 1, "equals start"),
        ("1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:03,000 --> 00:00:04,000\ny\n", 2, 1, "has no text"),
        ("hello there\n00:00:01,000 --> 00:00:02,000\nx\n", 1, 1, "expected a cue number or a timing line"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n", 5, 2, "must be followed by a timing line"),
    ],
)
def test_malformed_srt_is_a_422_naming_the_line_the_cue_and_why(text: str, line: int, cue: int, why: str) -> None:
    code, error = error_of(parse_srt, text, LIMITS)
    assert code == "invalid_subtitles"
    assert error["field"] == "srt"
    assert error["line"] == line and error["cue"] == cue
    assert why in error["message"] and f"line {line}" in error["message"]


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b[31m", "\x7f", "\x9b", "\ud800"])
def test_control_characters_are_refused_with_their_line(bad: str) -> None:
    code, error = error_of(parse_srt, f"1\n00:00:01,000 --> 00:00:02,000\nfine\n{bad}bad\n", LIMITS)
    assert code == "invalid_subtitles" and error["line"] == 4
    assert "control character" in error["message"]


def test_empty_subtitles_are_refused() -> None:
    code, error = error_of(parse_srt, "\n\n  \n", LIMITS)
    assert code == "invalid_subtitles" and "no cues" in error["message"]


def test_too_many_cues_names_the_setting() -> None:
    text = "".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},500\nc{i}\n\n" for i in range(1, 5))
    code, error = error_of(parse_srt, text, CueLimits(max_cues=3, max_text_chars=100))
    assert code == "limit_exceeded" and error["field"] == "srt"
    assert "editing.max_subtitle_cues" in error["message"]


def test_too_long_cue_text_names_the_setting_and_the_cue() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 --> 00:00:04,000\n" + "x" * 201 + "\n"
    code, error = error_of(parse_srt, text, LIMITS)
    assert code == "limit_exceeded" and "editing.max_text_chars" in error["message"]
    assert "cue 2" in error["message"]


# ---- WebVTT -------------------------------------------------------------------------------------

VTT = """WEBVTT - a title
Kind: captions

NOTE this is a comment
spanning lines

STYLE
::cue { color: red }

intro
00:01.000 --> 00:02.000 align:start position:10%
<v Roger>Tom &amp; <b>Jerry</b> &lt;3</v>

01:00:00.000 --> 01:00:01.500
日本語 <ruby>漢<rt>かん</rt></ruby>
"""


def test_vtt_cues_skip_notes_styles_and_markup() -> None:
    cues = parse_vtt(VTT, LIMITS)
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [
        (1.0, 2.0, "Tom & Jerry <3"),
        (3600.0, 3601.5, "日本語 漢かん"),
    ]
    assert [c.line for c in cues] == [11, 14]


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("00:01.000 --> 00:02.000\nx\n", 1, "must start with a line 'WEBVTT'"),
        ("WEBVTT\n00:01.000 --> 00:02.000\nx\n", 2, "blank line must separate the WEBVTT header"),
        ("WEBVTT\n\n00:01,000 --> 00:02.000\nx\n", 3, "bad start timestamp '00:01,000'"),
        ("WEBVTT\n\n00:01.000 --> 00:02.000\nx\n00:03.000 --> 00:04.000\ny\n", 5, "must not contain '-->'"),
        ("WEBVTT\n\nsome-id\nno timing here\n", 4, "expected a timing line"),
        ("WEBVTT\n\n00:01.000 --> 00:00.500\nx\n", 3, "is before start"),
    ],
)
def test_malformed_vtt_is_a_422_naming_the_line(text: str, line: int, why: str) -> None:
    code, error = error_of(parse_vtt, text, LIMITS)
    assert code == "invalid_subtitles" and error["field"] == "vtt"
    assert error["line"] == line
    assert why in error["message"]


# ---- segments -----------------------------------------------------------------------------------


def test_segments_become_cues_with_normalised_lines() -> None:
    cues = parse_segments([Seg(0, 1.5, "  one \r\n\n two "), Seg(2, 3, "三")], LIMITS)
    assert [(c.start_s, c.end_s, c.text, c.line) for c in cues] == [(0, 1.5, "one\ntwo", None), (2, 3, "三", None)]


@pytest.mark.parametrize(
    ("segments", "field", "why"),
    [
        ([Seg(0, 1, "ok"), Seg(2, 1, "x")], "segments[1].end_s", "is before start"),
        ([Seg(0, 1, " \n ")], "segments[0].text", "has no text"),
        ([Seg(0, 1, "bell\x07")], "segments[0].text", "control character"),
    ],
)
def test_bad_segments_name_the_index_and_field(segments: list[Seg], field: str, why: str) -> None:
    code, error = error_of(parse_segments, segments, LIMITS)
    assert code == "invalid_subtitles" and error["field"] == field
    assert why in error["message"]


def test_too_many_segments_is_a_limit() -> None:
    code, error = error_of(parse_segments, [Seg(i, i + 1, "x") for i in range(4)], CueLimits(3, 10))
    assert code == "limit_exceeded" and error["field"] == "segments"


# ---- writers ------------------------------------------------------------------------------------

STYLE = AssStyle(
    font_family="Noto Sans CJK SC",
    font_size=40,
    color=parse_color("#ffcc00"),
    outline_color=parse_color("black"),
    outline_width=2,
    box_color=None,
    box_padding=8,
    alignment=2,
    margin_v=30,
    margin_h=50,
)


def events(ass: str) -> list[str]:
    return [line for line in ass.splitlines() if line.startswith("Dialogue:")]


def test_ass_escapes_braces_backslashes_and_newlines() -> None:
    # `{...}` would be an override block, `\N` a line break: both must show as typed.
    assert ass_escape("a{\\pos(0,0)\\c&H0000FF&}b") == f"a\\{{\\{WORD_JOINER}pos(0,0)\\{WORD_JOINER}c&H0000FF&\\}}b"
    assert ass_escape("\\N and \\h") == f"\\{WORD_JOINER}N and \\{WORD_JOINER}h"
    assert ass_escape("two\nlines") == "two\\Nlines"


def test_user_text_cannot_open_an_override_block_in_the_ass_script() -> None:
    hostile = "x}{\\fs200\\pos(1,1)}y\nDialogue: 0,0:00:00.00,9:00:00.00,Text,,0,0,0,,injected"
    ass = to_ass([Cue(0, 1, hostile, 1)], STYLE, 1280, 720)
    lines = events(ass)
    assert len(lines) == 1  # the newline did not start a second event
    text = lines[0].split(",,", 1)[1].split(",", 4)[-1]
    # libass opens an override block at a `{` that is not escaped by a backslash.
    assert not re.search(r"(?<!\\)\{", text)
    assert "\\Dialogue" not in text and "\\NDialogue" in text


def test_ass_script_has_the_frame_size_style_and_centisecond_times() -> None:
    ass = to_ass([Cue(3661.234, 3662.5, "中文字幕", 1), Cue(0.5, 1.0, "first", 2)], STYLE, 1280, 720)
    assert "PlayResX: 1280" in ass and "PlayResY: 720" in ass
    style = next(line for line in ass.splitlines() if line.startswith("Style: Text,"))
    assert style.split(",")[1:5] == ["Noto Sans CJK SC", "40", "&H0000CCFF", "&H0000CCFF"]
    assert events(ass) == [
        "Dialogue: 1,0:00:00.50,0:00:01.00,Text,,0,0,0,,first",
        "Dialogue: 1,1:01:01.23,1:01:02.50,Text,,0,0,0,,中文字幕",
    ]


def test_a_box_is_a_second_style_on_a_lower_layer() -> None:
    style = dataclasses.replace(STYLE, box_color=parse_color("#00000080"))
    ass = to_ass([Cue(0, 1, "boxed", 1)], style, 640, 360)
    box = next(line for line in ass.splitlines() if line.startswith("Style: Box,"))
    fields = box.split(",")
    assert fields[5] == "&H7F000000"  # the box colour, 50% transparent
    assert fields[15:17] == ["3", "8"]  # BorderStyle 3 (opaque box), 8 px padding
    assert events(ass) == [
        "Dialogue: 0,0:00:00.00,0:00:01.00,Box,,0,0,0,,boxed",
        "Dialogue: 1,0:00:00.00,0:00:01.00,Text,,0,0,0,,boxed",
    ]


def test_webvtt_writer_escapes_markup_and_round_trips() -> None:
    cues = [Cue(0.5, 1.25, "Tom & <b>Jerry</b> -->", 1), Cue(61, 62, "한국어\n둘째 줄", 2)]
    vtt = to_webvtt(cues)
    assert "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt; --&gt;" in vtt
    assert "00:01:01.000 --> 00:01:02.000" in vtt
    back = parse_vtt(vtt, LIMITS)
    assert [(c.start_s, c.end_s, c.text) for c in back] == [(c.start_s, c.end_s, c.text) for c in cues]


def test_srt_writer_keeps_tags_and_overrides_literal_for_ffmpeg() -> None:
    srt = to_srt([Cue(2, 3, "b", 2), Cue(0, 1.5, "<i>x</i> {\\an8} {Y:i} \\N ok {plain}", 1)])
    blocks = srt.strip().split("\n\n")
    assert blocks[0].splitlines()[:2] == ["1", "00:00:00,000 --> 00:00:01,500"]
    text = blocks[0].splitlines()[2]
    wj = WORD_JOINER
    assert text == f"<{wj}i>x<{wj}/i> {{{wj}\\an8}} {{{wj}Y:i}} \\{wj}N ok {{plain}}"
    assert blocks[1].splitlines() == ["2", "00:00:02,000 --> 00:00:03,000", "b"]
