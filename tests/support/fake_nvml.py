"""A stand-in for NVIDIA's `pynvml` module (nvidia-ml-py) with scripted devices, for machines without a GPU.

It answers the calls the GPU collector makes, with the same shapes as the real binding: names may be
bytes (older drivers) or str, memory info has `used`/`total`, utilisation rates have `gpu` in percent.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any


class NVMLError(Exception):
    """Base of the binding's errors, as `pynvml.NVMLError`."""


@dataclass
class FakeGpu:
    name: str | bytes
    used_bytes: int
    total_bytes: int
    utilisation_pct: int | None = None
    """None: the query is not supported (as on a MIG instance) and raises NVMLError."""


def fake_pynvml(gpus: list[FakeGpu], *, init_fails: bool = False) -> types.ModuleType:
    """A module object to put at sys.modules["pynvml"]; `module.init_calls` counts nvmlInit calls."""
    module = types.ModuleType("pynvml")
    module.init_calls = 0  # type: ignore[attr-defined]

    def nvml_init() -> None:
        module.init_calls += 1  # type: ignore[attr-defined]
        if init_fails:
            raise NVMLError("Driver Not Loaded")

    def utilisation(handle: FakeGpu) -> Any:
        if handle.utilisation_pct is None:
            raise NVMLError("Not Supported")
        return types.SimpleNamespace(gpu=handle.utilisation_pct, memory=0)

    module.NVMLError = NVMLError  # type: ignore[attr-defined]
    module.nvmlInit = nvml_init  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = lambda: len(gpus)  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda index: gpus[index]  # type: ignore[attr-defined]
    module.nvmlDeviceGetName = lambda handle: handle.name  # type: ignore[attr-defined]
    module.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(  # type: ignore[attr-defined]
        used=handle.used_bytes, total=handle.total_bytes, free=handle.total_bytes - handle.used_bytes
    )
    module.nvmlDeviceGetUtilizationRates = utilisation  # type: ignore[attr-defined]
    return module
