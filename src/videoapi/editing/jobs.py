"""Worker entry points of the edit kinds: resolve input, plan, one ffmpeg pass, store the output."""

from __future__ import annotations

import msgspec

from videoapi.editing.service import EDIT_KINDS, QUEUE
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec


async def run_edit(ctx: JobContext) -> JobOutput:
    request_type, planner = EDIT_KINDS[ctx.task.kind]
    req = msgspec.convert(ctx.task.params, request_type)
    services = ctx.services
    source = await services.assets.resolve_input(ctx.task.owner_id, req.input, ctx.work_dir)
    out_dir = ctx.work_dir / "out"
    out_dir.mkdir()
    plan = planner(req, source.media, source.path, out_dir)
    await run_ffmpeg(plan.args, duration_s=plan.duration_s, on_progress=ctx.report_progress, timeout_s=ctx.time_limit_s)
    asset, result = await services.assets.store_output(
        ctx.task.owner_id, ctx.task.id, ctx.task.attempts, plan.output, plan.poster, plan.content_type
    )
    return JobOutput(result=result, assets=[asset], stored_keys=[k for k in (asset.storage_key, asset.poster_key) if k])


JOBS = [JobSpec(kind, QUEUE, run_edit) for kind in EDIT_KINDS]
