"""Edit submissions: validate against the probed inputs up front, then create the task."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.service import AssetService
from videoapi.auth.principal import Principal
from videoapi.billing.service import BillingService
from videoapi.editing.kinds import KINDS, EditKind
from videoapi.editing.plan import RESOLUTION_SHORT_SIDE
from videoapi.editing.source import Source
from videoapi.errors import InvalidRequest
from videoapi.media.plan import Plan
from videoapi.media.probe import MediaInfo
from videoapi.moderation.policy import PolicyService
from videoapi.moderation.service import Moderation
from videoapi.outputs.schemas import destination_ids
from videoapi.outputs.step import OutputStep
from videoapi.outputs.watermark import replace_plan
from videoapi.settings import Settings
from videoapi.tasks.eta import queue_eta
from videoapi.tasks.schemas import EstimateOut
from videoapi.tasks.states import PRIORITIES

QUEUE = "cpu"


class EditingService:
    """Edit submissions for the API: validate against the probed inputs up front, then the task's arguments."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        assets: AssetService,
        policies: PolicyService,
        moderation: Moderation,
        billing: BillingService,
        step: OutputStep,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.assets = assets
        self.policies = policies
        self.moderation = moderation
        self.billing = billing
        self.step = step

    async def prepare(self, principal: Principal, kind: str, req: Any) -> dict[str, Any]:
        """Validate `req` and return the keyword arguments of `TaskService.create` for it."""
        return (await self.prepare_kind(principal, KINDS[kind], req))[0]

    async def prepare_kind(self, principal: Principal, spec: EditKind, req: Any) -> tuple[dict[str, Any], float | None]:
        """`prepare`, plus the planned output duration (None while a URL input is not probed).

        The planner runs here on the inputs' probes so that a request that cannot work is a 422 now,
        not a failed task later; it runs again in the worker on the real files. Inputs given as URLs
        are probed by the worker, so for them only the checks that need no probe run here.
        """
        kind = spec.kind
        settings = self.settings
        policy = await self.policies.get(principal.owner_id)
        if spec.drawn is None:
            self.moderation.screen(req, policy.moderation_rules)
        else:
            # Parsing and screening megabytes of subtitle text takes seconds of CPU: off the event loop,
            # so that one such request does not stall every other request of the process.
            drawn = await asyncio.to_thread(spec.drawn, req, settings)
            await asyncio.to_thread(self.moderation.screen, req, policy.moderation_rules, drawn)
        wm = await self.step.resolve_watermark(principal.owner_id, req.watermark, policy)
        req = msgspec.structs.replace(req, watermark=wm)
        refs = spec.inputs(req)
        if len(refs) > settings.editing.max_inputs:
            raise InvalidRequest(
                f"the request names {len(refs)} inputs; the limit is {settings.editing.max_inputs}",
                code="limit_exceeded",
                errors=[{"field": "editing.max_inputs", "message": f"at most {settings.editing.max_inputs} inputs"}],
            )
        medias = [await self.assets.check_input(principal.owner_id, ref) for ref in refs]
        time_limit = None
        params = msgspec.to_builtins(req)
        params.pop("webhook_url", None)
        params.pop("priority", None)
        params.pop("destinations", None)
        known = [m for m in medias if m is not None]
        width, height = _size_bound(params, known)
        if len(known) == len(medias):
            sources = [Source(Path(f"input{i}"), m) for i, m in enumerate(known)]
            if spec.drawn is None:
                plan = spec.plan(req, sources, Path("output"), settings)
            else:
                plan = await asyncio.to_thread(spec.plan, req, sources, Path("output"), settings)
            if wm is not None:
                replace_plan(plan, wm, Path("watermark-logo") if wm.image else None, settings.editing.fonts_dir)
            time_limit = settings.time_limit_for(kind) + settings.editing.time_limit_per_output_s * plan.duration_s
            check_planned_size(plan, settings)
            seconds: float | None = plan.duration_s
        else:
            if spec.check is not None:
                spec.check(req, settings)
            seconds = None
        check_requested_size(params, seconds, settings)
        # URL inputs: reserved for the longest output they may give; the worker tops it up once probed.
        reserve_s = settings.billing.unprobed_reserve_s if seconds is None else seconds
        estimate = self.billing.estimate(kind, reserve_s, width, height).credits
        kwargs = {
            "owner_id": principal.owner_id,
            "kind": kind,
            "queue": QUEUE,
            "params": params,
            "priority": PRIORITIES[req.priority],
            "webhook_url": req.webhook_url,
            "destinations": destination_ids(req),
            "time_limit_s": time_limit,
            "estimate_credits": estimate,
        }
        return kwargs, seconds

    async def estimate(self, principal: Principal, kind: str, req: Any) -> EstimateOut:
        """What submitting `req` would do, without creating anything (same validation as a create)."""
        return await self.estimate_prepared(kind, *await self.prepare_kind(principal, KINDS[kind], req))

    async def estimate_prepared(self, kind: str, prepared: dict[str, Any], seconds: float | None) -> EstimateOut:
        """The estimate of a prepared request (`prepare_kind`'s answer)."""
        eta = await queue_eta(self.sessions, prepared["queue"], kind, prepared["priority"])
        return EstimateOut(
            kind=kind,
            valid=True,
            output_seconds=seconds,
            estimate_credits=prepared["estimate_credits"],
            queue=prepared["queue"],
            tasks_ahead=eta.ahead,
            eta_s=eta.eta_s,
        )


