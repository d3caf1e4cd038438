"""Pipeline adapters: for each diffusers call convention, `check_inputs(items)` and the call's arguments.

One adapter per kind of call; a model names its convention through its pipeline class (or
`calls_like` for a custom class), so adding a model of a known family is a registry entry only.
"""

from __future__ import annotations

from typing import Any

from videoapi.generation.pipelines import image_to_video, text_to_video, video_to_video
from videoapi.generation.pipelines.common import CallItem
from videoapi.generation.registry import ModelSpec

_ADAPTERS = {name: module for module in (text_to_video, image_to_video, video_to_video) for name in module.PIPELINES}
SUPPORTED = frozenset(_ADAPTERS)


def needs(spec: ModelSpec) -> str | None:
    """Which media input a call takes besides prompts: None, "image" or "video"."""
    return _adapter(spec).NEEDS


def build_call(spec: ModelSpec, items: list[CallItem], device: str) -> dict[str, Any]:
    """check_inputs, then the keyword arguments of one batched call (before filtering by the signature)."""
    adapter = _adapter(spec)
    adapter.check_inputs(items)
    if adapter is image_to_video:
        kwargs = image_to_video.call_kwargs(items, device, spec.call_style)
    else:
        kwargs = adapter.call_kwargs(items, device)
    return {**spec.call, **kwargs}


def _adapter(spec: ModelSpec) -> Any:
    try:
        return _ADAPTERS[spec.call_style]
    except KeyError:
        raise ValueError(
            f"model {spec.name}: no adapter for {spec.call_style}; supported: {', '.join(sorted(SUPPORTED))}"
        ) from None
