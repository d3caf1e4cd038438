"""A tiny random-weight Wav2Lip (the real architecture at small widths), saved like the original
checkpoint (`{"state_dict": {"module.…": …}}` in a `.pth`) with a config.json, for the real loader."""

from __future__ import annotations

from pathlib import Path

TINY = {"face": [4, 4, 4, 4, 4, 8, 8], "audio": [4, 4, 4, 4, 8], "decoder": [8, 8, 8, 4, 4, 4, 4], "output": 4}


def build_tiny_wav2lip(folder: Path, name: str = "wav2lip_gan.pth", seed: int = 0) -> Path:
    """Write config.json and `name` into `folder`; return the folder."""
    import torch

    from videoapi.vision.wav2lip import Wav2Lip, Wav2LipConfig, save_model

    torch.manual_seed(seed)
    config = Wav2LipConfig(**TINY)
    model = Wav2Lip(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                # Spread the running statistics so that the random output varies across the face.
                module.running_var.uniform_(0.5, 2.0)
                module.running_mean.uniform_(-0.2, 0.2)
    save_model(model, config, folder, name)
    return folder


def lipsync_registry(root: Path, model: Path, extra: str = "") -> Path:
    """A models.toml whose default lipsync model is the folder `model` (plus `extra` tables)."""
    path = root / "models.toml"
    path.write_text(
        '[defaults]\nlipsync = "tiny-lips"\n'
        f'[models.tiny-lips]\nkinds = ["lipsync"]\narchitecture = "wav2lip"\nsource = "{model}"\n'
        'licence = "test"\n' + extra
    )
    return path
