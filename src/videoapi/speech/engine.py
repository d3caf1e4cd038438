"""faster-whisper (CTranslate2) over a 16 kHz mono WAV, one bounded window at a time.

faster-whisper decodes its whole input into memory before it starts (about 230 MB of float32 per
hour), so the job extracts the audio once with ffmpeg and this module feeds it `speech.chunk_s` at a
time: memory stays flat whatever the length. Each cut moves to the quietest 20 ms of the window's last
10 s, so a cut rarely falls inside a word; the times of each window are shifted by its offset.
"""

from __future__ import annotations

import threading
import wave
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from videoapi.errors import ProcessingError
from videoapi.generation.registry import AsrSpec
from videoapi.media.encoding import usable_cpus
from videoapi.settings import Settings
from videoapi.speech.schemas import Segment, Transcript, Word

SAMPLE_RATE = 16000
_CUT_SEARCH_S = 10.0
_CUT_FRAME = SAMPLE_RATE // 50  # 20 ms


@dataclass(frozen=True)
class Options:
    language: str | None
    """None: detect it (from the first window; later windows keep what it found)."""
    word_timestamps: bool = True
    vad: bool = True
    initial_prompt: str | None = None


class Stopped(Exception):
    """The task left while its transcription ran (canceled, timed out): the thread stops at the next segment."""


def pick_device(spec: AsrSpec, settings: Settings) -> tuple[str, str]:
    """(device, compute type): int8 on the CPU, float16 on a GPU unless the registry entry says otherwise."""
    wanted = spec.device or settings.generation.device
    if wanted == "auto":
        import ctranslate2

        wanted = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return wanted, spec.cuda_compute_type if wanted == "cuda" else spec.cpu_compute_type


def cpu_threads(settings: Settings) -> int:
    """`speech.cpu_threads`, or the cores this process may run on (CTranslate2's own default is 4)."""
    if settings.speech.cpu_threads > 0:
        return settings.speech.cpu_threads
    return usable_cpus()


class Transcriber:
    """Loaded faster-whisper models (at most `speech.max_loaded_models`) and chunked transcription."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loaded: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def model(self, spec: AsrSpec, weights: Path) -> Any:
        """The WhisperModel of `spec`, loaded once per process from `weights` (never downloaded)."""
        device, compute_type = pick_device(spec, self.settings)
        key = (str(weights), device, compute_type)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            from faster_whisper import WhisperModel

            try:
                loaded = WhisperModel(
                    str(weights),
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=cpu_threads(self.settings),
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise ProcessingError(
                    f"ASR model {spec.name} could not be loaded on {device} ({compute_type}): {exc}",
                    code="model_misconfigured",
                ) from exc
            self._loaded[key] = loaded
            while len(self._loaded) > max(1, self.settings.speech.max_loaded_models):
                self._loaded.popitem(last=False)
            return loaded

    def transcribe(
        self,
        model: Any,
        wav: Path,
        options: Options,
        on_progress: Callable[[float], None] = lambda _: None,
        stop: threading.Event | None = None,
    ) -> Transcript:
        """Transcribe a 16 kHz mono 16-bit WAV window by window; progress is the decoded position over its length."""
        with wave.open(str(wav), "rb") as reader:
            duration_s = reader.getnframes() / SAMPLE_RATE
        language = options.language
        probability = 1.0 if language is not None else 0.0
        segments: list[Segment] = []
        for offset_s, audio in windows(wav, self.settings.speech.chunk_s):
            if stop is not None and stop.is_set():
                raise Stopped
            pieces, info = model.transcribe(
                audio,
                language=language,
                word_timestamps=options.word_timestamps,
                vad_filter=options.vad,
                initial_prompt=options.initial_prompt,
            )
            if language is None:
                language, probability = info.language, float(info.language_probability)
            for piece in pieces:  # a generator: decoding happens while it is iterated
                if stop is not None and stop.is_set():
                    raise Stopped
                segment = _segment(piece, offset_s)
                if segment is not None:
                    segments.append(segment)
                if duration_s > 0:
                    on_progress((offset_s + piece.end) / duration_s)
            on_progress((offset_s + len(audio) / SAMPLE_RATE) / duration_s if duration_s > 0 else 1.0)
        return Transcript(
            language=language or "",
            language_probability=round(probability, 4),
            text=" ".join(s.text for s in segments),
            duration_s=round(duration_s, 3),
            segments=segments,
        )


def windows(wav: Path, chunk_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """(offset in seconds, float32 samples) of consecutive windows of at most `chunk_s` of a 16 kHz mono WAV."""
    with wave.open(str(wav), "rb") as reader:
        if reader.getframerate() != SAMPLE_RATE or reader.getnchannels() != 1 or reader.getsampwidth() != 2:
            raise ProcessingError("the extracted audio is not 16 kHz mono 16-bit PCM", code="processing_failed")
        chunk = max(int(chunk_s * SAMPLE_RATE), 2 * _CUT_FRAME)
        search = min(int(_CUT_SEARCH_S * SAMPLE_RATE), chunk // 2)
        carry = np.zeros(0, dtype="<i2")
        offset = 0
        while True:
            wanted = chunk - len(carry)
            data = np.frombuffer(reader.readframes(wanted), dtype="<i2")
            buf = np.concatenate([carry, data])
            if len(data) < wanted:  # the end of the file
                if len(buf):
                    yield offset / SAMPLE_RATE, buf.astype(np.float32) / 32768.0
                return
            cut = quietest_cut(buf, search)
            yield offset / SAMPLE_RATE, buf[:cut].astype(np.float32) / 32768.0
            carry = buf[cut:].copy()
            offset += cut


def quietest_cut(samples: np.ndarray, search: int) -> int:
    """Index in `samples` of the middle of the quietest 20 ms frame of its last `search` samples."""
    frames = search // _CUT_FRAME
    if frames == 0:
        return len(samples)
    start = len(samples) - frames * _CUT_FRAME
    tail = samples[start:].astype(np.float32).reshape(frames, _CUT_FRAME)
    quietest = int(np.argmin(np.square(tail).sum(axis=1)))
    return start + quietest * _CUT_FRAME + _CUT_FRAME // 2


def _segment(piece: Any, offset_s: float) -> Segment | None:
    text = piece.text.strip()
    if not text:
        return None
    words = [
        Word(
            start_s=round(offset_s + float(w.start), 3),
            end_s=round(offset_s + float(w.end), 3),
            word=w.word.strip(),
            probability=round(float(w.probability), 4),
        )
        for w in piece.words or ()
        if w.word.strip()
    ]
    return Segment(
        start_s=round(offset_s + float(piece.start), 3),
        end_s=round(offset_s + float(piece.end), 3),
        text=text,
        words=words,
    )
