"""Neural text-to-speech in its own process: `python -m videoapi.media.synthesize --manifest FILE`.

The `before` command of a request's neural narrations: the manifest (JSON, written by the planner)
lists each narration's checkpoint, UTF-8 text file and WAV to write. Each checkpoint (transformers
`VitsModel`) is loaded once and speaks on the CPU one sentence at a time; each WAV is mono 16-bit at
the model's sampling rate, which the ffmpeg pass resamples and mixes. One process for all of them
pays the torch import once (about 10 s on a loaded 2-core machine); a process of its own keeps torch
out of the worker's memory between tasks and lets the job's timeout and cancel kill it like espeak-ng.
Nothing is downloaded: the hub is switched off before transformers is imported.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

SENTENCE_GAP_S = 0.2
"""Silence between two sentences, which are synthesised one at a time (bounded attention memory)."""
# Sentence ends in Latin and CJK text, and line breaks.
_SENTENCE_END = re.compile(r"(?<=[.!?;\u3002\uff01\uff1f\uff1b])\s*|\n+")
# Full-width punctuation as the ASCII a tokenizer's alphabet holds.
_FULL_WIDTH = str.maketrans("，。！？；：、（）", ",.!?;:,()")  # noqa: RUF001


def frontend(text: str, mode: str) -> str:
    """The text as the model reads it: unchanged (`plain`), or hanzi as tone-marked pinyin (`pinyin`)."""
    if mode == "pinyin":
        from pypinyin import Style, lazy_pinyin

        # Syllables joined without spaces, as the checkpoint's own card feeds it (BricksDisplay/vits-cmn).
        text = "".join(lazy_pinyin(text, style=Style.TONE, tone_sandhi=True)).translate(_FULL_WIDTH)
    return text


def sentences(text: str) -> list[str]:
    """The text cut after each sentence end and at line breaks; empty pieces dropped."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece and piece.strip()]


def speakable(text: str, alphabet: frozenset[str]) -> bool:
    """Whether anything of `text` (lower-cased, as the tokenizer normalises it) is a letter of the voice."""
    return any(ch in alphabet for ch in text.lower() if ch.isalnum())


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Float samples in [-1, 1] as a mono 16-bit PCM WAV."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


class Job(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One narration of the manifest."""

    weights: str
    text_file: str
    out: str
    text: str = "plain"
    speaking_rate: float = 1.0
    speaker_id: int | None = None


def synthesize(
    weights: Path, text: str, *, mode: str, speaking_rate: float, speaker_id: int | None, threads: int
) -> tuple[np.ndarray, int]:
    """(float32 samples, sampling rate) of `text` spoken by the checkpoint in `weights`."""
    return _Voices(threads).speak(weights, text, mode=mode, speaking_rate=speaking_rate, speaker_id=speaker_id)


class _Voices:
    """Checkpoints loaded once per process."""

    def __init__(self, threads: int) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch

        if threads > 0:
            torch.set_num_threads(threads)
        self._loaded: dict[Path, tuple[Any, Any]] = {}

    def _load(self, weights: Path) -> tuple[Any, Any]:
        if weights not in self._loaded:
            from transformers import VitsModel, VitsTokenizer

            model = VitsModel.from_pretrained(weights, local_files_only=True).eval()
            self._loaded[weights] = (model, VitsTokenizer.from_pretrained(weights, local_files_only=True))
        return self._loaded[weights]

    def speak(
        self, weights: Path, text: str, *, mode: str, speaking_rate: float, speaker_id: int | None
    ) -> tuple[np.ndarray, int]:
        import torch

        model, tokenizer = self._load(weights)
        model.speaking_rate = speaking_rate
        rate = int(model.config.sampling_rate)
        gap = np.zeros(round(SENTENCE_GAP_S * rate), dtype=np.float32)
        extra = {} if speaker_id is None else {"speaker_id": speaker_id}
        # VITS samples its durations and its noise: a fixed seed makes the same request sound the same.
        torch.manual_seed(0)
        pieces: list[np.ndarray] = []
        for sentence in sentences(frontend(text, mode)):
            ids = tokenizer(sentence, return_tensors="pt")
            if ids["input_ids"].shape[-1] == 0:
                continue  # nothing of it is in the voice's alphabet
            with torch.inference_mode():
                waveform = model(**ids, **extra).waveform[0].float().numpy()
            pieces += [gap, waveform] if pieces else [waveform]
        if not pieces:
            raise SystemExit(f"nothing in the text is in the alphabet of the voice in {weights.name}")
        return np.concatenate(pieces), rate


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m videoapi.media.synthesize", description=__doc__)
    parser.add_argument("--manifest", type=Path, required=True, help="JSON list of jobs (see Job)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: torch's default")
    args = parser.parse_args(argv)
    jobs = msgspec.json.decode(args.manifest.read_bytes(), type=list[Job])
    voices = _Voices(args.threads)
    for job in jobs:
        text = Path(job.text_file).read_text(encoding="utf-8")
        audio, rate = voices.speak(
            Path(job.weights), text, mode=job.text, speaking_rate=job.speaking_rate, speaker_id=job.speaker_id
        )
        write_wav(Path(job.out), audio, rate)


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, RuntimeError, msgspec.DecodeError) as exc:
        # One line for the task's error (the job shows the tail of stderr), not a traceback.
        sys.exit(f"neural text-to-speech failed: {type(exc).__name__}: {exc}")
