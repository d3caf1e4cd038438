"""Diffusion style transfer: AnimateDiff video-to-video re-renders the input frames under a style prompt."""

from __future__ import annotations

from typing import Any

from videoapi.generation.calls import VIDEO_TO_VIDEO
from videoapi.generation.pipelines.common import CallItem, check_same_call, generators, require

PIPELINES = VIDEO_TO_VIDEO
NEEDS: str | None = "video"


def check_inputs(items: list[CallItem]) -> None:
    plan = check_same_call(items)
    for item in items:
        require(item.video is not None and len(item.video) == plan.frames, "video-to-video needs the sampled frames")


def call_kwargs(items: list[CallItem], device: str) -> dict[str, Any]:
    plan = check_same_call(items)
    return {
        "video": [item.video for item in items],
        "prompt": [item.plan.prompt for item in items],
        "negative_prompt": [item.plan.negative_prompt for item in items],
        "height": plan.height,
        "width": plan.width,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance_scale,
        "strength": plan.strength,
        "generator": generators(items, device),
    }
