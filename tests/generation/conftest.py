"""Generation fixtures: tiny pipelines saved once per session, a registry naming them, and the app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Api, running_app, toml_value
from tests.support.generation import gen_settings

# Tiny-model constraints: 32x32 default, LTX-like 8k+1 frames, Wan-like 4k+1.
_LTX_LIMITS = (
    "{ frames_rule = '8k+1', min_frames = 9, max_frames = 25, default_frames = 9, size_multiple = 32, "
    "default_width = 32, default_height = 32, max_width = 64, max_height = 64, default_fps = 16, max_fps = 30, "
    "default_steps = 2, max_steps = 300, default_guidance = 3.0, max_guidance = 10.0 }"
)
_WAN_LIMITS = _LTX_LIMITS.replace("'8k+1'", "'4k+1'").replace("size_multiple = 32", "size_multiple = 16")
_SVD_LIMITS = (
    _LTX_LIMITS.replace("'8k+1'", "'any'")
    .replace("min_frames = 9", "min_frames = 2")
    .replace("default_frames = 9", "default_frames = 6")
)
_V2V_LIMITS = _SVD_LIMITS.replace("max_frames = 25", "max_frames = 8").replace("default_fps = 16", "default_fps = 8")

# Tiny LTX models whose denoiser is quantized at load (tests/generation/test_quantization.py).
_QUANTIZED = {
    "tiny-ltx-int8": "int8-weight-only",
    "tiny-ltx-int8-dynamic": "int8-dynamic",
    "tiny-ltx-fp8": "float8-weight-only",
}


def _model(name: str, pipeline: str, source: Path | str, kinds: list[str], limits: str, **extra: Any) -> str:
    lines = [
        f'[models."{name}"]',
        f"pipeline = {json.dumps(pipeline)}",
        f"source = {json.dumps(str(source))}",
        f"kinds = {json.dumps(kinds)}",
        f"constraints = {limits}",
        'hardware = "CPU: seconds (a test model)"',
    ]
    lines += [f"{k} = {toml_value(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def broken_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A diffusers folder with a model_index.json naming components whose weights are absent."""
    folder = tmp_path_factory.mktemp("broken-model")
    index = {"_class_name": "LTXPipeline", "transformer": ["diffusers", "LTXVideoTransformer3DModel"]}
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    (folder / "transformer").mkdir()
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.support import tiny  # torch and diffusers take seconds to import: only when a test needs them

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "ltx": tiny.build_ltx(root / "ltx"),
        "ltx-i2v": tiny.build_ltx_i2v(root / "ltx-i2v"),
        "wan": tiny.build_wan(root / "wan"),
        "svd": tiny.build_svd(root / "svd"),
        "animatediff": tiny.build_animatediff(root / "animatediff"),
    }


@pytest.fixture(scope="session")
def registry_file(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Path:
    m = tiny_models
    call = {"max_sequence_length": 16}
    text = "\n".join(
        [
            "[defaults]",
            'text-to-video = "tiny-ltx"',
            'image-to-video = "tiny-ltx-i2v"',
            'style-transfer = "tiny-animatediff"',
            "[styles.anime]",
            'prompt = "anime style scene of {prompt}, vibrant colors"',
            'negative = "photo"',
            _model("tiny-ltx", "LTXPipeline", m["ltx"], ["text-to-video"], _LTX_LIMITS, call=call),
            _model("tiny-wan", "WanPipeline", m["wan"], ["text-to-video"], _WAN_LIMITS, call=call),
            _model("tiny-ltx-i2v", "LTXImageToVideoPipeline", m["ltx-i2v"], ["image-to-video"], _LTX_LIMITS, call=call),
            _model("tiny-svd", "StableVideoDiffusionPipeline", m["svd"], ["image-to-video"], _SVD_LIMITS),
            _model(
                "tiny-animatediff", "AnimateDiffVideoToVideoPipeline", m["animatediff"], ["style-transfer"], _V2V_LIMITS
            ),
            _model(
                "slow-ltx",
                "tests.support.tiny:SlowLTXPipeline",
                m["ltx"],
                ["text-to-video"],
                _LTX_LIMITS,
                calls_like="LTXPipeline",
                call=call,
            ),
            _model(
                "oom-ltx",
                "tests.support.tiny:OomAboveOneLTXPipeline",
                m["ltx"],
                ["text-to-video"],
                _LTX_LIMITS,
                calls_like="LTXPipeline",
                call=call,
            ),
            _model(
                "always-oom-ltx",
                "tests.support.tiny:AlwaysOomLTXPipeline",
                m["ltx"],
                ["text-to-video"],
                _LTX_LIMITS,
                calls_like="LTXPipeline",
                call=call,
            ),
            *(
                _model(name, "LTXPipeline", m["ltx"], ["text-to-video"], _LTX_LIMITS, call=call, quantize=method)
                for name, method in _QUANTIZED.items()
            ),
            _model("absent-model", "LTXPipeline", "acme/absent-video-model", ["text-to-video"], _LTX_LIMITS),
            # Installed as far as the registry can tell (model_index.json is there), but its weights are not.
            _model(
                "broken-ltx",
                "LTXPipeline",
                str(broken_model_dir(tmp_path_factory)),
                ["text-to-video"],
                _LTX_LIMITS,
                call=call,
            ),
        ]
    )
    path = tmp_path_factory.mktemp("registry") / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gen_api(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Api]:
    """The embedded shape with the tiny registry; compatible requests wait 0.7 s to be batched."""
    settings = gen_settings(
        tmp_path_factory.mktemp("gen-var"),
        registry_file,
        **{"generation.batch_wait_ms": 700, "generation.max_batch": 4},
    )
    with running_app(settings) as api:
        yield api
