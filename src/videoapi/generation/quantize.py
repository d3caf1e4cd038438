"""Weight quantization of a loaded pipeline (the registry key `quantize`), done by torchao at load.

torchao is an optional extra (`pip install 'videoapi[quantization]'`): transformers imports it in every
process where it is installed, which costs seconds per model-loading process, so a server without
quantized models is better off without it. A model that asks for quantization on a worker without
torchao fails at load with `quantization_unavailable` and the install command; so does a float8 model
on a worker that cannot run float8 (only CUDA GPUs of compute capability 8.9 or newer, Ada and Hopper,
have float8 matrix units: elsewhere the weights would only be emulated, so the model is refused rather
than run slower than asked, or fall back to a full-size weight that may not fit).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from videoapi.errors import ProcessingError

METHODS: dict[str, str] = {
    "int8-weight-only": "Int8WeightOnlyConfig",
    "int8-dynamic": "Int8DynamicActivationInt8WeightConfig",
    "float8-weight-only": "Float8WeightOnlyConfig",
}
"""Registry value -> torchao config class (torchao.quantization). `int8-dynamic` quantizes the activations
of each Linear on the fly too; the weight-only methods keep activations in the model's dtype."""
FLOAT8_MIN_CAPABILITY = (8, 9)
DENOISERS = ("transformer", "unet")
"""The component quantized when `quantize_components` is empty: the first one the pipeline has."""
INSTALL = "pip install 'videoapi[quantization]'"


class QuantizationUnavailable(ProcessingError):
    """The model asks for weight quantization that this worker cannot do (torchao absent, or no float8 GPU)."""

    status = 503
    code = "quantization_unavailable"
    title = "Quantization unavailable"


def torchao_installed() -> bool:
    """Whether torchao can be imported, without importing it (that alone takes seconds)."""
    return importlib.util.find_spec("torchao") is not None


def check_usable(name: str, method: str, device: str) -> None:
    """Raise QuantizationUnavailable when model `name` cannot be quantized with `method` on `device`."""
    if not torchao_installed():
        raise QuantizationUnavailable(
            f"model {name} asks for {method} weight quantization (quantize in the model registry), "
            f"but torchao is not installed on this worker: {INSTALL}"
        )
    if method.startswith("float8"):
        capability = _cuda_capability() if device == "cuda" else None
        if capability is None or capability < FLOAT8_MIN_CAPABILITY:
            where = "the CPU" if capability is None else "a CUDA GPU of compute capability {}.{}".format(*capability)
            raise QuantizationUnavailable(
                f"model {name} asks for {method} weight quantization, which needs a CUDA GPU of compute "
                f"capability 8.9 or newer (Ada, Hopper); this worker runs it on {where}. "
                "Use int8-weight-only there, or run the model on such a GPU"
            )


def quantize_pipeline(pipe: Any, name: str, method: str, components: list[str]) -> dict[str, tuple[int, int]]:
    """Quantize the Linear weights of `components` of `pipe` in place (empty: its denoiser).

    Returns, per component quantized, the bytes of its weights before and after (`weight_bytes`)."""
    targets = components or [next((c for c in DENOISERS if getattr(pipe, c, None) is not None), "transformer")]
    sizes: dict[str, tuple[int, int]] = {}
    for component in targets:
        module = getattr(pipe, component, None)
        if module is None:
            raise ProcessingError(
                f"model {name}: quantize_components names {component}, which {type(pipe).__name__} does not have",
                code="model_misconfigured",
            )
        before = weight_bytes(module)
        quantize_module(module, method)
        sizes[component] = (before, weight_bytes(module))
    return sizes


def quantize_module(module: Any, method: str) -> None:
    """Quantize one torch module's Linear weights in place with the torchao config of `method`."""
    try:
        from torchao import quantization
    except ImportError as exc:
        raise QuantizationUnavailable(f"{method} weight quantization needs torchao: {INSTALL}") from exc
    config = getattr(quantization, METHODS[method])
    quantization.quantize_(module, config())


def weight_bytes(module: Any) -> int:
    """Bytes the parameters and buffers of `module` hold: a quantized tensor counts its inner tensors
    (int8 data and scales), not the size of the full-precision tensor it stands for."""
    return sum(_tensor_bytes(t) for t in (*module.parameters(), *module.buffers()))


def _tensor_bytes(tensor: Any) -> int:
    flatten = getattr(tensor, "__tensor_flatten__", None)
    if flatten is None:
        return int(tensor.numel() * tensor.element_size())
    names, _ = flatten()
    return sum(_tensor_bytes(getattr(tensor, n)) for n in names)


def _cuda_capability() -> tuple[int, int] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability()
    return major, minor
