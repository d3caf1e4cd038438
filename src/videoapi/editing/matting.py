"""The worker step of `edit/background` before planning: the chroma key's colour from the frame
borders, or the mask video of a `person` or `object` matte computed by the registry's model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from videoapi.editing.backdrop import with_estimated_key
from videoapi.editing.background import (
    BackgroundRequest,
    MattedBackground,
    ObjectMatte,
    PersonMatte,
    check_prompt,
)
from videoapi.editing.source import Source
from videoapi.settings import Settings
from videoapi.vision import pick_vision_model, require_vision_weights
from videoapi.vision.masks import Prompt, compute_mask

KIND = "edit.background"
MASK_SHARE = 0.8
"""Share of the task's progress given to the mask pass (the model); the ffmpeg pass has the rest."""


async def prepare_background(
    req: BackgroundRequest,
    sources: Sequence[Source],
    work_dir: Path,
    settings: Settings,
    on_progress: Callable[[float], None] | None = None,
) -> BackgroundRequest:
    """The request to plan: with the estimated key colour (chroma) or the computed mask video."""
    matte = req.matte
    if not isinstance(matte, PersonMatte | ObjectMatte):
        return await with_estimated_key(req, sources, work_dir, settings)
    media = sources[0].media
    prompt = None
    if isinstance(matte, ObjectMatte):
        frame = check_prompt(matte, media)
        box = tuple(matte.box) if matte.box is not None else None
        prompt = Prompt([(p[0], p[1]) for p in matte.points], box, frame)  # type: ignore[arg-type]
        kind = "segmentation"
    else:
        kind = "matting"
    spec = pick_vision_model(settings, kind, "matte.mode")  # type: ignore[arg-type]
    folder = require_vision_weights(settings, spec, "matte.mode")
    mask = await compute_mask(
        "person" if prompt is None else "object",
        spec,
        folder,
        sources[0].path,
        media,
        work_dir / "mask.y4m",
        settings,
        timeout_s=settings.time_limit_for(KIND) + settings.editing.time_limit_per_output_s * media.duration_s,
        prompt=prompt,
        smoothing=matte.smoothing if isinstance(matte, PersonMatte) else 0.0,
        on_progress=(lambda f: on_progress(f * MASK_SHARE)) if on_progress is not None else None,
    )
    fields = {f: getattr(req, f) for f in req.__struct_fields__}
    return MattedBackground(**fields, mask_path=str(mask.path), mask_frames=mask.frames)
