"""Subtitle text formats: strict parsers (SRT, WebVTT, JSON segments) into cues, and writers.

Everything here is pure. Parsers raise a 422 (`invalid_subtitles`, or `limit_exceeded` past a
configured limit) whose error names the request field, the line and the cue number, and says why.
Cue text is plain text: formatting tags of the source are dropped (the style comes from the
request), and the writers escape it so that no user text is ever read as markup by libass or by
ffmpeg's subtitle decoders.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol

from videoapi.errors import InvalidRequest
from videoapi.media.colors import Color

WORD_JOINER = "\u2060"
"""Invisible and zero-width (Unicode default-ignorable): separates a backslash or brace from the
character after it, so that the pair is not an escape or a tag to the reader of the text."""

_SRT_TIME = re.compile(r"^(\d{1,3}):(\d{2}):(\d{2})[,.](\d{3})$")
_VTT_TIME = re.compile(r"^(?:(\d{2,3}):)?(\d{2}):(\d{2})\.(\d{3})$")
_SRT_TAGS = re.compile(r"</?(?:b|i|u|s|font)(?:\s[^<>]*)?>|\{\\[^{}]*\}", re.IGNORECASE)
_VTT_TAGS = re.compile(r"<[^<>\n]*>")
# Segments are plain text, not a format: only the tags of SRT and WebVTT (and ASS overrides) are
# dropped, so that literal text such as "a < b > c" stays.
_SEGMENT_TAGS = re.compile(r"</?(?:b|i|u|s|font|c|v|ruby|rt|lang)(?:[.\s][^<>]*)?>|\{\\[^{}]*\}", re.IGNORECASE)
_BLANK = re.compile(r"^[ \t]*$")


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str
    """Plain text; lines separated by "\\n", each stripped, none empty."""
    number: int
    """1-based position in the source (SRT/VTT cue or segment), for error messages."""
    line: int | None = None
    """Line of the timing line in an SRT/VTT source; None for segments."""


class SegmentLike(Protocol):
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class CueLimits:
    max_cues: int
    max_text_chars: int


def where(cue: Cue, field: str, attr: str = "start_s") -> tuple[str, str]:
    """(error field, message prefix) locating `cue` in the request."""
    if cue.line is None:
        return f"{field}[{cue.number - 1}].{attr}", f"segment {cue.number - 1}"
    return field, f"line {cue.line}, cue {cue.number}"


# ---- parsers ------------------------------------------------------------------------------------


def parse_srt(text: str, limits: CueLimits, field: str = "srt") -> list[Cue]:
    """Parse SubRip: blocks of an optional cue number, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text lines."""
    lines = _lines(text, field)
    cues: list[Cue] = []
    for block in _blocks(lines):
        number = len(cues) + 1
        lineno, first = block[0]
        rest = block[1:]
        if "-->" not in first:
            if not first.strip().isdigit():
                _fail(field, lineno, number, f"expected a cue number or a timing line, found {_show(first)}")
            if not rest:
                _fail(field, lineno, number, "a cue number must be followed by a timing line")
            (lineno, first), rest = rest[0], rest[1:]
            if "-->" not in first:
                _fail(
                    field,
                    lineno,
                    number,
                    f"expected a timing line 'HH:MM:SS,mmm --> HH:MM:SS,mmm', found {_show(first)}",
                )
        start_s, end_s = _timing(first, _SRT_TIME, "HH:MM:SS,mmm", field, lineno, number)
        body = [_SRT_TAGS.sub("", t) for _, t in rest]
        cues.append(_cue(start_s, end_s, body, number, lineno, field, limits))
        _check_count(cues, limits, field, lineno)
    return _finish(cues, field)


def parse_vtt(text: str, limits: CueLimits, field: str = "vtt") -> list[Cue]:
    """Parse WebVTT: a `WEBVTT` header, then cues (optional identifier, timing line, payload);
    NOTE, STYLE and REGION blocks are skipped, cue settings and markup are ignored."""
    lines = _lines(text, field)
    if not lines or not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0][1]):
        _fail(field, 1, None, "a WebVTT file must start with a line 'WEBVTT'")
    cues: list[Cue] = []
    for i, block in enumerate(_blocks(lines)):
        if i == 0:  # the header block: WEBVTT and its header lines
            for lineno, line in block:
                if "-->" in line:
                    _fail(field, lineno, None, "a blank line must separate the WEBVTT header from the first cue")
            continue
        number = len(cues) + 1
        lineno, first = block[0]
        keyword = first.split(maxsplit=1)[0] if first.strip() else ""
        if keyword in ("NOTE", "STYLE", "REGION") and "-->" not in first:
            continue
        rest = block[1:]
        if "-->" not in first:  # a cue identifier
            if not rest or "-->" not in rest[0][1]:
                where_line = rest[0][0] if rest else lineno
                _fail(field, where_line, number, "expected a timing line 'HH:MM:SS.mmm --> HH:MM:SS.mmm'")
            (lineno, first), rest = rest[0], rest[1:]
        start_s, end_s = _timing(first, _VTT_TIME, "[HH:]MM:SS.mmm", field, lineno, number)
        for payload_line, t in rest:
            if "-->" in t:
                _fail(field, payload_line, number, "cue text must not contain '-->' (is a blank line missing?)")
        body = [html.unescape(_VTT_TAGS.sub("", t)) for _, t in rest]
        cues.append(_cue(start_s, end_s, body, number, lineno, field, limits))
        _check_count(cues, limits, field, lineno)
    return _finish(cues, field)


def parse_segments(segments: Sequence[SegmentLike], limits: CueLimits, field: str = "segments") -> list[Cue]:
    """Validate a JSON list of {start_s, end_s, text}."""
    if len(segments) > limits.max_cues:
        _limit(field, f"{len(segments)} segments; the limit is {limits.max_cues} (editing.max_subtitle_cues)")
    cues = []
    for i, seg in enumerate(segments):
        for lineno, ch in _bad_chars(seg.text):
            raise _error(f"{field}[{i}].text", None, None, f"line {lineno} of the text has control character {ch!r}")
        body = _SEGMENT_TAGS.sub("", seg.text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        cues.append(_cue(seg.start_s, seg.end_s, body, i + 1, None, field, limits))
    return _finish(cues, field)


# ---- writers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssStyle:
    """How burned-in subtitles look; sizes in pixels of the video frame."""

    font_family: str
    font_size: int
    color: Color
    outline_color: Color
    outline_width: float
    box_color: Color | None
    """An opaque (or translucent) box behind each cue; None for no box."""
    box_padding: float
    alignment: int
    """ASS numpad alignment: 2 bottom centre, 5 middle centre, 8 top centre."""
    margin_v: int
    margin_h: int


@dataclass(frozen=True)
class AssEvent:
    """One timed line of ASS event text, already escaped (`ass_escape`) and possibly carrying override tags."""

    start_s: float
    end_s: float
    text: str
    plain: str
    """The same text without override tags, drawn by the box layer (a box takes no karaoke colours)."""


def to_ass(cues: Sequence[Cue], style: AssStyle, width: int, height: int) -> str:
    """An ASS script for libass with one style (two with a box) and every cue's text escaped."""
    events = []
    for cue in sorted(cues, key=lambda c: (c.start_s, c.number)):
        text = ass_escape(cue.text)
        events.append(AssEvent(cue.start_s, cue.end_s, text, text))
    return ass_script(events, style, width, height)


