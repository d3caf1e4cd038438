"""edit/lipsync without ffmpeg: the Wav2Lip architecture loads an original-style checkpoint, the mel
features match the original's recipe, the windows and the ping-pong order are the ones each output frame
needs, and the crop/paste geometry changes nothing outside the mouth; plus the refusal without weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.support.app import assert_problem, running_app
from tests.support.media import make_video
from videoapi.editing.analysis import Analysis, Box
from videoapi.editing.lipsync import face_track
from videoapi.settings import Settings
from videoapi.vision.lipsync import crop_bgr, crop_box, mouth_mask, paste, pingpong
from videoapi.vision.wav2lip_inputs import MEL_STEP, N_MELS, mel_basis, mel_window, mel_window_start, melspectrogram


def test_pingpong_plays_forwards_then_backwards_showing_each_turning_frame_once() -> None:
    assert [pingpong(n, 4) for n in range(11)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2]
    assert [pingpong(n, 1) for n in range(3)] == [0, 0, 0]
    assert [pingpong(n, 2) for n in range(5)] == [0, 1, 0, 1, 0]


def test_each_video_frame_reads_the_16_mel_frames_starting_at_80_over_fps() -> None:
    # 80 mel frames a second: at 25 fps a frame advances 3.2 mel frames, as the original's int(i * 80 / fps).
    assert [mel_window_start(i, 25.0, 400) for i in range(6)] == [0, 3, 6, 9, 12, 16]
    # The last windows end at the spectrogram's end instead of running past it.
    assert mel_window_start(200, 25.0, 100) == 100 - MEL_STEP
    mel = np.arange(N_MELS * 20, dtype=np.float32).reshape(N_MELS, 20)
    assert mel_window(mel, 1, 25.0).shape == (N_MELS, MEL_STEP)
    assert mel_window(mel[:, :5], 0, 25.0).shape == (N_MELS, MEL_STEP)  # padded with silence


def test_the_mel_spectrogram_follows_the_original_recipe() -> None:
    sr = 16000
    t = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * math.pi * 1000 * t)
    mel = melspectrogram(tone)
    # 80 frames a second (hop 200 at 16 kHz), centred: one more than the length over the hop.
    assert mel.shape == (N_MELS, sr // 200 + 1)
    assert mel.min() >= -4 and mel.max() <= 4
    # The loudest band is the one whose filter peaks nearest 1 kHz; silence is the floor.
    basis = mel_basis()
    peak_hz = np.argmax(basis, axis=1) * sr / 800
    assert abs(peak_hz[int(np.argmax(mel[:, 40]))] - 1000) <= 60
    assert np.all(melspectrogram(np.zeros(sr)) == -4)
    # Slaney filters have equal area: each sums (in Hz) to about 2 over the band width's normalisation.
    assert basis.shape == (N_MELS, 401) and np.all(basis >= 0)


def test_an_original_checkpoint_loads_through_the_loader_and_predicts_a_face(tmp_path: Path) -> None:
    import torch

    from tests.support.tiny_lipsync import build_tiny_wav2lip
    from videoapi.vision.wav2lip import Wav2Lip, Wav2LipConfig, load_model

    folder = build_tiny_wav2lip(tmp_path / "tiny")
    raw = torch.load(folder / "wav2lip_gan.pth", weights_only=True)
    assert all(k.startswith("module.") for k in raw["state_dict"])  # as DataParallel training saves it
    model = load_model(folder, "wav2lip_gan.pth")
    with torch.inference_mode():
        out = model(torch.zeros(2, 1, 80, 16), torch.rand(2, 6, 96, 96))
    assert out.shape == (2, 3, 96, 96) and float(out.min()) >= 0 and float(out.max()) <= 1
    # The real-size architecture has the original's parameter names and count (36.3M).
    full = Wav2Lip(Wav2LipConfig())
    names = {k for k, _ in full.named_parameters()}
    assert "face_encoder_blocks.0.0.conv_block.0.weight" in names
    assert "audio_encoder.12.conv_block.1.running_mean" in dict(full.named_buffers())
    assert "output_block.1.weight" in names and "face_decoder_blocks.6.2.conv_block.1.bias" in names
    assert 36_000_000 < sum(p.numel() for p in full.parameters()) < 36_600_000


def test_safetensors_weights_load_the_same_model(tmp_path: Path) -> None:
    import torch

    from tests.support.tiny_lipsync import build_tiny_wav2lip
    from videoapi.vision.wav2lip import load_model

    pth = load_model(build_tiny_wav2lip(tmp_path / "pth", seed=3), "wav2lip_gan.pth")
    safe = load_model(build_tiny_wav2lip(tmp_path / "st", name="model.safetensors", seed=3))  # found unnamed
    audio, faces = torch.zeros(1, 1, 80, 16), torch.rand(1, 6, 96, 96)
    with torch.inference_mode():
        assert torch.equal(pth(audio, faces), safe(audio, faces))


def test_the_crop_has_even_corners_and_stays_in_the_frame() -> None:
    box = crop_box(50.0, 40.0, 40.0, 40.0, 120, 90)
    assert box is not None
    x0, y0, x1, y1 = box
    assert x0 % 2 == y0 % 2 == 0 and (x1 - x0) % 4 == (y1 - y0) % 4 == 0
    assert x0 < 50 - 20 and y0 < 40 - 20 and y1 > 40 + 20  # padded, more below (the chin)
    edge = crop_box(5.0, 5.0, 40.0, 40.0, 120, 90)
    assert edge is not None and edge[0] == 0 and edge[1] == 0
    assert crop_box(1.0, 1.0, 4.0, 4.0, 120, 90) is None


def test_paste_changes_only_the_lower_face_and_keeps_every_other_sample() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(90 * 3 // 2, 120), dtype=np.uint8)
    before = frame.copy()
    box = (20, 10, 80, 70)
    paste(frame, np.full((96, 96, 3), 255, np.uint8), box)
    luma, old = frame[:90].astype(int), before[:90].astype(int)
    changed = luma != old
    rows, cols = np.nonzero(changed)
    assert rows.min() >= 10 + 30 and rows.max() < 70 and cols.min() >= 20 and cols.max() < 80
    assert changed[55, 50]  # the mouth
    assert not changed[:, :20].any() and not changed[:40].any()  # outside the box, and its upper half
    assert crop_bgr(frame, box).shape == (60, 60, 3)
    mask = mouth_mask(60, 60)
    assert mask[:30].max() == 0 and mask[:, 0].max() == 0 and mask[45, 30, 0] == 1


def test_the_face_track_interpolates_between_samples_and_stops_at_a_cut() -> None:
    moving = {n: [Box(0.2 + 0.05 * n, 0.5, 0.2, 0.2)] for n in (0, 2, 4, 6)}
    found = Analysis(frames=14, cuts=[11], faces={**moving, 8: [], 10: [], 12: [Box(0.5, 0.5, 0.2, 0.2)]})
    boxes = face_track(found, 400, 200)
    assert all(b is not None for b in boxes[:8]) and boxes[8] is None and boxes[10] is None
    centre = [(b[0] + b[2]) / 2 for b in boxes[:7] if b is not None]
    assert centre == sorted(centre) and centre[0] < centre[-1]  # smoothed, then interpolated: it follows
    assert boxes[11] is not None and boxes[10] is None  # the new shot has its own face, the old one none


@pytest.mark.ffmpeg
def test_without_weights_a_lipsync_is_refused_with_503_naming_the_download_command(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    registry = tmp_path / "models.toml"
    registry.write_text(
        '[defaults]\nlipsync = "absent-lips"\n'
        '[models.absent-lips]\nkinds = ["lipsync"]\narchitecture = "wav2lip"\nsource = "example/absent-lips"\n'
        'weights = "checkpoints/wav2lip_gan.pth"\n'
    )
    video = make_video(tmp_path / "v.mp4", duration_s=0.5, width=64, height=48)
    with running_app(make_settings(**{"generation.models_file": str(registry)})) as api:
        body = {"input": {"asset_id": api.upload(video)["id"]}, "narration": {"text": "hello"}}
        problem = assert_problem(api.post("/v1/video/edit/lipsync", json=body), 503, "model_not_installed")
    assert "videoapi models download absent-lips" in problem["detail"]
