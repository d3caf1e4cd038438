"""Worker entry point of every edit kind: resolve inputs, plan, run the pass, store the outputs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from videoapi.editing.kinds import KINDS
from videoapi.editing.service import QUEUE
from videoapi.editing.source import Source
from videoapi.editing.watermark import VisibleWatermark, replace_plan
from videoapi.errors import ProcessingError
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.moderation.frames import scan_configured
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec

_BEFORE_TIMEOUT_S = 600.0


async def run_edit(ctx: JobContext) -> JobOutput:
    spec = KINDS[ctx.task.kind]
    req = msgspec.convert(ctx.task.params, spec.request_type)
    services = ctx.services
    sources = []
    for i, ref in enumerate(spec.inputs(req)):
        in_dir = ctx.work_dir / f"in{i}"
        in_dir.mkdir()
        local = await services.assets.resolve_input(ctx.task.owner_id, ref, in_dir)
        sources.append(Source(local.path, local.media))
    out_dir = ctx.work_dir / "out"
    out_dir.mkdir()
    plan = spec.plan(req, sources, out_dir, services.settings)
    if req.watermark is not None:
        logo = await watermark_logo(ctx, req.watermark)
        plan = replace_plan(plan, req.watermark, logo, services.settings.editing.fonts_dir)
    policy = await services.policies.get(ctx.task.owner_id)
    for path, content in plan.files.items():
        path.write_text(content, encoding="utf-8")
    for argv in plan.before:
        await _run_before(argv)
    await run_ffmpeg(plan.args, duration_s=plan.duration_s, on_progress=ctx.report_progress, timeout_s=ctx.time_limit_s)
    outputs_to_scan = [plan.output, *(p for p, _ in plan.extra_outputs)]
    scans = [await scan_configured(services.settings, p, policy.output_threshold) for p in outputs_to_scan]
    owner, task_id, attempt = ctx.task.owner_id, ctx.task.id, ctx.task.attempts
    asset, result = await services.assets.store_output(
        owner, task_id, attempt, plan.output, plan.poster, plan.content_type
    )
    if scans[0] is not None:
        result["moderation"] = scans[0].summary()
    assets = [asset]
    if plan.extra_outputs:
        outputs = [dict(result)]
        for path, content_type in plan.extra_outputs:
            extra, extra_result = await services.assets.store_output(owner, task_id, attempt, path, None, content_type)
            assets.append(extra)
            outputs.append(extra_result)
        result["outputs"] = outputs
    keys = [k for a in assets for k in (a.storage_key, a.poster_key) if k]
    return JobOutput(result=result, assets=assets, stored_keys=keys)


async def watermark_logo(ctx: JobContext, wm: VisibleWatermark) -> Path | None:
    """The local file of a watermark's logo (fetched or read in place), or None for a text mark."""
    if wm.image is None:
        return None
    folder = ctx.work_dir / "wm"
    folder.mkdir(exist_ok=True)
    return (await ctx.services.assets.resolve_input(ctx.task.owner_id, wm.image, folder)).path


async def _run_before(argv: list[str]) -> None:
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


JOBS = [JobSpec(kind, QUEUE, run_edit) for kind in KINDS]
