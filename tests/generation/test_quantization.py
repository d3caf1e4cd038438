"""Weight quantization as a registry option (`quantize`): torchao quantizes the denoiser's Linear weights
at load, the model still makes a video; an unknown method is a registry error; a worker that cannot
quantize (torchao absent, float8 without a float8 GPU) fails the task with `quantization_unavailable`.

torchao is installed by `make install` (the `quantization` extra): these tests need it and fail without it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import torch
from torchao.utils import TorchAOBaseTensor

from tests.support.app import Api
from tests.support.media import decode, video_info
from videoapi.errors import ProcessingError
from videoapi.generation.cache import CACHE, PipelineCache
from videoapi.generation.quantize import INSTALL, weight_bytes
from videoapi.generation.registry import load_registry
from videoapi.settings import SettingsError, load_settings

T2V = "/v1/video/generate/text-to-video"


def generate(api: Api, model: str, seed: int = 3) -> dict[str, Any]:
    resp = api.post(T2V, json={"prompt": "a red fox runs on the beach", "model": model, "num_frames": 9, "seed": seed})
    assert resp.status_code == 202, resp.text
    return api.wait(resp.json()["id"], timeout_s=90)


def linears(module: torch.nn.Module) -> list[torch.nn.Linear]:
    found = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert found, f"{type(module).__name__} has no Linear layer"
    return found


@pytest.mark.parametrize(("model", "method"), [("tiny-ltx-int8", "int8-weight-only"), ("tiny-ltx-int8-dynamic",
                                                "int8-dynamic")])  # fmt: skip
def test_a_quantized_model_loads_int8_denoiser_weights_and_still_makes_a_video(
    gen_api: Api, tmp_path: Path, model: str, method: str
) -> None:
    done = generate(gen_api, model)
    assert done["status"] == "succeeded", done
    out = gen_api.download(done["result"]["url"], tmp_path / "out.mp4")
    assert video_info(out) == {"frames": 9, "width": 32, "height": 32, "fps": 16.0, "codec": "h264"}
    assert decode(out).std() > 1.0  # not a blank video

    # The worker runs in this process: the warm pipeline it used is the cache's.
    registry = load_registry(gen_api.settings)
    pipe = CACHE.get(gen_api.settings, registry.models[model]).pipe
    full = CACHE.get(gen_api.settings, registry.models["tiny-ltx"]).pipe
    for layer in linears(pipe.transformer):
        assert isinstance(layer.weight, TorchAOBaseTensor), layer
        assert layer.weight.qdata.dtype == torch.int8
    # Only the denoiser: the text encoder and the VAE keep their float32 weights.
    assert all(type(layer.weight) is torch.nn.Parameter for layer in linears(pipe.text_encoder))
    assert all(p.dtype == torch.float32 for p in pipe.vae.parameters())
    # int8 data plus one scale per output row, against 4 bytes per weight.
    linear_full = sum(weight_bytes(layer) for layer in linears(full.transformer))
    linear_int8 = sum(weight_bytes(layer) for layer in linears(pipe.transformer))
    assert linear_int8 < 0.5 * linear_full
    assert weight_bytes(pipe.transformer) < weight_bytes(full.transformer)


def test_models_endpoint_shows_each_models_quantization(gen_api: Api) -> None:
    items = {m["name"]: m for m in gen_api.get("/v1/video/models").json()["items"]}
    assert items["tiny-ltx-int8"]["quantize"] == "int8-weight-only"
    assert items["tiny-ltx-fp8"]["quantize"] == "float8-weight-only"
    assert items["tiny-ltx"]["quantize"] is None


def test_a_float8_model_on_the_cpu_fails_at_load_saying_it_needs_a_float8_gpu(gen_api: Api) -> None:
    failed = generate(gen_api, "tiny-ltx-fp8")
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "quantization_unavailable"
    assert "tiny-ltx-fp8" in failed["error"]["message"]
    assert "compute capability 8.9" in failed["error"]["message"] and "the CPU" in failed["error"]["message"]


def test_without_torchao_a_quantized_model_fails_at_load_naming_the_extra_to_install(
    gen_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    CACHE.clear()  # a warm quantized pipeline would not be loaded again
    monkeypatch.setitem(sys.modules, "torchao", None)  # `import torchao` raises ImportError, find_spec says None
    failed = generate(gen_api, "tiny-ltx-int8")
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "quantization_unavailable"
    assert "tiny-ltx-int8" in failed["error"]["message"] and INSTALL in failed["error"]["message"]
    assert "pip install 'videoapi[quantization]'" in failed["error"]["message"]


def test_quantize_components_chooses_what_is_quantized(gen_api: Api) -> None:
    spec = load_registry(gen_api.settings).models["tiny-ltx-int8"]
    cache = PipelineCache()
    pipe = cache.get(gen_api.settings, msgspec.structs.replace(spec, quantize_components=["text_encoder"])).pipe
    assert all(isinstance(layer.weight, TorchAOBaseTensor) for layer in linears(pipe.text_encoder))
    assert all(type(layer.weight) is torch.nn.Parameter for layer in linears(pipe.transformer))
    with pytest.raises(ProcessingError, match="names audio_encoder, which LTXPipeline does not have") as info:
        PipelineCache().get(gen_api.settings, msgspec.structs.replace(spec, quantize_components=["audio_encoder"]))
    assert info.value.code == "model_misconfigured"


MODEL = (
    '[models.x]\npipeline = "LTXPipeline"\nsource = "a/b"\nkinds = ["text-to-video"]\n'
    "constraints = { max_frames = 9, default_frames = 9, default_width = 64, default_height = 64, "
    "max_width = 64, max_height = 64, default_fps = 8, default_steps = 2, max_steps = 4, default_guidance = 1 }\n"
)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            'quantize = "int4"',
            "model 'x': quantize 'int4' is not one of int8-weight-only, int8-dynamic, float8-weight-only",
        ),
        ('quantize_components = ["transformer"]', "quantize_components is set but quantize is not"),
        ('quantize = "int8-weight-only"\nsequential_cpu_offload = true', "cannot be combined with sequential_cpu"),
    ],
)
def test_a_bad_quantize_key_is_a_registry_error_naming_the_model(tmp_path: Path, keys: str, message: str) -> None:
    path = tmp_path / "models.toml"
    path.write_text(MODEL.replace("[models.x]\n", f"[models.x]\n{keys}\n"))
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_registry(load_settings(environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(path)}))