def ass_script(events: Sequence[AssEvent], style: AssStyle, width: int, height: int) -> str:
    """An ASS script of `events` (in order) in `style`.

    PlayRes equals the frame size, so font sizes and margins are video pixels. With a box, each
    event is two: the box style on layer 0 and the outlined text on layer 1 (libass only
    moves colliding events of the same layer, so the two stay aligned).
    """
    fields = (
        "Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
        "MarginL, MarginR, MarginV, Encoding"
    )

    def style_line(name: str, border_style: int, outline: Color, outline_width: float) -> str:
        primary = style.color.ass
        return (
            f"Style: {name},{style.font_family},{style.font_size},{primary},{primary},{outline.ass},&H00000000,"
            f"0,0,0,0,100,100,0,0,{border_style},{outline_width:g},0,{style.alignment},"
            f"{style.margin_h},{style.margin_h},{style.margin_v},1"
        )

    styles = [style_line("Text", 1, style.outline_color, style.outline_width)]
    if style.box_color is not None:
        # BorderStyle 3 draws an opaque box in the outline colour, `Outline` pixels around the text.
        styles.insert(0, style_line("Box", 3, style.box_color, style.box_padding))
    lines = []
    for event in events:
        start, end = _ass_time(event.start_s), _ass_time(max(event.end_s, event.start_s + 0.01))
        if style.box_color is not None:
            lines.append(f"Dialogue: 0,{start},{end},Box,,0,0,0,,{event.plain}")
        lines.append(f"Dialogue: 1,{start},{end},Text,,0,0,0,,{event.text}")
    return "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {width}",
            f"PlayResY: {height}",
            "WrapStyle: 0",
            "ScaledBorderAndShadow: yes",
            # Colours are sRGB as given: no VSFilter-style colour-matrix mangling.
            "YCbCr Matrix: None",
            "",
            "[V4+ Styles]",
            f"Format: {fields}",
            *styles,
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
            *lines,
            "",
        ]
    )


