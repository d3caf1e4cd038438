"""Loaded pipelines, kept warm in an LRU cache bounded by a count and, on CUDA, by GPU memory.

Loading happens in a worker thread (it reads gigabytes); a process runs one pipeline call at a
time (see Runtime), so the cache needs no more than a lock against concurrent loads.
"""

from __future__ import annotations

import gc
import importlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from videoapi.errors import ModelNotInstalled, ProcessingError, scrub_paths
from videoapi.generation.quantize import check_usable, quantize_pipeline
from videoapi.generation.registry import ModelSpec, component_source, resolve_source, weights_dir
from videoapi.observability.logging import get_logger
from videoapi.observability.metrics import MODEL_CACHE_LOADED, MODEL_CACHE_REQUESTS, MODEL_LOAD_SECONDS
from videoapi.settings import Settings

log = get_logger(__name__)

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


@dataclass
class LoadedPipeline:
    spec: ModelSpec
    pipe: Any
    device: str
    """Where the generators live and the call runs: "cuda" or "cpu"."""


def resolve_device(settings: Settings, spec: ModelSpec) -> str:
    import torch

    wanted = spec.device or settings.generation.device
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ProcessingError(f"model {spec.name} is configured for CUDA but torch sees no GPU", code="no_gpu")
    return wanted


def install_hint(spec: ModelSpec, settings: Settings) -> str:
    """How an operator installs `spec`, with the server paths: for the CLI and `doctor` only."""
    if spec.is_local:
        return f"put its diffusers folder (with model_index.json) at {spec.source}"
    return f"run `videoapi models download {spec.name}` (into {weights_dir(settings, spec)})"


def public_install_hint(spec: ModelSpec) -> str:
    """How `spec` gets installed, for API callers and task errors: no server path."""
    if spec.is_local:
        return "an operator must put its diffusers folder in place (`videoapi models list` on the server says where)"
    return f"run `videoapi models download {spec.name}` on the server"


