"""What the Wav2Lip generator reads, without torch: the face crop size and the original's mel spectrogram.

The mel spectrogram is the original's `audio.py` in numpy (no librosa): 16 kHz, preemphasis 0.97, a
centred STFT (n_fft 800, hop 200, Hann window 800, reflect padding), 80 Slaney mel bands from 55 to
7600 Hz, 20 log10 with a floor at -100 dB, minus 20 dB, then scaled symmetrically into [-4, 4].
Apart from the model (`vision.wav2lip`) so that the API process, which plans lip-sync requests,
never imports torch.
"""

from __future__ import annotations

import numpy as np

FACE_SIZE = 96
SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN, FMAX = 55.0, 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS = 4.0
MEL_STEP = 16
"""Mel frames in one window (80 mel frames a second: 0.2 s)."""
MELS_PER_S = SAMPLE_RATE / HOP
STFT_BLOCK = 4096
"""Spectrogram frames computed at a time (about 50 s of audio, 26 MB of windows)."""


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


def mel_basis() -> np.ndarray:
    """(80, n_fft/2 + 1) triangular filters, Slaney-normalised (equal area), as librosa.filters.mel builds them."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(FMIN)), _hz_to_mel(np.array(FMAX)), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """(80, frames) normalised log-mel spectrogram of mono 16 kHz samples in [-1, 1] (80 frames a second)."""
    wav = np.asarray(wav, dtype=np.float64)
    emphasised = np.append(wav[:1], wav[1:] - PREEMPHASIS * wav[:-1]) if wav.size else wav
    pad = N_FFT // 2
    if emphasised.size <= pad:
        emphasised = np.pad(emphasised, (0, pad + 1 - emphasised.size))
    padded = np.pad(emphasised, pad, mode="reflect")
    frames = 1 + (padded.size - N_FFT) // HOP
    window = np.hanning(WIN + 1)[:-1]  # periodic Hann, as scipy's get_window("hann", 800)
    basis = mel_basis()
    mel = np.empty((N_MELS, frames))
    # In blocks of frames: a whole hour at once would be gigabytes of overlapping windows.
    for first in range(0, frames, STFT_BLOCK):
        count = min(STFT_BLOCK, frames - first)
        index = np.arange(N_FFT)[None, :] + HOP * np.arange(first, first + count)[:, None]
        mel[:, first : first + count] = basis @ np.abs(np.fft.rfft(padded[index] * window, axis=1)).T
    min_level = np.exp(MIN_LEVEL_DB / 20 * np.log(10))
    db = 20 * np.log10(np.maximum(min_level, mel)) - REF_LEVEL_DB
    scaled = (2 * MAX_ABS) * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS
    return np.clip(scaled, -MAX_ABS, MAX_ABS).astype(np.float32)


def mel_window_start(frame: int, fps: float, mel_frames: int) -> int:
    """First mel frame of video frame `frame`'s window: `int(frame * 80 / fps)`, held inside the spectrogram
    (the last windows end at its end, as the original's inference does)."""
    return max(0, min(int(frame * MELS_PER_S / fps), mel_frames - MEL_STEP))


def mel_window(mel: np.ndarray, frame: int, fps: float) -> np.ndarray:
    """The (80, 16) window of video frame `frame`; a spectrogram shorter than 16 frames is padded with silence."""
    if mel.shape[1] < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), constant_values=-MAX_ABS)
    start = mel_window_start(frame, fps, mel.shape[1])
    return mel[:, start : start + MEL_STEP]
