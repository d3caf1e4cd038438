"""The published configurations behind `scripts/bench/generation.py --real-size` build the real architectures.

Each config file is instantiated with its diffusers class on the meta device (no memory allocated, nothing
downloaded); its parameter count must fall in the published range, which catches a wrong or mistyped config
(a 1.3B Wan built as 14B, a dropped layer count) that would make the benchmark measure another model.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # imports diffusers and builds about 25B parameters' worth of meta modules

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "scripts" / "bench" / "real_configs"

# Published sizes (model cards / papers), denoiser only: LTX-Video "2B" (1.92B), Wan2.1 1.3B (1.42B with
# embeddings) and I2V-14B (16.4B with its image projection and extra K/V), CogVideoX-2b (1.69B), SVD-XT's
# UNet (1.52B), SD 1.5's UNet (0.86B) + the v1-5-2 motion adapter (0.45B). VAEs: LTX 0.42B, Wan 0.13B,
# CogVideoX 0.22B, SVD's temporal decoder VAE 0.10B, SD 1.5's 0.08B.
PUBLISHED = {
    ("ltx-video", "denoiser"): (1.85e9, 2.0e9),
    ("ltx-video", "vae"): (0.38e9, 0.46e9),
    ("wan", "denoiser"): (1.3e9, 1.5e9),
    ("wan", "vae"): (0.11e9, 0.14e9),
    ("wan-i2v-14b", "denoiser"): (15.5e9, 17.5e9),
    ("cogvideox", "denoiser"): (1.6e9, 1.8e9),
    ("cogvideox", "vae"): (0.19e9, 0.24e9),
    ("svd", "denoiser"): (1.45e9, 1.6e9),
    ("svd", "vae"): (0.08e9, 0.11e9),
    ("animatediff", "denoiser"): (1.25e9, 1.4e9),
    ("animatediff", "vae"): (0.075e9, 0.09e9),
}

FILES = sorted(CONFIGS.glob("*.json"))


def _parts() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in FILES:
        spec = json.loads(path.read_text())
        out += [(spec["family"], part, spec[part]) for part in ("denoiser", "vae") if part in spec]
    return out


@pytest.mark.parametrize(("family", "part", "body"), _parts(), ids=lambda v: v if isinstance(v, str) else "")
def test_config_builds_its_class_with_the_published_size(family: str, part: str, body: dict[str, Any]) -> None:
    import diffusers
    from accelerate import init_empty_weights

    cls = getattr(diffusers, body["class"])
    with init_empty_weights():
        model = cls.from_config(body["config"])
    # Every key must be a real argument of the class: diffusers ignores unknown ones with a warning only.
    assert set(body["config"]) <= set(model.config), set(body["config"]) - set(model.config)
    assert all(p.device.type == "meta" for p in model.parameters())
    count = sum(p.numel() for p in model.parameters())
    low, high = PUBLISHED[(family, part)]
    assert low <= count <= high, f"{family} {part}: {count / 1e9:.3f}B parameters, published {low:.3g}-{high:.3g}"


def test_every_registered_generation_model_has_a_real_config() -> None:
    models = tomllib.loads((ROOT / "config" / "models.toml").read_text())["models"]
    generation = {
        n for n, m in models.items() if set(m.get("kinds", [])) & {"text-to-video", "image-to-video", "style-transfer"}
    }
    covered = {name for path in FILES for name in json.loads(path.read_text())["registry"]}
    assert generation == covered
    assert {(json.loads(p.read_text())["family"], "denoiser") for p in FILES} <= set(PUBLISHED)
