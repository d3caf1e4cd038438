"""Pure request planning: a generation request + the model's constraints -> the exact call to make.

Runs at submission (a request that cannot work is a 422 now, and the batch key is known) and again
in the worker. Frame counts are rounded up to what the model can make, sizes to its multiple; both
are reported in the result's `notes`. Steps, guidance and sizes beyond the model's limits are
refused with `limit_exceeded`, naming the field and the model's limit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from videoapi.errors import InvalidRequest
from videoapi.generation.registry import Kind, ModelSpec, Registry, StyleTemplate, legal_frames
from videoapi.generation.schemas import GenerationOptions, ImageToVideoRequest, StyleTransferRequest

PRESET_SHORT_SIDE = {"240p": 240, "360p": 360, "480p": 480, "512p": 512, "576p": 576, "720p": 720, "1080p": 1080}
# Pipelines with a motion control (`motion_strength` maps onto SVD's motion bucket id, 1..255).
MOTION_PIPELINES = frozenset({"StableVideoDiffusionPipeline"})
# Pipelines that take no prompt at all.
PROMPTLESS_PIPELINES = frozenset({"StableVideoDiffusionPipeline"})


@dataclass(frozen=True)
class GenPlan:
    """Everything one generation call needs for one request, decided before anything runs."""

    kind: Kind
    model: str
    width: int
    height: int
    frames: int
    fps: float
    steps: int
    guidance_scale: float
    seed: int
    prompt: str
    negative_prompt: str
    requested_frames: int
    strength: float | None = None
    motion_strength: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    @property
    def batch_key(self) -> str:
        """Requests with equal keys can share one batched pipeline call (prompts and seeds may differ)."""
        parts = [self.model, self.kind, f"{self.width}x{self.height}", f"f{self.frames}", f"s{self.steps}"]
        parts += [f"g{self.guidance_scale:g}", f"fps{self.fps:g}"]
        if self.strength is not None:
            parts.append(f"st{self.strength:g}")
        if self.motion_strength is not None:
            parts.append(f"m{self.motion_strength:g}")
        return "|".join(parts)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["duration_s"] = round(self.duration_s, 6)
        return out


def pick_model(registry: Registry, kind: Kind, name: str | None) -> ModelSpec:
    if name is None:
        name = registry.defaults.get(kind)
        if name is None:
            raise InvalidRequest(
                f"no default {kind} model is configured; name one in `model`",
                code="model_required",
                errors=[{"field": "model", "message": "required: this server has no default model for this kind"}],
            )
    spec = registry.models.get(name)
    if spec is None:
        known = ", ".join(sorted(registry.models)) or "none"
        raise InvalidRequest(
            f"unknown model {name!r}; known models: {known}",
            code="unknown_model",
            errors=[{"field": "model", "message": f"one of: {known}"}],
        )
    if kind not in spec.kinds:
        raise InvalidRequest(
            f"model {name!r} does not do {kind}; it does {', '.join(spec.kinds)}",
            code="model_kind_mismatch",
            errors=[{"field": "model", "message": f"{name} serves {', '.join(spec.kinds)}"}],
        )
    return spec


def plan_generation(
    registry: Registry,
    spec: ModelSpec,
    kind: Kind,
    req: GenerationOptions,
    seed: int,
    *,
    input_duration_s: float | None = None,
) -> GenPlan:
    """Map a request onto `spec`'s constraints; raise InvalidRequest naming the field when it cannot fit."""
    c = spec.constraints
    notes: list[str] = []
    fps = req.fps if req.fps is not None else c.default_fps
    _limit(fps <= c.max_fps, "fps", f"{spec.name} makes at most {c.max_fps:g} fps")
    width, height = _size(spec, req, notes)
    requested = _requested_frames(spec, req, fps, input_duration_s)
    frames = legal_frames(c.frames_rule, max(requested, c.min_frames))
    field_name = "num_frames" if req.num_frames is not None else "duration_s"
    _limit(
        frames <= c.max_frames,
        field_name,
        f"{spec.name} makes at most {c.max_frames} frames ({c.max_frames / fps:.2f} s at {fps:g} fps)",
    )
    if frames != requested:
        rule = f"{c.frames_rule} frames" if c.frames_rule != "any" else f"at least {c.min_frames} frames"
        notes.append(f"frame count rounded up from {requested} to {frames}: {spec.name} makes {rule}")
    steps = req.steps if req.steps is not None else c.default_steps
    _limit(steps <= c.max_steps, "steps", f"{spec.name} allows at most {c.max_steps} steps")
    guidance = req.guidance_scale if req.guidance_scale is not None else c.default_guidance
    _limit(guidance <= c.max_guidance, "guidance_scale", f"{spec.name} allows at most {c.max_guidance:g}")
    prompt, negative = _prompts(registry, spec, req)
    strength = None
    motion = None
    if isinstance(req, StyleTransferRequest):
        strength = req.strength if req.strength is not None else c.default_strength
    if isinstance(req, ImageToVideoRequest) and req.motion_strength is not None:
        if spec.call_style not in MOTION_PIPELINES:
            raise InvalidRequest(
                f"model {spec.name} has no motion control; leave out motion_strength or use a model that has one",
                code="unsupported_option",
                errors=[{"field": "motion_strength", "message": f"not supported by {spec.name}"}],
            )
        motion = req.motion_strength
    return GenPlan(
        kind=kind,
        model=spec.name,
        width=width,
        height=height,
        frames=frames,
        fps=fps,
        steps=steps,
        guidance_scale=guidance,
        seed=seed,
        prompt=prompt,
        negative_prompt=negative,
        requested_frames=requested,
        strength=strength,
        motion_strength=motion,
        notes=notes,
    )