def ass_escape(text: str) -> str:
    """Event text that libass shows literally.

    In ASS text `{` opens an override block (`{\\pos(0,0)}`) and `\\N`, `\\n`, `\\h` are escapes.
    Braces become libass's literal-brace escapes `\\{` and `\\}`; every user backslash is followed
    by a word joiner, so it can never pair with the next character; newlines become `\\N`.
    """
    text = text.replace("\\", "\\" + WORD_JOINER).replace("{", "\\{").replace("}", "\\}")
    return text.replace("\n", "\\N")


def to_webvtt(cues: Sequence[Cue]) -> str:
    """A WebVTT file (for a soft track in WebM, stream-copied as is); markup characters escaped."""
    out = ["WEBVTT", ""]
    for cue in sorted(cues, key=lambda c: (c.start_s, c.number)):
        out.append(f"{_clock(cue.start_s, '.')} --> {_clock(cue.end_s, '.')}")
        out.append(cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
        out.append("")
    return "\n".join(out) + "\n"


def to_srt(cues: Sequence[Cue]) -> str:
    """A SubRip file for ffmpeg to encode as a mov_text (MP4) track.

    ffmpeg's SubRip decoder reads `<i>`-style tags and `{\\...}` / `{Y:...}` override blocks, and
    its ASS layer reads `\\N`; a word joiner after the opening character of each such sequence
    keeps the text literal.
    """
    out = []
    for n, cue in enumerate(sorted(cues, key=lambda c: (c.start_s, c.number)), 1):
        out += [str(n), f"{_clock(cue.start_s, ',')} --> {_clock(cue.end_s, ',')}", _srt_escape(cue.text), ""]
    return "\n".join(out) + "\n"


def _srt_escape(text: str) -> str:
    return re.sub(r"\\(?=[nNh])|\{(?=\\|[CcFfoPSsYy]:)|<(?=[A-Za-z/])", lambda m: m.group() + WORD_JOINER, text)


# ---- internals ----------------------------------------------------------------------------------


def _lines(text: str, field: str) -> list[tuple[int, str]]:
    """Numbered lines with BOM and line endings normalised; control characters refused."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    for lineno, ch in _bad_chars(text):
        _fail(field, lineno, None, f"control character {ch!r} is not allowed")
    return list(enumerate(text.split("\n"), 1))


def _bad_chars(text: str) -> Iterator[tuple[int, str]]:
    """(line, character) of each control character other than tab and line breaks, and of lone surrogates."""
    for lineno, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        for ch in line:
            if ch != "\t" and unicodedata.category(ch) in ("Cc", "Cs"):
                yield lineno, ch


def _blocks(lines: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    block: list[tuple[int, str]] = []
    for lineno, line in lines:
        if _BLANK.match(line):
            if block:
                yield block
            block = []
        else:
            block.append((lineno, line))
    if block:
        yield block


def _timing(
    line: str, pattern: re.Pattern[str], shape: str, field: str, lineno: int, number: int
) -> tuple[float, float]:
    left, _, right = line.partition("-->")
    end_token = right.split()[0] if right.split() else ""  # what follows is cue settings / coordinates
    start_s = _timestamp(left.strip(), pattern, shape, "start", field, lineno, number)
    end_s = _timestamp(end_token, pattern, shape, "end", field, lineno, number)
    return start_s, end_s


def _timestamp(
    token: str, pattern: re.Pattern[str], shape: str, which: str, field: str, lineno: int, number: int
) -> float:
    match = pattern.match(token)
    if match is None:
        _fail(field, lineno, number, f"bad {which} timestamp {_show(token)}: expected {shape}")
    hours, minutes, seconds, millis = (int(g) if g else 0 for g in match.groups())
    if minutes > 59 or seconds > 59:
        _fail(field, lineno, number, f"bad {which} timestamp {_show(token)}: minutes and seconds must be 00-59")
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _cue(
    start_s: float, end_s: float, body: list[str], number: int, line: int | None, field: str, limits: CueLimits
) -> Cue:
    probe = Cue(start_s, end_s, "", number, line)
    text = "\n".join(s for s in (t.replace("\t", " ").strip() for t in body) if s)
    if end_s <= start_s:
        f, where_ = where(probe, field, "end_s")
        what = "equals" if end_s == start_s else "is before"
        raise _error(f, line, number, f"{where_}: end ({end_s:.3f} s) {what} start ({start_s:.3f} s)")
    if not text:
        f, where_ = where(probe, field, "text")
        raise _error(f, line, number, f"{where_}: the cue has no text")
    if len(text) > limits.max_text_chars:
        f, where_ = where(probe, field, "text")
        _limit(f, f"{where_}: {len(text)} characters; the limit is {limits.max_text_chars} (editing.max_text_chars)")
    return Cue(start_s, end_s, text, number, line)


def _check_count(cues: list[Cue], limits: CueLimits, field: str, lineno: int) -> None:
    # Checked while parsing, so a huge file stops at the first cue over the limit.
    if len(cues) > limits.max_cues:
        _limit(field, f"line {lineno}: more than {limits.max_cues} cues (editing.max_subtitle_cues)")


def _finish(cues: list[Cue], field: str) -> list[Cue]:
    if not cues:
        raise _error(field, None, None, "no cues found")
    return cues


def _fail(field: str, line: int | None, number: int | None, message: str) -> NoReturn:
    prefix = ", ".join(p for p in (f"line {line}" if line else "", f"cue {number}" if number else "") if p)
    raise _error(field, line, number, f"{prefix}: {message}" if prefix else message)


def _error(field: str, line: int | None, number: int | None, message: str) -> InvalidRequest:
    error: dict[str, object] = {"field": field, "message": message}
    if line is not None:
        error["line"] = line
    if number is not None:
        error["cue"] = number
    return InvalidRequest(f"invalid subtitles: {field}: {message}", code="invalid_subtitles", errors=[error])


def _limit(field: str, message: str) -> NoReturn:
    raise InvalidRequest(f"{field}: {message}", code="limit_exceeded", errors=[{"field": field, "message": message}])


def _show(token: str) -> str:
    return repr(token if len(token) <= 60 else token[:57] + "...")


def _clock(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _ass_time(seconds: float) -> str:
    cs = round(seconds * 100)
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"