class PipelineCache:
    def __init__(self) -> None:
        self._loaded: OrderedDict[tuple[str, ...], LoadedPipeline] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, settings: Settings, spec: ModelSpec) -> LoadedPipeline:
        """The loaded pipeline of `spec`, loading it (and evicting others) when it is not warm."""
        device = resolve_device(settings, spec)
        source = resolve_source(settings, spec)
        if source is None:
            if not (settings.generation.allow_downloads and not spec.is_local):
                raise ModelNotInstalled(f"model {spec.name} is not installed: {public_install_hint(spec)}")
            source = spec.source
        key = (spec.name, source, device, spec.dtype, spec.pipeline, spec.quantize or "")
        with self._lock:
            if key in self._loaded:
                MODEL_CACHE_REQUESTS.labels(spec.name, "hit").inc()
                self._loaded.move_to_end(key)
                return self._loaded[key]
            MODEL_CACHE_REQUESTS.labels(spec.name, "miss").inc()
            self._evict(settings, room_for_one=True)
            started = time.monotonic()
            loaded = self._load(settings, spec, source, device)
            MODEL_LOAD_SECONDS.labels(spec.name).observe(time.monotonic() - started)
            self._loaded[key] = loaded
            MODEL_CACHE_LOADED.labels(spec.name).set(1)
            self._evict(settings, room_for_one=False)
            return loaded

    def clear(self) -> None:
        with self._lock:
            for name in self.loaded_names():
                MODEL_CACHE_LOADED.labels(name).set(0)
            self._loaded.clear()
            _release_memory()

    def loaded_names(self) -> list[str]:
        return [key[0] for key in self._loaded]

    def _evict(self, settings: Settings, *, room_for_one: bool) -> None:
        limit = settings.generation.max_loaded_models - (1 if room_for_one else 0)
        while len(self._loaded) > max(limit, 0) or (len(self._loaded) > 1 and _gpu_too_full(settings)):
            key, old = self._loaded.popitem(last=False)
            log.info("pipeline_evicted", model=key[0])
            if key[0] not in self.loaded_names():  # the same model may stay loaded for another device
                MODEL_CACHE_LOADED.labels(key[0]).set(0)
            del old
            _release_memory()

    def _load(self, settings: Settings, spec: ModelSpec, source: str, device: str) -> LoadedPipeline:
        import torch

        cls = pipeline_class(spec.pipeline)
        if spec.quantize:
            check_usable(spec.name, spec.quantize, device)  # before reading gigabytes of weights
        dtype = getattr(torch, _DTYPES[spec.dtype]) if device == "cuda" else torch.float32
        torch_dtype: Any = dtype
        if device == "cuda" and spec.component_dtypes:
            torch_dtype = {"default": dtype, **{k: getattr(torch, v) for k, v in spec.component_dtypes.items()}}
        offline = not settings.generation.allow_downloads
        kwargs: dict[str, Any] = {"dtype": torch_dtype, "local_files_only": offline}
        if spec.variant and device == "cuda":
            kwargs["variant"] = spec.variant
        if spec.revision and source == spec.source:
            kwargs["revision"] = spec.revision
        for name, comp in spec.components.items():
            comp_source = component_source(settings, spec, name) or (comp.source if not offline else None)
            if comp_source is None:
                raise ModelNotInstalled(
                    f"model {spec.name}: component {name} is not installed: {public_install_hint(spec)}"
                )
            comp_cls = pipeline_class(comp.cls)
            comp_kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": offline}
            if comp.subfolder:
                comp_kwargs["subfolder"] = comp.subfolder
            kwargs[name] = comp_cls.from_pretrained(comp_source, **comp_kwargs)
        log.info("pipeline_loading", model=spec.name, source=source, device=device)
        _quiet_progress_bars()
        try:
            pipe = cls.from_pretrained(source, **kwargs)
        except (OSError, FileNotFoundError) as exc:
            log.warning("pipeline_load_failed", model=spec.name, source=source, error=str(exc)[:500])
            raise ModelNotInstalled(
                f"model {spec.name} could not be loaded: {scrub_paths(str(exc)[:300])}; {public_install_hint(spec)}"
            ) from exc
        offload = device == "cuda" and (spec.sequential_cpu_offload or spec.model_cpu_offload)
        if not offload:
            pipe.to(device)  # torchao quantizes on the device the weights will run on
        if spec.quantize:
            # Before the offload hooks (they move what they find) and before torch.compile (it traces it).
            _quantize(pipe, spec)
        if device == "cuda" and spec.sequential_cpu_offload:
            pipe.enable_sequential_cpu_offload()
        elif offload:
            pipe.enable_model_cpu_offload()
        vae = getattr(pipe, "vae", None)
        if spec.vae_tiling and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if spec.vae_slicing and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
        if spec.compile and device == "cuda":
            for attr in ("transformer", "unet"):
                if getattr(pipe, attr, None) is not None:
                    setattr(pipe, attr, torch.compile(getattr(pipe, attr)))
                    break
        if settings.generation.cpu_threads and device == "cpu":
            torch.set_num_threads(settings.generation.cpu_threads)
        pipe.set_progress_bar_config(disable=True)
        return LoadedPipeline(spec, pipe, device)


def _quantize(pipe: Any, spec: ModelSpec) -> None:
    assert spec.quantize is not None
    started = time.monotonic()
    sizes = quantize_pipeline(pipe, spec.name, spec.quantize, spec.quantize_components)
    log.info(
        "pipeline_quantized",
        model=spec.name,
        method=spec.quantize,
        weight_bytes={name: {"before": before, "after": after} for name, (before, after) in sizes.items()},
        seconds=round(time.monotonic() - started, 2),
    )


def pipeline_class(name: str) -> Any:
    """A diffusers class by name, or `module:Class` for a custom one named in the registry."""
    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)
    import diffusers

    try:
        return getattr(diffusers, name)
    except AttributeError:
        raise ProcessingError(f"diffusers has no class {name}", code="model_misconfigured") from None


def _quiet_progress_bars() -> None:
    # Loading bars on stderr are noise in a worker's structured logs.
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _gpu_too_full(settings: Settings) -> bool:
    import torch

    if not torch.cuda.is_available():
        return False
    free, total = torch.cuda.mem_get_info()
    return (total - free) / total > settings.generation.cache_memory_fraction


def _release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


CACHE = PipelineCache()
"""The process's cache: GPU workers and embedded workers share it."""
