"""What every pipeline adapter shares: one batch member's inputs, generators, call-argument filtering."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from videoapi.errors import ProcessingError
from videoapi.generation.plan import GenPlan

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image


@dataclass
class CallItem:
    """One request inside a batched pipeline call."""

    plan: GenPlan
    image: Image | None = None
    """Image-to-video: the first frame, already fitted to the plan's size."""
    video: list[Image] | None = None
    """Video-to-video: the input frames, fitted to the plan's size and sampled at its fps."""


def check_same_call(items: list[CallItem]) -> GenPlan:
    """Members of one call must agree on everything but prompts and seeds (their batch keys are equal)."""
    if not items:
        raise ValueError("a pipeline call needs at least one item")
    first = items[0].plan
    for item in items[1:]:
        if item.plan.batch_key != first.batch_key:
            raise ValueError(f"incompatible batch members: {item.plan.batch_key} != {first.batch_key}")
    return first


def generators(items: list[CallItem], device: str) -> list[torch.Generator]:
    """One generator per request, so each request's noise depends on its own seed only (batch or not)."""
    import torch

    return [torch.Generator(device=device).manual_seed(item.plan.seed) for item in items]


def accepted(pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keep the arguments the pipeline's __call__ takes (LTX takes frame_rate, Wan does not)."""
    names: set[str] = set()
    for cls in type(pipe).__mro__:
        call = cls.__dict__.get("__call__")
        if call is None:
            continue
        params = inspect.signature(call).parameters
        names |= set(params)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    return {k: v for k, v in kwargs.items() if k in names}


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ProcessingError(message, code="generation_invalid_input")
