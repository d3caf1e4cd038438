"""The captions planner is pure: grouping, line breaking (CJK too), highlighting and the ffmpeg pass,
checked without running ffmpeg or a model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.editing.test_subtitles_plan import after, media, problem
from videoapi.editing.source import Source
from videoapi.media.colors import parse_color
from videoapi.settings import Settings
from videoapi.speech.captions import (
    break_lines,
    caption_events,
    check_captions,
    group_captions,
    plan_captions,
    segment_pieces,
    segments_of,
    width,
    with_transcript,
)
from videoapi.speech.schemas import CaptionSegment, CaptionsRequest, CaptionStyle, Segment, Transcript, Word

SRC = Path("/work/in.mp4")
OUT = Path("/work/out")
WHITE, YELLOW = parse_color("white"), parse_color("yellow")


def timed(text: str, start_s: float, step_s: float = 0.5, length_s: float = 0.4) -> CaptionSegment:
    """A segment whose words start every `step_s` and last `length_s`."""
    words = [
        {"start_s": start_s + i * step_s, "end_s": start_s + i * step_s + length_s, "word": w}
        for i, w in enumerate(text.split())
    ]
    end_s = words[-1]["end_s"]
    return msgspec.convert({"start_s": start_s, "end_s": end_s, "text": text, "words": words}, CaptionSegment)


def style(**kw: Any) -> CaptionStyle:
    return msgspec.convert(kw, CaptionStyle)


def request(**kw: Any) -> CaptionsRequest:
    return msgspec.convert({"input": {"asset_id": "a"}, **kw}, CaptionsRequest)


def test_phrases_fill_lines_up_to_the_width_and_captions_up_to_max_lines() -> None:
    seg = timed("one two three four five six seven eight", 1.0)
    caps = group_captions([seg], style(max_chars_per_line=10, max_lines=2))
    assert [c.text for c in caps] == ["one two\nthree four", "five six\nseven", "eight"]
    assert caps[0].start_s == 1.0 and caps[-1].end_s == pytest.approx(4.9)
    # A short gap between captions is bridged: the next caption replaces this one, no blank flash.
    assert caps[0].end_s == caps[1].start_s


def test_a_long_pause_starts_a_new_caption_and_leaves_the_gap_blank() -> None:
    seg = msgspec.convert(
        {"start_s": 0, "end_s": 4, "text": "hello there", "words": [
            {"start_s": 0.0, "end_s": 0.5, "word": "hello"}, {"start_s": 3.0, "end_s": 3.5, "word": "there"}]},
        CaptionSegment,
    )  # fmt: skip
    caps = group_captions([seg], style())
    assert [(c.text, c.start_s, c.end_s) for c in caps] == [("hello", 0.0, 0.5), ("there", 3.0, 3.5)]


def test_words_per_caption_makes_short_captions_that_never_span_segments() -> None:
    caps = group_captions([timed("a b c d e", 0.0), timed("f g", 10.0)], style(words_per_caption=2))
    assert [c.text for c in caps] == ["a b", "c d", "e", "f g"]
    assert caps[2].end_s == pytest.approx(2.4)  # not held into the next segment, 7.6 s later


def test_uppercase_is_applied_before_the_width_is_measured() -> None:
    # "ß" becomes "SS": the upper-cased text is what must fit.
    caps = group_captions([timed("straße gut", 0.0)], style(uppercase=True, max_chars_per_line=10))
    assert [c.text for c in caps] == ["STRASSE\nGUT"]


def test_cjk_breaks_between_characters_without_spaces_and_counts_double_width() -> None:
    seg = msgspec.convert({"start_s": 0, "end_s": 3, "text": "我们今天很高兴，欢迎大家。"}, CaptionSegment)
    caps = group_captions([seg], style(max_chars_per_line=10, max_lines=2))
    assert [c.text for c in caps] == ["我们今天很\n高兴，欢迎", "大家。"]
    assert all(width(line) <= 10 for c in caps for line in c.text.split("\n"))
    assert " " not in "".join(c.text for c in caps)
    # Punctuation stays with the character before it: no line starts with a full-width comma or full stop.
    assert not any(line.startswith(("\uff0c", "\u3002")) for c in caps for line in c.text.split("\n"))


def test_cjk_words_from_asr_are_joined_without_spaces() -> None:
    seg = timed("你好 世界", 0.0)
    assert group_captions([seg], style())[0].text == "你好世界"
    mixed = timed("我用 Python 写", 0.0)
    assert group_captions([mixed], style())[0].text == "我用Python写"


def test_without_words_timings_are_spread_by_character_count() -> None:
    seg = msgspec.convert({"start_s": 2, "end_s": 4, "text": "aa bbbbbb"}, CaptionSegment)
    pieces = segment_pieces(seg, uppercase=False)
    assert [(p.text, p.start_s, p.end_s) for p in pieces] == [("aa", 2.0, 2.5), ("bbbbbb", 2.5, 4.0)]


def test_a_word_wider_than_a_line_gets_a_line_of_its_own() -> None:
    pieces = segment_pieces(timed("a extraordinarily b", 0.0), uppercase=False)
    assert [len(line) for line in break_lines(pieces, 8)] == [1, 1, 1]


def test_karaoke_fills_each_word_with_kf_tags_timed_from_the_caption_start() -> None:
    caps = group_captions([timed("one two three", 1.0)], style())
    (event,) = caption_events(caps, "karaoke", WHITE, YELLOW)
    # Sung words turn to the primary colour (highlight); unsung ones show the secondary (the text colour).
    assert event.text.startswith("{\\1c&H00FFFF&\\1a&H00&\\2c&HFFFFFF&\\2a&H00&}")
    assert re.findall(r"\{\\(kf?)(\d+)\}", event.text) == [
        ("kf", "40"), ("k", "10"), ("kf", "40"), ("k", "10"), ("kf", "40")
    ]  # fmt: skip
    assert event.plain == "one two three" and (event.start_s, event.end_s) == (1.0, 2.4)


def test_word_highlight_is_one_event_per_word_with_that_word_coloured() -> None:
    caps = group_captions([timed("one two three", 1.0)], style())
    events = caption_events(caps, "word", WHITE, YELLOW)
    assert [(e.start_s, e.end_s) for e in events] == [(1.0, 1.5), (1.5, 2.0), (2.0, 2.4)]
    assert events[1].text == "one {\\1c&H00FFFF&\\1a&H00&}two{\\r} three"
    assert {e.plain for e in events} == {"one two three"}


def test_caption_text_is_escaped_for_libass() -> None:
    caps = group_captions([timed("{\\pos(0,0)} hi", 0.0)], style())
    (event,) = caption_events(caps, "none", WHITE, YELLOW)
    assert "{\\pos" not in event.text and "\\{" in event.text


def plan(req: CaptionsRequest, duration_s: float = 10.0) -> Any:
    return plan_captions(req, [Source(SRC, media(320, 180, duration_s=duration_s))], OUT, Settings())


def test_burn_is_one_libass_pass_with_karaoke_events() -> None:
    p = plan(request(segments=[msgspec.to_builtins(timed("hello world", 1.0))], style={"highlight": "karaoke"}))
    assert "subtitles=filename=" in after(p.args, "-vf") and after(p.args, "-c:a") == "copy"
    (script,) = p.files.values()
    assert "Dialogue: 1,0:00:01.00,0:00:01.90,Text,,0,0,0,,{\\1c" in script and "{\\kf40}hello" in script


def test_soft_track_holds_the_grouped_captions_with_streams_copied() -> None:
    segment = msgspec.to_builtins(timed("one two three", 1.0))
    p = plan(request(mode="soft", segments=[segment], language="en", style={"words_per_caption": 2}))
    assert after(p.args, "-c:v") == "copy" and after(p.args, "-c:s") == "mov_text"
    assert "language=eng" in p.args
    (track,) = p.files.values()
    assert "one two" in track and "three" in track


def test_an_empty_transcript_copies_the_input_and_no_captions() -> None:
    # Only the worker makes `segments=[]` (a silent input's transcript); a request needs one at least.
    p = plan(msgspec.structs.replace(request(), segments=[]))
    assert not any("subtitles=" in a for a in p.args) and after(p.args, "-c:v") == "copy" and p.files == {}


def test_before_transcribing_the_burn_pass_is_planned_to_check_its_limits() -> None:
    p = plan(request())
    assert "subtitles=filename=" in after(p.args, "-vf")


def test_the_transcript_files_are_written_and_stored_as_documents() -> None:
    transcript = Transcript("en", 1.0, "hi", 2.0, [Segment(0.5, 1.0, "hi", [Word(0.5, 1.0, "hi", 0.9)])])
    p = with_transcript(plan(request(segments=msgspec.to_builtins(segments_of(transcript)))), transcript, OUT)
    assert [ct for _, ct in p.documents] == ["application/x-subrip", "text/vtt", "application/json"]
    assert all(path in p.files for path, _ in p.documents)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"mode": "soft", "style": {"highlight": "karaoke"}}, "unsupported_option", "style.highlight"),
        ({"style": {"highlight_color": "notacolour"}}, "invalid_color", "style.highlight_color"),
        (
            {
                "segments": [
                    {
                        "start_s": 1,
                        "end_s": 2,
                        "text": "a",
                        "words": [
                            {"start_s": 1.5, "end_s": 1.6, "word": "a"},
                            {"start_s": 1.2, "end_s": 1.3, "word": "b"},
                        ],
                    }
                ]
            },
            "invalid_subtitles",
            "segments[0].words[1].start_s",
        ),
        (
            {"segments": [{"start_s": 1, "end_s": 2, "text": "", "words": None}]},
            "invalid_subtitles",
            "segments[0].text",
        ),
    ],
)
def test_bad_captions_are_422s_naming_the_field(body: dict[str, Any], code: str, field: str) -> None:
    got_code, error = problem(lambda: check_captions(request(**body), Settings()))
    assert (got_code, error["field"]) == (code, field)


def test_a_segment_after_the_end_of_the_input_is_a_422() -> None:
    req = request(segments=[{"start_s": 12, "end_s": 13, "text": "late"}])
    code, error = problem(lambda: plan(req))
    assert (code, error["field"]) == ("input_out_of_range", "segments[0].start_s")
