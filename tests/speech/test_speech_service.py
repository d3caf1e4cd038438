"""Submission checks of transcription, without the app: model choice, language, audio; and the job's pure parts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from videoapi.editing.captions import CueLimits, parse_srt, parse_vtt
from videoapi.errors import InvalidRequest
from videoapi.generation.registry import load_registry
from videoapi.settings import Settings
from videoapi.speech.jobs import extract_audio_args, write_transcript
from videoapi.speech.schemas import Segment, Transcript, Word
from videoapi.speech.service import WHISPER_LANGUAGES, decoding_language, pick_asr_model


def test_language_is_checked_against_the_model(make_settings: Callable[..., Settings]) -> None:
    registry = load_registry(make_settings())
    english = registry.asr["whisper-tiny.en"]
    multilingual = registry.asr["whisper-small"]
    assert decoding_language(english, "auto") == "en"
    assert decoding_language(english, "en") == "en"
    assert decoding_language(multilingual, "auto") is None
    assert decoding_language(multilingual, "zh") == "zh"
    for spec, language in ((english, "zh"), (multilingual, "xx")):
        with pytest.raises(InvalidRequest) as err:
            decoding_language(spec, language)
        assert err.value.code == "unsupported_option" and err.value.errors[0]["field"] == "language"


def test_the_language_list_is_that_of_whispers_tokenizer() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert frozenset(_LANGUAGE_CODES) == WHISPER_LANGUAGES


def test_the_default_model_is_the_registry_default(make_settings: Callable[..., Settings]) -> None:
    registry = load_registry(make_settings())
    assert pick_asr_model(registry, None).name == registry.defaults["asr"]
    assert pick_asr_model(registry, "whisper-small").name == "whisper-small"


def test_audio_is_extracted_as_16_khz_mono_pcm_of_the_first_audio_stream() -> None:
    args = extract_audio_args(Path("in.mp4"), Path("a.wav"))
    assert args[:2] == ["-i", "in.mp4"] and args[-1] == "a.wav"
    joined = " ".join(args)
    assert "-map 0:a:0" in joined and "-ac 1" in joined and "-ar 16000" in joined and "-c:a pcm_s16le" in joined


def test_transcript_files_parse_and_a_zero_length_segment_gets_a_short_cue(tmp_path: Path) -> None:
    words = [Word(start_s=1.0, end_s=1.0, word="<b>Hi", probability=0.5)]
    transcript = Transcript(
        language="en",
        language_probability=1.0,
        text="<b>Hi {\\an8}",
        duration_s=3.0,
        segments=[Segment(start_s=1.0, end_s=1.0, text="<b>Hi {\\an8}", words=words)],
    )
    files = dict((p.suffix, p) for p, _ in write_transcript(transcript, tmp_path))
    limits = CueLimits(10, 100)
    [srt] = parse_srt(files[".srt"].read_text(encoding="utf-8"), limits)
    [vtt] = parse_vtt(files[".vtt"].read_text(encoding="utf-8"), limits)
    assert (vtt.start_s, vtt.end_s) == (1.0, 1.01) and (srt.start_s, srt.end_s) == (1.0, 1.01)
    assert vtt.text == "<b>Hi {\\an8}"  # escaped in the file, so the text comes back as spoken
    assert '"duration_s":3.0' in files[".json"].read_text(encoding="utf-8")


def test_an_empty_transcript_writes_caption_files_without_cues(tmp_path: Path) -> None:
    empty = Transcript(language="en", language_probability=1.0, text="", duration_s=2.0, segments=[])
    files = dict((p.suffix, p) for p, _ in write_transcript(empty, tmp_path))
    assert files[".srt"].read_text(encoding="utf-8") == ""
    assert files[".vtt"].read_text(encoding="utf-8").strip() == "WEBVTT"
