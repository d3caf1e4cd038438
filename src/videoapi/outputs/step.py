"""One "run a plan, check and store its outputs" step, shared by every job (edit, generation, style
transfer, each batch member), so that no job can skip a check the others make.

The API side resolves the visible watermark an output will carry; the worker side applies it, runs
the ffmpeg pass, scans every output with the owner's moderation threshold, signs generated outputs
with Content Credentials, and stores them. Billing reads the stored result when the task finishes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from videoapi.assets.service import AssetService
from videoapi.errors import InvalidRequest, ProcessingError
from videoapi.media.encoding import CONTENT_TYPES
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.media.formats import join_rendition
from videoapi.media.plan import Expected, Plan, bounded_args
from videoapi.moderation.frames import scan_configured
from videoapi.moderation.policy import Policy, PolicyService
from videoapi.outputs.verify import verify_output
from videoapi.outputs.watermark import VisibleWatermark, check_watermark, effective_watermark, replace_plan
from videoapi.provenance.credentials import sign_ai_generated
from videoapi.queue.jobs import JobContext, JobOutput
from videoapi.settings import Settings

_BEFORE_TIMEOUT_S = 600.0
log = structlog.get_logger(__name__)


@dataclass
class Rendered:
    """Files a job produced locally: the main output (with its poster) and any extra outputs."""

    output: Path
    poster: Path | None
    content_type: str
    extras: list[tuple[Path, str]] = field(default_factory=list)
    documents: list[tuple[Path, str]] = field(default_factory=list)
    """Text outputs (a transcript) stored after the media ones, neither probed nor scanned for frames."""
    render: dict[str, Any] | None = None
    """The plan's `render` report, shown as `result.render`."""
    expect: Expected | None = None
    """What the main output must be, for outputs made without a plan (generated video): `finish` checks
    it before anything is scanned or stored. A plan's output is checked as soon as it is rendered, so
    that a smart render that does not match can fall back to a full one."""


@dataclass(frozen=True)
class Generated:
    """A generated output: its Content Credentials name the model and the task."""

    model: str
    provenance: dict[str, Any] = field(default_factory=dict)
    """What the job already recorded (the invisible watermark); C2PA fields are added to it."""


