"""Text-to-video: LTX-Video, Wan 2.x and CogVideoX take the same call (prompts, size, frames, steps)."""

from __future__ import annotations

from typing import Any

from videoapi.generation.calls import TEXT_TO_VIDEO
from videoapi.generation.pipelines.common import CallItem, check_same_call, generators, require

PIPELINES = TEXT_TO_VIDEO
NEEDS: str | None = None


def check_inputs(items: list[CallItem]) -> None:
    check_same_call(items)
    require(all(item.plan.prompt.strip() for item in items), "text-to-video needs a prompt")


def call_kwargs(items: list[CallItem], device: str) -> dict[str, Any]:
    plan = check_same_call(items)
    return {
        "prompt": [item.plan.prompt for item in items],
        "negative_prompt": [item.plan.negative_prompt for item in items],
        "num_frames": plan.frames,
        "height": plan.height,
        "width": plan.width,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance_scale,
        "frame_rate": round(plan.fps),
        "generator": generators(items, device),
    }
