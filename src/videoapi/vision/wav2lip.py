"""The Wav2Lip generator (Prajwal et al., 2020) in torch.

Module and parameter names are those of `Rudrabha/Wav2Lip` `models/wav2lip.py`, so that the original
checkpoint (`wav2lip.pth` / `wav2lip_gan.pth`: `{"state_dict": ...}`, keys often prefixed `module.`)
loads as it is. The widths are configurable through a `config.json` beside the weights (defaults: the
original's), so that tests can build a tiny random-weight model, save it, and load it the same way.

The face encoder reads 6 channels at 96x96: the target face with its lower half blacked out, then a
reference face (BGR, 0..1). The audio encoder reads one 80x16 mel window (0.2 s) per video frame. The
decoder upsamples the audio embedding back to 96x96 through skip connections from the face encoder;
a sigmoid gives the BGR face.

The audio features and the face size it reads are in `vision.wav2lip_inputs`, which needs no torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from videoapi.vision.registry import weights_file

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class Wav2LipConfig:
    """Channel widths of each stage (the original's by default); the block layout is fixed."""

    face: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256, 512, 512])
    """Face encoder stages, 96 -> 96, 48, 24, 12, 6, 3, 1 pixels."""
    audio: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])
    """Audio encoder stages; the last is the embedding the decoder starts from."""
    decoder: list[int] = field(default_factory=lambda: [512, 512, 512, 384, 256, 128, 64])
    """Decoder stages, 1 -> 1, 3, 6, 12, 24, 48, 96 pixels; each is joined to the face stage of its size."""
    output: int = 32

    @classmethod
    def read(cls, folder: Path) -> Wav2LipConfig:
        path = folder / CONFIG_FILE
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {k: raw[k] for k in ("face", "audio", "decoder", "output") if k in raw}
        config = cls(**known)
        if len(config.face) != 7 or len(config.audio) != 5 or len(config.decoder) != 7:
            raise ValueError(f"{path}: face and decoder need 7 widths, audio 5")
        return config

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps({"architecture": "wav2lip", **asdict(self)}), encoding="utf-8")


class Conv2d(nn.Module):
    """Convolution, batch norm, optional residual, ReLU (the original's `models/conv.py` Conv2d)."""

    def __init__(self, cin: int, cout: int, kernel_size: Any, stride: Any, padding: Any, residual: bool = False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class Conv2dTranspose(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, padding: int, output_padding: int = 0):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(c: int, n: int) -> list[nn.Module]:
    return [Conv2d(c, c, 3, 1, 1, residual=True) for _ in range(n)]


class Wav2Lip(nn.Module):
    """The generator: (mel windows (B, 1, 80, 16), faces (B, 6, 96, 96)) -> faces (B, 3, 96, 96) in 0..1."""

    def __init__(self, config: Wav2LipConfig | None = None) -> None:
        super().__init__()
        c = config or Wav2LipConfig()
        f, a, d = c.face, c.audio, c.decoder
        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2d(6, f[0], 7, 1, 3)),
                nn.Sequential(Conv2d(f[0], f[1], 3, 2, 1), *_res(f[1], 2)),
                nn.Sequential(Conv2d(f[1], f[2], 3, 2, 1), *_res(f[2], 3)),
                nn.Sequential(Conv2d(f[2], f[3], 3, 2, 1), *_res(f[3], 2)),
                nn.Sequential(Conv2d(f[3], f[4], 3, 2, 1), *_res(f[4], 2)),
                nn.Sequential(Conv2d(f[4], f[5], 3, 2, 1), *_res(f[5], 1)),
                nn.Sequential(Conv2d(f[5], f[6], 3, 1, 0), Conv2d(f[6], f[6], 1, 1, 0)),
            ]
        )
        self.audio_encoder = nn.Sequential(
            Conv2d(1, a[0], 3, 1, 1), *_res(a[0], 2),
            Conv2d(a[0], a[1], 3, (3, 1), 1), *_res(a[1], 2),
            Conv2d(a[1], a[2], 3, 3, 1), *_res(a[2], 2),
            Conv2d(a[2], a[3], 3, (3, 2), 1), *_res(a[3], 1),
            Conv2d(a[3], a[4], 3, 1, 0), Conv2d(a[4], a[4], 1, 1, 0),
        )  # fmt: skip
        self.face_decoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2d(a[4], d[0], 1, 1, 0)),
                nn.Sequential(Conv2dTranspose(d[0] + f[6], d[1], 3, 1, 0), *_res(d[1], 1)),
                nn.Sequential(Conv2dTranspose(d[1] + f[5], d[2], 3, 2, 1, 1), *_res(d[2], 2)),
                nn.Sequential(Conv2dTranspose(d[2] + f[4], d[3], 3, 2, 1, 1), *_res(d[3], 2)),
                nn.Sequential(Conv2dTranspose(d[3] + f[3], d[4], 3, 2, 1, 1), *_res(d[4], 2)),
                nn.Sequential(Conv2dTranspose(d[4] + f[2], d[5], 3, 2, 1, 1), *_res(d[5], 2)),
                nn.Sequential(Conv2dTranspose(d[5] + f[1], d[6], 3, 2, 1, 1), *_res(d[6], 2)),
            ]
        )
        self.output_block = nn.Sequential(
            Conv2d(d[6] + f[0], c.output, 3, 1, 1), nn.Conv2d(c.output, 3, 1, 1, 0), nn.Sigmoid()
        )

    def forward(self, audio_sequences: torch.Tensor, face_sequences: torch.Tensor) -> torch.Tensor:
        feats = []
        x = face_sequences
        for block in self.face_encoder_blocks:
            x = block(x)
            feats.append(x)
        x = self.audio_encoder(audio_sequences)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), feats.pop()), dim=1)
        return self.output_block(x)


def save_model(model: Wav2Lip, config: Wav2LipConfig, folder: Path, name: str = "model.safetensors") -> Path:
    """Write `config.json` and the weights (safetensors, or a `.pth` checkpoint shaped like the original's)."""
    config.write(folder)
    path = folder / name
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        # As the original training script saves it: a DataParallel model's keys, under "state_dict".
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "global_step": 0}, path)
    return path


def load_model(folder: Path, name: str | None = None, device: str = "cpu") -> Wav2Lip:
    """The generator from `folder` (config.json if any, and its weights), in eval mode on `device`."""
    path = weights_file(folder, name)
    if path is None:
        raise FileNotFoundError(f"no Wav2Lip weights in {folder}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: dict[str, torch.Tensor] = load_file(str(path))
    else:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        state = raw.get("state_dict", raw) if isinstance(raw, dict) else raw
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = Wav2Lip(Wav2LipConfig.read(folder))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()