def planned_estimate(
    billing: BillingService, kind: str, params: dict[str, Any], plan: Plan, medias: list[MediaInfo]
) -> float:
    """Credits of an edit once its inputs are probed: the planned length at the largest frame it may have."""
    return billing.estimate(kind, plan.duration_s, *_size_bound(params, medias)).credits


def check_requested_size(params: dict[str, Any], seconds: float | None, settings: Settings) -> None:
    """The output limits against the size a request asks for, whatever its kind, before a task exists
    (`check_planned_size` checks the size a planner derives from its inputs)."""
    for prefix, where in (("", params), ("output.", params.get("output"))):
        if not isinstance(where, dict):
            continue
        width, height = where.get("width"), where.get("height")
        _check_output_size(
            width if isinstance(width, int) else None,
            height if isinstance(height, int) else None,
            seconds,
            prefix,
            settings,
        )


def check_planned_size(plan: Plan, settings: Settings) -> None:
    """The output limits against the frame the plan makes: a kind that keeps its input's size (a
    transcode with no size, a trim) is bounded by `editing.max_output_*`, not only by the input limits."""
    if plan.expect is not None and plan.expect.size is not None:
        width, height = plan.expect.size
        _check_output_size(width, height, plan.duration_s, "", settings, what="the output")


def _check_output_size(
    width: int | None, height: int | None, seconds: float | None, prefix: str, settings: Settings, what: str = ""
) -> None:
    limits = settings.editing
    over = [
        (width is not None and width > limits.max_output_width, "width", "max_output_width", width),
        (height is not None and height > limits.max_output_height, "height", "max_output_height", height),
    ]
    if width is not None and height is not None:
        pixels = width * height
        over.append((pixels > limits.max_output_pixels, "width", "max_output_pixels", pixels))
        if seconds is not None:
            pixel_s = pixels * seconds
            over.append((pixel_s > limits.max_output_pixel_seconds, "width", "max_output_pixel_seconds", pixel_s))
    for exceeded, field, setting, value in over:
        if exceeded:
            limit = getattr(limits, setting)
            message = f"{value:g} is over the limit of {limit:g} (setting editing.{setting})"
            if what:
                message = f"{what} would be {width}x{height}: {message}"
            raise InvalidRequest(
                f"{prefix}{field}: {message}",
                code="limit_exceeded",
                errors=[{"field": f"{prefix}{field}", "message": message}],
            )


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
