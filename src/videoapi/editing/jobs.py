"""Worker entry point of every edit kind: resolve inputs, plan, then the shared output step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import structlog

from videoapi.assets.service import AssetService
from videoapi.billing.service import BillingService
from videoapi.editing.kinds import KINDS, EditKind
from videoapi.editing.schemas import TranscodeRequest
from videoapi.editing.service import QUEUE, check_planned_size, check_requested_size, planned_estimate
from videoapi.editing.source import Source
from videoapi.editing.timeline import CompositeRequest, OutputSpec
from videoapi.media.encoding import output_codec
from videoapi.media.gops import read_index
from videoapi.media.hardware import choose_encoder, usable_encoders
from videoapi.media.plan import Plan
from videoapi.observability.metrics import ENCODER_FALLBACKS
from videoapi.outputs.step import OutputStep
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec
from videoapi.settings import Settings

log = structlog.get_logger(__name__)


class EditJobs:
    def __init__(self, settings: Settings, assets: AssetService, step: OutputStep, billing: BillingService) -> None:
        self.settings = settings
        self.assets = assets
        self.step = step
        self.billing = billing

    async def run(self, ctx: JobContext) -> JobOutput:
        spec = KINDS[ctx.task.kind]
        req = msgspec.convert(ctx.task.params, spec.request_type)
        sources = await self.sources(ctx, spec, req)
        done = 0.0
        if spec.prepare is not None:
            if spec.reports_progress:

                def prepared(fraction: float) -> None:
                    nonlocal done
                    done = max(done, fraction)
                    ctx.report_progress(fraction)

                req = await spec.prepare(req, sources, ctx.work_dir, self.settings, on_progress=prepared)
            else:
                req = await spec.prepare(req, sources, ctx.work_dir, self.settings)
        # The render pass takes the progress on from where a long prepare step (a mask pass) left it.
        return await self.render(ctx, spec, req, sources, progress_from=done)

    async def sources(self, ctx: JobContext, spec: EditKind, req: Any) -> list[Source]:
        """The request's inputs, fetched or read in place and probed (with their GOP index if the kind asks)."""
        sources = []
        for i, ref in enumerate(spec.inputs(req)):
            in_dir = ctx.work_dir / f"in{i}"
            in_dir.mkdir()
            local = await self.assets.resolve_input(ctx.task.owner_id, ref, in_dir)
            index = None
            if spec.index is not None and spec.index(req) and local.media.video is not None:
                index = await asyncio.to_thread(read_index, local.path, self.settings.limits)
            sources.append(Source(local.path, local.media, index))
        return sources

    async def render(
        self,
        ctx: JobContext,
        spec: EditKind,
        req: Any,
        sources: list[Source],
        amend: Callable[[Plan, Path], Plan] | None = None,
        progress_from: float = 0.0,
    ) -> JobOutput:
        """Plan `req` on its resolved inputs (`amend` adds to the plan, e.g. documents to store), check and
        charge the planned size, run it and store the outputs. The pass's progress runs from `progress_from`
        (what the job did before, e.g. a transcription) to 1."""
        req, family = await self._choose_encoder(ctx, req)
        out_dir = ctx.work_dir / "out"
        out_dir.mkdir()
        plan = spec.plan(req, sources, out_dir, self.settings)
        if amend is not None:
            plan = amend(plan, out_dir)
        # A URL input was reserved before it was probed: the limits and the estimate on its real length
        # and size now, so that it fails (422, 402) before any work rather than render for free.
        params = ctx.task.params or {}
        check_requested_size(params, plan.duration_s, self.settings)
        check_planned_size(plan, self.settings)
        credits = planned_estimate(self.billing, ctx.task.kind, params, plan, [s.media for s in sources])
        await self.billing.top_up(ctx.task.owner_id, ctx.task.id, credits)
        rendered = await self.step.run_plan(
            ctx, plan, req.watermark, lambda f: ctx.report_progress(progress_from + (1 - progress_from) * f)
        )
        output = await self.step.finish(ctx, rendered)
        if spec.describe is not None:
            spec.describe(req, sources, output.result)
        if family is not None:
            output.result["encoder"] = family
        return output

    async def _choose_encoder(self, ctx: JobContext, req: Any) -> tuple[Any, str | None]:
        """The request with its `encoder` made concrete for this worker (`choose_encoder`): `auto` becomes
        a usable hardware family or `software` (the fallback counted by reason). None: no encoder option."""
        out = req.output if isinstance(req, CompositeRequest) else req
        if not isinstance(out, (TranscodeRequest, OutputSpec)):
            return req, None
        codec = None if out.format == "gif" else output_codec(out.format, out.codec)
        probe = self.settings.outputs.probe_hardware
        timeout_s = self.settings.outputs.hardware_probe_timeout_s
        usable = await asyncio.to_thread(usable_encoders, timeout_s) if probe else None
        family, fallback = choose_encoder(out.encoder, codec, usable)
        if fallback is not None:
            ENCODER_FALLBACKS.labels(fallback).inc()
            log.info("encoder_fallback", task_id=ctx.task.id, codec=codec, reason=fallback)
        chosen = msgspec.structs.replace(out, encoder=family)
        if isinstance(req, CompositeRequest):
            return msgspec.structs.replace(req, output=chosen), family
        return chosen, family

    def specs(self) -> list[JobSpec]:
        return [JobSpec(kind, QUEUE, self.run) for kind in KINDS]