def _requested_frames(spec: ModelSpec, req: GenerationOptions, fps: float, input_duration_s: float | None) -> int:
    c = spec.constraints
    if req.num_frames is not None:
        return req.num_frames
    if req.duration_s is not None:
        return max(1, math.ceil(req.duration_s * fps - 1e-6))
    if input_duration_s is not None:
        # Style transfer: as much of the input as the model can make in one go.
        return max(1, min(math.ceil(input_duration_s * fps - 1e-6), c.max_frames))
    return c.default_frames


def _size(spec: ModelSpec, req: GenerationOptions, notes: list[str]) -> tuple[int, int]:
    c = spec.constraints
    aspect = _aspect(req.aspect_ratio) if req.aspect_ratio else c.default_width / c.default_height
    if req.width is not None and req.height is not None:
        want_w, want_h, field_name = float(req.width), float(req.height), "width"
    elif req.width is not None:
        want_w, want_h, field_name = float(req.width), req.width / aspect, "width"
    elif req.height is not None:
        want_w, want_h, field_name = req.height * aspect, float(req.height), "height"
    elif req.resolution is not None or req.aspect_ratio is not None:
        short = PRESET_SHORT_SIDE[req.resolution] if req.resolution else min(c.default_width, c.default_height)
        want_w, want_h = (short * aspect, float(short)) if aspect >= 1 else (float(short), short / aspect)
        field_name = "resolution" if req.resolution else "aspect_ratio"
    else:
        return c.default_width, c.default_height
    width, height = _round_to(want_w, c.size_multiple), _round_to(want_h, c.size_multiple)
    max_pixels = c.max_pixels or c.max_width * c.max_height
    _limit(
        width <= c.max_width and height <= c.max_height and width * height <= max_pixels,
        field_name,
        f"{width}x{height} is larger than {spec.name} allows "
        f"(at most {c.max_width}x{c.max_height}, {max_pixels} pixels)",
    )
    if (req.width is not None and width != req.width) or (req.height is not None and height != req.height):
        notes.append(f"size rounded to {width}x{height}: {spec.name} needs multiples of {c.size_multiple}")
    return width, height


def _aspect(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def _prompts(registry: Registry, spec: ModelSpec, req: GenerationOptions) -> tuple[str, str]:
    prompt = getattr(req, "prompt", "") or ""
    negative = req.negative_prompt or ""
    style_name = getattr(req, "style", None)
    if style_name is None:
        return prompt, negative
    styles = registry.styles_for(spec)
    template: StyleTemplate | None = styles.get(style_name)
    if template is None:
        known = ", ".join(sorted(styles)) or "none"
        raise InvalidRequest(
            f"unknown style {style_name!r} for model {spec.name}; styles: {known}",
            code="unknown_style",
            errors=[{"field": "style", "message": f"one of: {known}"}],
        )
    styled = template.prompt.replace("{prompt}", prompt.strip() or "a scene")
    negative = ", ".join(p for p in (negative, template.negative) if p)
    return styled, negative


def _limit(ok: bool, field_name: str, message: str) -> None:
    if not ok:
        raise InvalidRequest(message, code="limit_exceeded", errors=[{"field": field_name, "message": message}])
