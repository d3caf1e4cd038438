"""edit/captions planning: timed words -> captions (grouped, line-broken) -> one ffmpeg pass.

Pure, like every planner: the worker transcribes first and hands the transcript in as the request's
`segments`. Burning reuses edit/subtitles' style and libass pass (`plan_burn`), with ASS override tags
for the highlighted or karaoke-filled word; a soft track reuses its mov_text/WebVTT pass (`plan_soft`).

Line widths count a full-width (CJK) character as two columns. CJK text has no spaces between words, so
it breaks between any two characters (never before closing punctuation), and no space is put between
two pieces when either side is CJK.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from videoapi.assets.schemas import InputRef
from videoapi.editing.captions import AssEvent, AssStyle, Cue, CueLimits, ass_escape, ass_script, parse_segments
from videoapi.editing.kinds import EditKind
from videoapi.editing.plan import even
from videoapi.editing.source import Source
from videoapi.editing.subtitles import NOMINAL_SIZE, fit_to_input, plan_burn, plan_soft, subtitle_style
from videoapi.errors import InvalidRequest
from videoapi.media.colors import Color, parse_color
from videoapi.media.fonts import needs_cjk
from videoapi.media.plan import Plan
from videoapi.settings import Settings
from videoapi.speech.schemas import (
    CaptionSegment,
    CaptionsRequest,
    CaptionStyle,
    CaptionWord,
    Segment,
    Transcript,
    Word,
)
from videoapi.speech.transcript import transcript_files

KIND = "edit.captions"
PAUSE_S = 1.0
"""A silence this long between two words starts a new caption (phrase grouping)."""
JOIN_GAP_S = 0.4
"""A caption is held until the next one when the gap between them is shorter (no flicker between words)."""
MIN_CAPTION_S = 0.2
_WORD_SLACK_S = 0.05
# Opening brackets, ASCII and CJK (angle, double angle, corner, white corner, lenticular, full-width), kept
# with the character after them.
_OPENING = frozenset("([{\u3008\u300a\u300c\u300e\u3010\uff08")
# ISO 639-1 (ASR) -> ISO 639-2/B (a soft track's language tag, the regional CJK font of edit/subtitles).
_ISO_639_2 = {
    "en": "eng", "zh": "chi", "ja": "jpn", "ko": "kor", "de": "ger", "fr": "fre", "es": "spa", "it": "ita",
    "pt": "por", "ru": "rus", "ar": "ara", "hi": "hin", "nl": "dut", "pl": "pol", "tr": "tur", "vi": "vie",
    "yue": "chi",
}  # fmt: skip


@dataclass(frozen=True)
class Piece:
    """The smallest unit a line may break around: a word, or one character of CJK text."""

    text: str
    start_s: float
    end_s: float
    word: int
    """Index of the word it belongs to in its segment (a CJK word's characters share one)."""
    space_before: bool


@dataclass(frozen=True)
class Caption:
    start_s: float
    end_s: float
    lines: tuple[tuple[Piece, ...], ...]

    @property
    def pieces(self) -> list[Piece]:
        return [p for line in self.lines for p in line]

    @property
    def text(self) -> str:
        return "\n".join(line_text(line) for line in self.lines)


# ---- text ---------------------------------------------------------------------------------------


def width(text: str) -> int:
    """Display columns: two for a wide or full-width character, none for a combining mark."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text
    )


def _joins_without_space(before: str, after: str) -> bool:
    return bool(before) and bool(after) and (needs_cjk(before[-1]) or needs_cjk(after[0]))


def line_text(pieces: Sequence[Piece]) -> str:
    out = ""
    for piece in pieces:
        if out and piece.space_before and not _joins_without_space(out, piece.text):
            out += " "
        out += piece.text
    return out


def split_word(text: str) -> list[str]:
    """A word's breakable parts: CJK characters one by one, other runs whole. Punctuation stays with the
    character before it (no line starts with a full-width comma or full stop) and an opening bracket with
    the one after it."""
    parts: list[str] = []
    for ch in text:
        punct = unicodedata.category(ch).startswith("P") and ch not in _OPENING
        latin_run = parts and not (needs_cjk(ch) or needs_cjk(parts[-1][-1]))
        if parts and (parts[-1][-1] in _OPENING or punct or latin_run):
            parts[-1] += ch
        else:
            parts.append(ch)
    return parts


def _spread(parts: list[str], start_s: float, end_s: float) -> list[tuple[str, float, float]]:
    """Times for `parts` spread over [start_s, end_s] in proportion to their lengths."""
    total = sum(len(p) for p in parts) or 1
    out, done = [], 0
    for part in parts:
        a = start_s + (end_s - start_s) * done / total
        done += len(part)
        out.append((part, a, start_s + (end_s - start_s) * done / total))
    return out


def segment_pieces(seg: CaptionSegment, uppercase: bool) -> list[Piece]:
    """The pieces of a segment: from its words when it has them, else from its text, with times spread
    over the segment by character count (each CJK character then counts as a word)."""
    if seg.words:
        words = [(w.word.strip(), w.start_s, w.end_s) for w in seg.words if w.word.strip()]
    else:
        tokens = [t for t in seg.text.split() if t]
        words = []
        for token, a, b in _spread(tokens, seg.start_s, seg.end_s):
            words += (
                [(p, pa, pb) for p, pa, pb in _spread(split_word(token), a, b)] if needs_cjk(token) else [(token, a, b)]
            )
    pieces = []
    for index, (text, start_s, end_s) in enumerate(words):
        shown = text.upper() if uppercase else text
        for i, (part, a, b) in enumerate(_spread(split_word(shown), start_s, end_s)):
            pieces.append(Piece(part, round(a, 3), round(b, 3), index, i == 0))
    return pieces


# ---- grouping -----------------------------------------------------------------------------------


def break_lines(pieces: Sequence[Piece], max_chars: int) -> list[tuple[Piece, ...]]:
    """Greedy lines of at most `max_chars` columns; a piece wider than a line gets one to itself."""
    lines: list[list[Piece]] = []
    for piece in pieces:
        if lines and width(line_text([*lines[-1], piece])) <= max_chars:
            lines[-1].append(piece)
        else:
            lines.append([piece])
    return [tuple(line) for line in lines]


def _runs_at_pauses(pieces: Sequence[Piece]) -> Iterator[list[Piece]]:
    run: list[Piece] = []
    for piece in pieces:
        if run and piece.start_s - run[-1].end_s >= PAUSE_S:
            yield run
            run = []
        run.append(piece)
    if run:
        yield run


def _by_words(pieces: Sequence[Piece], n: int) -> Iterator[list[Piece]]:
    group: list[Piece] = []
    words: set[int] = set()
    for piece in pieces:
        if piece.word not in words and len(words) == n:
            yield group
            group, words = [], set()
        group.append(piece)
        words.add(piece.word)
    if group:
        yield group


def group_captions(segments: Sequence[CaptionSegment], style: CaptionStyle) -> list[Caption]:
    """Captions of `segments`: `words_per_caption` words each, or phrases of up to `max_lines` lines
    (split at pauses); a caption never spans two segments."""
    captions = []
    for seg in segments:
        pieces = segment_pieces(seg, style.uppercase)
        if style.words_per_caption is not None:
            for group in _by_words(pieces, style.words_per_caption):
                captions.append(_caption(break_lines(group, style.max_chars_per_line)))
            continue
        for run in _runs_at_pauses(pieces):
            lines = break_lines(run, style.max_chars_per_line)
            for i in range(0, len(lines), style.max_lines):
                captions.append(_caption(lines[i : i + style.max_lines]))
    return _settle(sorted(captions, key=lambda c: c.start_s))


def _caption(lines: Sequence[tuple[Piece, ...]]) -> Caption:
    return Caption(lines[0][0].start_s, lines[-1][-1].end_s, tuple(lines))


def _settle(captions: list[Caption]) -> list[Caption]:
    """One caption at a time: each ends where the next starts if they overlap or the gap is short, and
    lasts at least MIN_CAPTION_S when there is room."""
    settled = []
    for i, cap in enumerate(captions):
        nxt = captions[i + 1].start_s if i + 1 < len(captions) else None
        end = max(cap.end_s, cap.start_s + MIN_CAPTION_S)
        if nxt is not None and (end > nxt or nxt - end < JOIN_GAP_S):
            end = max(nxt, cap.start_s + 0.01)
        settled.append(Caption(cap.start_s, round(end, 3), cap.lines))
    return settled


# ---- ASS events ---------------------------------------------------------------------------------


def _colour_tags(slot: int, color: Color) -> str:
    return f"\\{slot}c&H{color.b:02X}{color.g:02X}{color.r:02X}&\\{slot}a&H{255 - color.a:02X}&"


def _escaped_line_parts(caption: Caption) -> Iterator[tuple[Piece, str]]:
    """(piece, its escaped text with the separator before it: a space, `\\N` at a line start, or nothing)."""
    for n, line in enumerate(caption.lines):
        before = ""
        for i, piece in enumerate(line):
            sep = (
                ("\\N" if n else "")
                if i == 0
                else (" " if piece.space_before and not _joins_without_space(before, piece.text) else "")
            )
            before += piece.text
            yield piece, sep + ass_escape(piece.text)


def caption_events(captions: Sequence[Caption], highlight: str, base: Color, lit: Color) -> list[AssEvent]:
    """The ASS events of `captions`: one per caption, or (`word`) one per word with that word coloured."""
    events = []
    for cap in captions:
        parts = list(_escaped_line_parts(cap))
        plain = "".join(text for _, text in parts)
        if highlight == "karaoke":
            events.append(AssEvent(cap.start_s, cap.end_s, _karaoke(cap, parts, base, lit), plain))
        elif highlight == "word":
            events += _word_events(cap, parts, lit, plain)
        else:
            events.append(AssEvent(cap.start_s, cap.end_s, plain, plain))
    return events


def _cs(seconds: float) -> int:
    return round(seconds * 100)


def _karaoke(cap: Caption, parts: list[tuple[Piece, str]], base: Color, lit: Color) -> str:
    """`\\kf` per piece, timed from the caption's start in centiseconds (positions rounded, not lengths,
    so that rounding never drifts); a silence before a piece is an empty `\\k` syllable. Karaoke fills
    from the secondary colour (not yet spoken) to the primary one (spoken)."""
    out = "{" + _colour_tags(1, lit) + _colour_tags(2, base) + "}"
    at = _cs(cap.start_s)
    for piece, text in parts:
        start, end = max(_cs(piece.start_s), at), max(_cs(piece.end_s), _cs(piece.start_s), at)
        if start > at:
            out += f"{{\\k{start - at}}}"
        out += f"{{\\kf{end - start}}}{text}"
        at = end
    return out


def _word_events(cap: Caption, parts: list[tuple[Piece, str]], lit: Color, plain: str) -> list[AssEvent]:
    """From each word's start to the next word's start (the first from the caption's start, the last to its
    end), the caption with that word in the highlight colour."""
    words = sorted({p.word for p, _ in parts})
    starts = {w: min(p.start_s for p, _ in parts if p.word == w) for w in words}
    events = []
    for i, word in enumerate(words):
        a = cap.start_s if i == 0 else starts[word]
        b = starts[words[i + 1]] if i + 1 < len(words) else cap.end_s
        if b <= a:
            continue
        text = ""
        for piece, escaped in parts:
            if piece.word == word:
                sep = escaped[: len(escaped) - len(ass_escape(piece.text))]
                text += sep + "{" + _colour_tags(1, lit) + "}" + ass_escape(piece.text) + "{\\r}"
            else:
                text += escaped
        events.append(AssEvent(a, b, text, plain))
    return events


# ---- the request --------------------------------------------------------------------------------


def check_segments(req: CaptionsRequest, settings: Settings) -> None:
    """The given segments (text, times, limits as edit/subtitles checks them) and their words: each inside
    its segment, in order. A 422 names the field. (An empty list, a silent input's transcript, is only
    made by the worker: the request schema wants one segment at least.)"""
    if not req.segments:
        return
    parse_segments(req.segments, _limits(settings))
    for i, seg in enumerate(req.segments):
        last = seg.start_s - _WORD_SLACK_S
        for j, w in enumerate(seg.words or ()):
            field = f"segments[{i}].words[{j}]"
            if w.end_s < w.start_s:
                _bad(f"{field}.end_s", f"ends ({w.end_s:.3f} s) before it starts ({w.start_s:.3f} s)")
            if w.start_s < last:
                _bad(f"{field}.start_s", "words must be in order and inside their segment")
            if w.end_s > seg.end_s + _WORD_SLACK_S:
                _bad(f"{field}.end_s", f"ends after its segment ({seg.end_s:.3f} s)")
            if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in w.word):
                _bad(f"{field}.word", "control characters are not allowed")
            last = w.start_s


def _bad(field: str, message: str) -> NoReturn:
    raise InvalidRequest(
        f"invalid captions: {field}: {message}",
        code="invalid_subtitles",
        errors=[{"field": field, "message": message}],
    )


def _limits(settings: Settings) -> CueLimits:
    return CueLimits(settings.editing.max_subtitle_cues, settings.editing.max_text_chars)


def check_captions(req: CaptionsRequest, settings: Settings) -> None:
    """What can be checked before the input is probed: segments, the mode and the style."""
    check_segments(req, settings)
    if req.mode == "soft" and req.style.highlight != "none":
        raise InvalidRequest(
            "word highlighting needs burned-in captions: a soft track is styled by the player",
            code="unsupported_option",
            errors=[{"field": "style.highlight", "message": "only `none` with mode `soft`"}],
        )
    if req.mode == "burn":
        _styles(req, _sample_text(req), *NOMINAL_SIZE, settings)


def _sample_text(req: CaptionsRequest) -> str:
    return "\n".join(s.text for s in req.segments or ())


def _styles(req: CaptionsRequest, text: str, width: int, height: int, settings: Settings) -> tuple[AssStyle, Color]:
    language = track_language(req.language)
    ass = subtitle_style(req.style, text, language, width, height, settings)
    return ass, parse_color(req.style.highlight_color, "style.highlight_color")


def track_language(language: str) -> str:
    """The ISO 639-2 tag of an ASR language code (`und` when unknown or `auto`)."""
    return _ISO_639_2.get(language, "und")


def caption_texts(req: CaptionsRequest, settings: Settings) -> Iterable[tuple[str, str]]:
    """Text the captions will show that is not in a screened field (words), and the prompt hints."""
    if req.initial_prompt:
        yield "initial_prompt", req.initial_prompt
    for i, seg in enumerate(req.segments or ()):
        if seg.words:
            yield f"segments[{i}].words", " ".join(w.word for w in seg.words)


def plan_captions(req: CaptionsRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    """The captions pass over `req.segments` (None at submission before transcribing: planned as if
    there were captions, so that the limits of the real pass are checked)."""
    src, media = sources[0].path, sources[0].media
    if media.video is None or media.is_image:
        raise InvalidRequest(
            "the input has no video to caption",
            code="input_not_video",
            errors=[{"field": "input", "message": "the input has no video to caption; give a video"}],
        )
    check_captions(req, settings)
    segments = list(req.segments or ())
    if req.segments:
        # A caption past the end is a mistake in the given segments worth a 422 (as in edit/subtitles).
        fit_to_input(parse_segments(segments, _limits(settings)), media.duration_s, "segments")
    captions = [c for c in group_captions(segments, req.style) if c.start_s < media.duration_s]
    captions = [Caption(c.start_s, min(c.end_s, media.duration_s), c.lines) for c in captions]
    language = track_language(req.language)
    if req.mode == "soft" or (req.segments is not None and not captions):
        # No captions (a silent input) is the input's streams, copied where the container allows.
        cues = [Cue(c.start_s, c.end_s, c.text, n) for n, c in enumerate(captions, 1)]
        plan = plan_soft(cues, language, req.format, req.quality, media, src, out_dir, settings)
    else:
        w, h = even(media.video.width), even(media.video.height)
        text = "\n".join(c.text for c in captions) or _sample_text(req)
        style, lit = _styles(req, text, w, h, settings)
        events = caption_events(captions, req.style.highlight, style.color, lit)
        plan = plan_burn(ass_script(events, style, w, h), req.format, req.quality, media, src, out_dir, settings)
    return plan


def with_transcript(plan: Plan, transcript: Transcript, out_dir: Path) -> Plan:
    """`plan` also writing the transcript's SRT, WebVTT and JSON, stored as outputs after the video."""
    files = transcript_files(transcript, out_dir)
    return dataclasses.replace(
        plan,
        files={**plan.files, **{path: text for path, text, _ in files}},
        documents=[*plan.documents, *((path, ct) for path, _, ct in files)],
    )


