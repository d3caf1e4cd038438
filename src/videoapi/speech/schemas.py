"""Request and result types of POST /v1/video/transcribe."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.outputs.schemas import WebhookUrl
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
