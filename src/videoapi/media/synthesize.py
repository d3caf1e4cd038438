"""Neural text-to-speech in its own process: `python -m videoapi.media.synthesize --weights DIR ...`.

A narration's `before` command: it reads the text from a UTF-8 file, runs a VITS checkpoint
(transformers `VitsModel`) on the CPU one sentence at a time, and writes a mono 16-bit WAV at the
model's sampling rate, which the ffmpeg pass resamples and mixes. A process of its own keeps torch out
of the worker's memory between tasks and lets the job's timeout and cancel kill it like espeak-ng.
Nothing is downloaded: the hub is switched off before transformers is imported.
"""

from __future__ import annotations

import argparse
import os
import re
import wave
from collections.abc import Sequence
from pathlib import Path

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


def synthesize(
    weights: Path, text: str, *, mode: str, speaking_rate: float, speaker_id: int | None, threads: int
) -> tuple[np.ndarray, int]:
    """(float32 samples, sampling rate) of `text` spoken by the checkpoint in `weights`."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from transformers import VitsModel, VitsTokenizer

    if threads > 0:
        torch.set_num_threads(threads)
    model = VitsModel.from_pretrained(weights, local_files_only=True).eval()
    tokenizer = VitsTokenizer.from_pretrained(weights, local_files_only=True)
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
        raise SystemExit("nothing in the text is in this voice's alphabet")
    return np.concatenate(pieces), rate


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m videoapi.media.synthesize", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True, help="checkpoint folder (config.json, vocab.json)")
    parser.add_argument("--text-file", type=Path, required=True, help="UTF-8 text to speak")
    parser.add_argument("--out", type=Path, required=True, help="WAV file to write")
    parser.add_argument("--text", choices=("plain", "pinyin"), default="plain", help="what the model reads")
    parser.add_argument("--speaking-rate", type=float, default=1.0, help="1 is the voice's own pace")
    parser.add_argument("--speaker-id", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: torch's default")
    args = parser.parse_args(argv)
    audio, rate = synthesize(
        args.weights,
        args.text_file.read_text(encoding="utf-8"),
        mode=args.text,
        speaking_rate=args.speaking_rate,
        speaker_id=args.speaker_id,
        threads=args.threads,
    )
    write_wav(args.out, audio, rate)


if __name__ == "__main__":
    main()