def transcript_of(req: CaptionsRequest, duration_s: float) -> Transcript:
    """The transcript of given segments (no ASR ran): words as given, or spread as the captions spread them."""
    segments = []
    for seg in req.segments or ():
        if seg.words:
            words = [Word(w.start_s, w.end_s, w.word, w.probability if w.probability is not None else 1.0)
                     for w in seg.words]  # fmt: skip
        else:
            words = []
        segments.append(Segment(seg.start_s, seg.end_s, seg.text.strip(), words))
    return Transcript(
        language="" if req.language == "auto" else req.language,
        language_probability=1.0 if req.language != "auto" else 0.0,
        text=" ".join(s.text for s in segments),
        duration_s=round(duration_s, 3),
        segments=segments,
    )


def segments_of(transcript: Transcript) -> list[CaptionSegment]:
    """A transcript as the request's segments, each at least 10 ms long (as its caption files are)."""
    out = []
    for seg in transcript.segments:
        end_s = max(seg.end_s, round(seg.start_s + 0.01, 3))
        words = [CaptionWord(start_s=w.start_s, end_s=max(w.end_s, w.start_s), word=w.word) for w in seg.words]
        out.append(CaptionSegment(start_s=seg.start_s, end_s=end_s, text=seg.text, words=words or None))
    return out


def _single(req: CaptionsRequest) -> list[InputRef]:
    return [req.input]


CAPTIONS = EditKind(
    KIND,
    "captions",
    CaptionsRequest,
    "Transcribe speech and burn it in as captions (word highlight, karaoke) or add it as a soft track",
    _single,
    plan_captions,
    check_captions,
    drawn=caption_texts,
)
"""The edit kind of captions, for the edit submission and render steps (its route and job are speech's)."""