class OutputStep:
    def __init__(self, settings: Settings, assets: AssetService, policies: PolicyService) -> None:
        self.settings = settings
        self.assets = assets
        self.policies = policies

    # ---- API side -------------------------------------------------------------------------

    async def resolve_watermark(
        self, owner_id: str, requested: VisibleWatermark | None, policy: Policy
    ) -> VisibleWatermark | None:
        """The visible watermark an output gets (see `effective_watermark`), checked: a 422 names what is wrong."""
        cfg = self.settings.watermark
        wm = effective_watermark(
            requested, policy.trial, policy.watermark, cfg.trial_text, cfg.trial_position, cfg.trial_opacity
        )
        if wm is None:
            return None
        check_watermark(wm, fonts_dir=self.settings.editing.fonts_dir)
        if wm.image is not None:
            media = await self.assets.check_input(owner_id, wm.image)
            if media is not None and media.video is None:
                raise InvalidRequest(
                    "the watermark image has no picture",
                    code="input_not_image",
                    errors=[{"field": "watermark.image", "message": "not an image or video"}],
                )
        return wm

    # ---- worker side ----------------------------------------------------------------------

    async def watermark_logo(self, ctx: JobContext, wm: VisibleWatermark) -> Path | None:
        """The local file of a watermark's logo (fetched or read in place), or None for a text mark."""
        if wm.image is None:
            return None
        folder = ctx.work_dir / "wm"
        folder.mkdir(exist_ok=True)
        return (await self.assets.resolve_input(ctx.task.owner_id, wm.image, folder)).path

    async def run_plan(
        self,
        ctx: JobContext,
        plan: Plan,
        watermark: VisibleWatermark | None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Rendered:
        """Put the watermark on every output of `plan` (same pass), write its files, run it, and check the
        main output against what the plan declared (OutputMismatch: a fallback plan, if any, runs instead).
        The main pass reports its progress to `on_progress` (default: the task's), e.g. a job's later share."""
        if watermark is not None:
            logo = await self.watermark_logo(ctx, watermark)
            plan = replace_plan(plan, watermark, logo, self.settings.editing.fonts_dir)
        # One time limit for every pass of the plan (and its fallback) together.
        deadline = time.monotonic() + ctx.time_limit_s
        try:
            return await self._run(ctx, plan, deadline, on_progress or ctx.report_progress)
        except ProcessingError as exc:
            # ffmpeg failed or the output does not match; a bad input (MediaError) would fail the fallback too.
            if plan.fallback is None:
                raise
            log.warning("render_fallback", task_id=ctx.task.id, code=exc.code, detail=str(exc))
            fallback = plan.fallback
            if fallback.render is not None:
                reason = f"smart rendering failed ({exc.code}: {exc}); re-encoded in full"
                fallback = dataclasses.replace(fallback, render={**fallback.render, "reason": reason})
            return await self._run(ctx, fallback, deadline, on_progress or ctx.report_progress)

    async def _run(
        self, ctx: JobContext, plan: Plan, deadline: float, on_progress: Callable[[float], None]
    ) -> Rendered:
        plan.output.parent.mkdir(parents=True, exist_ok=True)  # an HLS output is a folder of files
        for path, content in plan.files.items():
            path.write_text(content, encoding="utf-8")
        for argv in plan.before:
            await run_before(argv)
        for args in plan.passes:
            await run_ffmpeg(
                args, duration_s=None, timeout_s=_left(deadline), max_pixels=self.settings.limits.max_pixels
            )
        await run_ffmpeg(
            bounded_args(plan),
            duration_s=plan.duration_s,
            on_progress=on_progress,
            timeout_s=_left(deadline),
            max_pixels=self.settings.limits.max_pixels,
            feed=plan.feed() if plan.feed is not None else None,
        )
        if plan.expect is not None:
            await asyncio.to_thread(verify_output, plan.output, plan.expect)
        return Rendered(
            plan.output,
            plan.poster,
            plan.content_type,
            list(plan.extra_outputs),
            list(plan.documents),
            render=plan.render,
        )

    async def finish(self, ctx: JobContext, rendered: Rendered, generated: Generated | None = None) -> JobOutput:
        """Scan every output with the owner's threshold (a blocked one fails the task, nothing stored),
        sign a generated one, store them all, and return the task's result."""
        task = ctx.task
        if rendered.expect is not None:
            # A mismatch (OutputMismatch) fails the task: a wrong output is never stored as a success.
            await asyncio.to_thread(verify_output, rendered.output, rendered.expect)
        policy = await self.policies.get(task.owner_id)
        hls = rendered.content_type == CONTENT_TYPES["hls"]
        main = rendered.output
        if hls:
            # The scan reads one file: the largest rendition joined (the others are scaled copies of it).
            main = await asyncio.to_thread(join_rendition, rendered.output, ctx.work_dir / "scan-rendition")
        outputs = [main, *(path for path, _ in rendered.extras)]
        scans = [await scan_configured(self.settings, path, policy.output_threshold) for path in outputs]
        provenance: dict[str, Any] | None = None
        if generated is not None:
            provenance = dict(generated.provenance)
            if self.settings.provenance.c2pa:
                signed = await asyncio.to_thread(
                    sign_ai_generated,
                    self.settings,
                    rendered.output,
                    rendered.content_type,
                    model=generated.model,
                    task_id=task.id,
                )
                provenance.update(signed)
        ctx.report_progress(0.97)
        if hls:
            asset, result = await self.assets.store_hls(
                task.owner_id, task.id, task.attempts, rendered.output, rendered.poster
            )
        else:
            asset, result = await self.assets.store_output(
                task.owner_id, task.id, task.attempts, rendered.output, rendered.poster, rendered.content_type
            )
        if provenance is not None:
            result["provenance"] = provenance
        if scans[0] is not None:
            result["moderation"] = scans[0].summary()
        if rendered.render is not None:
            result["render"] = rendered.render
        assets = [asset]
        if rendered.extras or rendered.documents:
            listed = [dict(result)]
            for path, content_type in rendered.extras:
                extra, extra_result = await self.assets.store_output(
                    task.owner_id, task.id, task.attempts, path, None, content_type
                )
                assets.append(extra)
                listed.append(extra_result)
            for path, content_type in rendered.documents:
                document, stored = await self.assets.store_document(
                    task.owner_id, task.id, task.attempts, path, content_type
                )
                assets.append(document)
                listed.append(stored)
            result["outputs"] = listed
        keys = [k for a in assets for k in a.object_keys]
        return JobOutput(result=result, assets=assets, stored_keys=keys)

    async def finish_documents(
        self, ctx: JobContext, documents: list[tuple[Path, str]], result: dict[str, Any]
    ) -> JobOutput:
        """Store text outputs (a transcript's SRT, WebVTT, JSON): no frames to scan or sign. `result` is
        the task's result; each stored file is listed in its `outputs`, the first also at its top level
        (as for media outputs)."""
        task = ctx.task
        ctx.report_progress(0.97)
        assets, listed = [], []
        for path, content_type in documents:
            asset, stored = await self.assets.store_document(task.owner_id, task.id, task.attempts, path, content_type)
            assets.append(asset)
            listed.append(stored)
        keys = [a.storage_key for a in assets]
        return JobOutput(result={**listed[0], **result, "outputs": listed}, assets=assets, stored_keys=keys)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


async def run_before(argv: list[str]) -> None:
    """Run one of a plan's `before` commands (text-to-speech); ProcessingError with its stderr's tail on failure."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), _BEFORE_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip()[-500:]
        raise ProcessingError(f"{argv[0]} failed: {tail}", code="processing_failed")
