"""Request and result types of POST /v1/video/transcribe and /v1/video/edit/captions."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing.schemas import Seconds
from videoapi.editing.subtitles import SubtitleStyle
from videoapi.media.encoding import Format, Quality
from videoapi.outputs.schemas import CommonOptions, WebhookUrl
from videoapi.tasks.schemas import Priority

Language = Annotated[str, Meta(pattern=r"^(auto|[a-z]{2,3})$", description="`auto` or an ISO 639-1 code")]


class TranscribeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Transcribe the speech of a video or audio input into text with segment and word timings,
    stored as SRT, WebVTT and JSON outputs."""

    input: InputRef
    language: Language = "auto"
    """`auto` detects the language from the first 30 s of speech; an ISO 639-1 code (`en`, `zh`) fixes it."""
    model: str | None = None
    """An ASR model of the registry (`videoapi models list`); None: `[defaults] asr`."""
    word_timestamps: bool = True
    """Time every word (cross-attention alignment); off: segments only, a little faster."""
    vad: bool = True
    """Skip silence with the Silero voice-activity detector before decoding (fewer hallucinations, faster)."""
    initial_prompt: Annotated[str, Meta(max_length=1000)] | None = None
    """Vocabulary hints (names, jargon) given to the decoder as preceding text."""
    priority: Priority = "normal"
    webhook_url: WebhookUrl | None = None


class Word(msgspec.Struct):
    start_s: float
    end_s: float
    word: str
    probability: float


class Segment(msgspec.Struct):
    start_s: float
    end_s: float
    text: str
    words: list[Word]


class Transcript(msgspec.Struct):
    language: str
    language_probability: float
    text: str
    duration_s: float
    """Length of the input's audio."""
    segments: list[Segment]


class CaptionStyle(SubtitleStyle, forbid_unknown_fields=True, kw_only=True):
    """The look of burned-in captions: everything of `edit/subtitles`' style, plus how words are grouped
    and highlighted. Grouping and line breaking also shape a soft track."""

    highlight: Literal["none", "word", "karaoke"] = "none"
    """`word`: the word being spoken takes `highlight_color`; `karaoke`: each word fills with it as it is
    spoken (ASS `\\kf`). Burn mode only."""
    highlight_color: str = "yellow"
    words_per_caption: Annotated[int, Meta(ge=1, le=3)] | None = None
    """1-3 words per caption (the short-video style); None: phrases of up to `max_lines` lines."""
    max_chars_per_line: Annotated[int, Meta(ge=8, le=200)] = 42
    """Line width in characters; a CJK (full-width) character counts as two."""
    max_lines: Annotated[int, Meta(ge=1, le=4)] = 2
    uppercase: bool = False


class CaptionWord(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start_s: Seconds
    end_s: Seconds
    word: Annotated[str, Meta(min_length=1, max_length=1000)]
    probability: float | None = None
    """Ignored; accepted so that a transcript's segments can be sent back as they are."""


class CaptionSegment(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A transcript segment; without `words`, word timings are spread over it by character count."""

    start_s: Seconds
    end_s: Seconds
    text: Annotated[str, Meta(max_length=100_000)]
    words: Annotated[list[CaptionWord], Meta(max_length=10_000)] | None = None
    """When given, the words are what is drawn, at their times (`text` goes to the transcript outputs)."""


class CaptionsRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Transcribe a video's speech and draw it as captions in one task: burned in (libass, with word
    highlighting or karaoke) or as a soft track. The transcript is stored too (SRT, WebVTT, JSON). Give
    `segments` (e.g. a corrected transcript) to render them instead of transcribing."""

    input: InputRef
    mode: Literal["burn", "soft"] = "burn"
    style: CaptionStyle = msgspec.field(default_factory=CaptionStyle)
    language: Language = "auto"
    """Language of the speech, as for transcribe; it also tags a soft track and picks a regional CJK font."""
    model: str | None = None
    """An ASR model of the registry; None: `[defaults] asr`. Not used with `segments`."""
    vad: bool = True
    initial_prompt: Annotated[str, Meta(max_length=1000)] | None = None
    segments: Annotated[list[CaptionSegment], Meta(min_length=1, max_length=100_000)] | None = None
    """The transcript to draw; None: transcribe the input."""
    format: Format = "mp4"
    quality: Quality = "medium"
