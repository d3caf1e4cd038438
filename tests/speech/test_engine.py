"""The engine's windows: bounded, contiguous, cut in the quietest place; times shifted by each window's offset."""

from __future__ import annotations

import itertools
import threading
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from videoapi.errors import ProcessingError
from videoapi.settings import load_settings
from videoapi.speech.engine import SAMPLE_RATE, Options, Stopped, Transcriber, quietest_cut, windows


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def tone_with_gaps(seconds: float, gaps_at_s: list[float]) -> np.ndarray:
    """A loud tone with 100 ms of digital silence centred on each of `gaps_at_s`."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    samples = (np.sin(2 * np.pi * 300 * t) * 20000).astype(np.int16)
    for at in gaps_at_s:
        samples[int((at - 0.05) * SAMPLE_RATE) : int((at + 0.05) * SAMPLE_RATE)] = 0
    return samples


def test_windows_cover_the_audio_once_in_order_and_cut_in_the_silences(tmp_path: Path) -> None:
    samples = tone_with_gaps(25.0, [8.0, 15.5])
    wav = write_wav(tmp_path / "a.wav", samples)
    got = list(windows(wav, chunk_s=10.0))
    offsets = [offset for offset, _ in got]
    assert offsets[0] == 0.0
    # Cuts land in the gaps (the quietest 20 ms of each window's last 5 s), not at 10 s and 20 s.
    assert abs(offsets[1] - 8.0) < 0.05 and abs(offsets[2] - 15.5) < 0.05, offsets
    assert all(len(audio) <= 10 * SAMPLE_RATE for _, audio in got)
    joined = np.concatenate([audio for _, audio in got])
    assert np.array_equal(joined, samples.astype(np.float32) / 32768.0)
    for (offset, audio), (next_offset, _) in itertools.pairwise(got):
        assert offset + len(audio) / SAMPLE_RATE == pytest.approx(next_offset)


def test_a_short_file_is_one_window_and_an_empty_one_none(tmp_path: Path) -> None:
    short = write_wav(tmp_path / "short.wav", tone_with_gaps(3.0, []))
    assert [(o, len(a)) for o, a in windows(short, 300.0)] == [(0.0, 3 * SAMPLE_RATE)]
    assert list(windows(write_wav(tmp_path / "empty.wav", np.zeros(0)), 300.0)) == []


def test_windows_refuse_audio_that_is_not_16_khz_mono(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "stereo.wav", np.zeros(4800), rate=48000, channels=2)
    with pytest.raises(ProcessingError):
        list(windows(wav, 300.0))


def test_quietest_cut_is_the_middle_of_the_quietest_frame() -> None:
    samples = np.full(SAMPLE_RATE, 1000, dtype=np.int16)
    samples[12160:12480] = 0  # one 20 ms frame of silence on the search grid (which starts at 16000 - 8000)
    assert quietest_cut(samples, search=8000) == 12320


class RecordingModel:
    """Stands in for WhisperModel: returns one segment 1-2 s into every window, and records the calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: np.ndarray, **kw: Any) -> tuple[Any, Any]:
        self.calls.append({"samples": len(audio), **kw})
        word = SimpleNamespace(start=1.0, end=1.5, word=" hello", probability=0.9)
        segment = SimpleNamespace(start=1.0, end=2.0, text=f" window {len(self.calls)}", words=[word])
        return iter([segment]), SimpleNamespace(language="de", language_probability=0.75)


def test_transcribe_shifts_each_window_by_its_offset_and_keeps_the_detected_language(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", tone_with_gaps(25.0, [8.0, 15.5]))
    settings = load_settings(environ={"VIDEOAPI_SPEECH__CHUNK_S": "10"})
    model = RecordingModel()
    progress: list[float] = []
    transcript = Transcriber(settings).transcribe(model, wav, Options(language=None), progress.append)
    starts = [s.start_s for s in transcript.segments]
    assert starts == pytest.approx([1.0, 9.0, 16.5], abs=0.05)
    assert [s.words[0].start_s for s in transcript.segments] == starts
    assert transcript.segments[0].words[0].word == "hello"
    assert transcript.text == "window 1 window 2 window 3"
    assert (transcript.language, transcript.language_probability) == ("de", 0.75)
    # Detected once, on the first window; the later windows are decoded in that language.
    assert [c["language"] for c in model.calls] == [None, "de", "de"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert transcript.duration_s == 25.0


def test_a_set_stop_event_ends_the_transcription_at_the_next_segment(tmp_path: Path) -> None:
    """The job sets the event when its task is canceled or times out: the worker thread stops decoding."""
    wav = write_wav(tmp_path / "a.wav", tone_with_gaps(25.0, [8.0, 15.5]))
    settings = load_settings(environ={"VIDEOAPI_SPEECH__CHUNK_S": "10"})
    model = RecordingModel()
    stop = threading.Event()
    with pytest.raises(Stopped):
        Transcriber(settings).transcribe(model, wav, Options("en"), lambda _: stop.set(), stop)
    assert len(model.calls) == 1  # the first window's first segment set it; no later window was decoded
