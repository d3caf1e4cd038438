"""Image-to-video: a first frame plus (for LTX and Wan) a prompt; SVD takes the image alone."""

from __future__ import annotations

from typing import Any

from videoapi.generation.calls import IMAGE_TO_VIDEO
from videoapi.generation.pipelines.common import CallItem, check_same_call, generators, require

PIPELINES = IMAGE_TO_VIDEO
NEEDS: str | None = "image"
SVD = "StableVideoDiffusionPipeline"


def check_inputs(items: list[CallItem]) -> None:
    plan = check_same_call(items)
    for item in items:
        require(item.image is not None, "image-to-video needs an image")
        assert item.image is not None
        require(item.image.size == (plan.width, plan.height), "the image must be fitted to the output size first")


def call_kwargs(items: list[CallItem], device: str, call_style: str) -> dict[str, Any]:
    plan = check_same_call(items)
    common: dict[str, Any] = {
        "image": [item.image for item in items],
        "num_frames": plan.frames,
        "height": plan.height,
        "width": plan.width,
        "num_inference_steps": plan.steps,
        "generator": generators(items, device),
    }
    if call_style == SVD:
        # SVD is conditioned on fps and a motion bucket (1..255); guidance ramps from 1 to the scale.
        motion = 0.5 if plan.motion_strength is None else plan.motion_strength
        return {
            **common,
            "fps": max(1, round(plan.fps) - 1),
            "motion_bucket_id": 1 + round(254 * motion),
            "min_guidance_scale": 1.0,
            "max_guidance_scale": max(plan.guidance_scale, 1.0),
        }
    return {
        **common,
        "prompt": [item.plan.prompt for item in items],
        "negative_prompt": [item.plan.negative_prompt for item in items],
        "guidance_scale": plan.guidance_scale,
        "frame_rate": round(plan.fps),
    }
