"""Edit submissions: validate against the probed inputs up front, then create the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from videoapi.auth.deps import Principal
from videoapi.editing.kinds import KINDS
from videoapi.editing.plan import RESOLUTION_SHORT_SIDE
from videoapi.editing.source import Source
from videoapi.editing.watermark import VisibleWatermark, check_watermark, effective_watermark, replace_plan
from videoapi.errors import InvalidRequest
from videoapi.media.probe import MediaInfo
from videoapi.moderation.policy import Policy
from videoapi.services import Services
from videoapi.tasks.eta import queue_eta
from videoapi.tasks.states import PRIORITIES

QUEUE = "cpu"


async def prepare_edit(services: Services, principal: Principal, kind: str, req: Any) -> dict[str, Any]:
    """Validate `req` and return the keyword arguments of `TaskService.create` for it."""
    return (await _prepare(services, principal, kind, req))[0]


async def _prepare(
    services: Services, principal: Principal, kind: str, req: Any
) -> tuple[dict[str, Any], float | None]:
    """`prepare_edit`, plus the planned output duration (None while a URL input is not probed).

    The planner runs here on the inputs' probes so that a request that cannot work is a 422 now,
    not a failed task later; it runs again in the worker on the real files. Inputs given as URLs
    are probed by the worker, so for them only the checks that need no probe run here.
    """
    spec = KINDS[kind]
    settings = services.settings
    policy = await services.policies.get(principal.owner_id)
    services.moderation.screen(req, policy.moderation_rules)
    wm = await resolve_watermark(services, principal.owner_id, req.watermark, policy)
    req = msgspec.structs.replace(req, watermark=wm)
    refs = spec.inputs(req)
    if len(refs) > settings.editing.max_inputs:
        raise InvalidRequest(
            f"the request names {len(refs)} inputs; the limit is {settings.editing.max_inputs}",
            code="limit_exceeded",
            errors=[{"field": "editing.max_inputs", "message": f"at most {settings.editing.max_inputs} inputs"}],
        )
    medias = [await services.assets.check_input(principal.owner_id, ref) for ref in refs]
    time_limit = None
    params = msgspec.to_builtins(req)
    params.pop("webhook_url", None)
    params.pop("priority", None)
    known = [m for m in medias if m is not None]
    width, height = _size_bound(params, known)
    if len(known) == len(medias):
        sources = [Source(Path(f"input{i}"), m) for i, m in enumerate(known)]
        plan = spec.plan(req, sources, Path("output"), settings)
        if wm is not None:
            replace_plan(plan, wm, Path("watermark-logo") if wm.image else None, settings.editing.fonts_dir)
        time_limit = settings.time_limit_for(kind) + settings.editing.time_limit_per_output_s * plan.duration_s
        seconds: float | None = plan.duration_s
    else:
        if spec.check is not None:
            spec.check(req, settings)
        # URL inputs are probed by the worker: reserve for the longest output they may give.
        seconds = None
    reserve_s = settings.billing.unprobed_reserve_s if seconds is None else seconds
    estimate = services.billing.estimate(kind, reserve_s, width, height).credits
    kwargs = {
        "owner_id": principal.owner_id,
        "kind": kind,
        "queue": QUEUE,
        "params": params,
        "priority": PRIORITIES[req.priority],
        "webhook_url": req.webhook_url,
        "time_limit_s": time_limit,
        "estimate_credits": estimate,
    }
    return kwargs, seconds


async def resolve_watermark(
    services: Services, owner_id: str, requested: VisibleWatermark | None, policy: Policy
) -> VisibleWatermark | None:
    """The visible watermark an output gets (see `effective_watermark`), checked: a 422 names what is wrong."""
    cfg = services.settings.watermark
    wm = effective_watermark(
        requested, policy.trial, policy.watermark, cfg.trial_text, cfg.trial_position, cfg.trial_opacity
    )
    if wm is None:
        return None
    check_watermark(wm, fonts_dir=services.settings.editing.fonts_dir)
    if wm.image is not None:
        media = await services.assets.check_input(owner_id, wm.image)
        if media is not None and media.video is None:
            raise InvalidRequest(
                "the watermark image has no picture",
                code="input_not_image",
                errors=[{"field": "watermark.image", "message": "not an image or video"}],
            )
    return wm


def _size_bound(params: dict[str, Any], medias: list[MediaInfo]) -> tuple[int | None, int | None]:
    """The largest frame the output may have: the biggest input or the size the request asks for.

    The reservation is an upper bound, since a task is charged its actual cost capped at it.
    """
    sizes = [(m.video.width, m.video.height) for m in medias if m.video is not None]
    for where in (params, params.get("output") or {}):
        if isinstance(where, dict):
            preset = where.get("resolution")
            if isinstance(preset, str) and preset in RESOLUTION_SHORT_SIDE:
                side = RESOLUTION_SHORT_SIDE[preset]
                sizes.append((side, side))
            if isinstance(where.get("width"), int) or isinstance(where.get("height"), int):
                w, h = where.get("width") or where.get("height"), where.get("height") or where.get("width")
                sizes.append((int(w), int(h)))
    if not sizes:
        return None, None
    return max(sizes, key=lambda wh: min(wh))


class EstimateOut(msgspec.Struct):
    kind: str
    valid: bool
    """Always true: an invalid request is a 422 problem, as on the create route."""
    output_seconds: float | None
    """Planned output duration; None while an input is a URL not probed yet."""
    estimate_credits: float
    """Credits reserved at submission; the charge is the actual cost, at most this."""
    queue: str
    tasks_ahead: int
    eta_s: float
    """Rough seconds until the result, from the queue and recent run times."""


async def estimate_edit(services: Services, principal: Principal, kind: str, req: Any) -> EstimateOut:
    """What submitting `req` would do, without creating anything (same validation as a create)."""
    prepared, seconds = await _prepare(services, principal, kind, req)
    eta = await queue_eta(services.sessions, prepared["queue"], kind, prepared["priority"])
    return EstimateOut(
        kind=kind,
        valid=True,
        output_seconds=seconds,
        estimate_credits=prepared["estimate_credits"],
        queue=prepared["queue"],
        tasks_ahead=eta.ahead,
        eta_s=eta.eta_s,
    )
