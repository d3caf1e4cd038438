"""Worker entry points: diffusion kinds run in batches on the `gpu` queue; classical styles are one
ffmpeg pass on the `cpu` queue."""

from __future__ import annotations

import msgspec

from videoapi.editing.jobs import watermark_logo
from videoapi.editing.watermark import replace_plan
from videoapi.generation.batch import run_generation_batch, run_generation_single
from videoapi.generation.schemas import StyleTransferRequest
from videoapi.generation.service import GPU_QUEUE
from videoapi.generation.styles import is_classical, plan_classical
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec


async def run_style_transfer(ctx: JobContext) -> JobOutput:
    req = msgspec.convert(ctx.task.params, StyleTransferRequest)
    if not is_classical(req.style):
        return await run_generation_single(ctx)
    services = ctx.services
    in_dir = ctx.work_dir / "in"
    in_dir.mkdir()
    local = await services.assets.resolve_input(ctx.task.owner_id, req.video, in_dir)
    out_dir = ctx.work_dir / "out"
    out_dir.mkdir()
    plan = plan_classical(req, local.media, local.path, out_dir)
    if req.watermark is not None:
        logo = await watermark_logo(ctx, req.watermark)
        plan = replace_plan(plan, req.watermark, logo, services.settings.editing.fonts_dir)
        for path, text in plan.files.items():
            path.write_text(text, encoding="utf-8")
    await run_ffmpeg(plan.args, duration_s=plan.duration_s, on_progress=ctx.report_progress, timeout_s=ctx.time_limit_s)
    asset, result = await services.assets.store_output(
        ctx.task.owner_id, ctx.task.id, ctx.task.attempts, plan.output, plan.poster, plan.content_type
    )
    result["generation"] = {
        "style": req.style,
        "classical": True,
        "strength": 1.0 if req.strength is None else req.strength,
    }
    keys = [k for k in (asset.storage_key, asset.poster_key) if k]
    return JobOutput(result=result, assets=[asset], stored_keys=keys)


JOBS = [
    JobSpec("generate.text_to_video", GPU_QUEUE, run_generation_single, run_batch=run_generation_batch),
    JobSpec("generate.image_to_video", GPU_QUEUE, run_generation_single, run_batch=run_generation_batch),
    # Queue per task: `cpu` for classical styles, `gpu` for diffusion ones (always with a batch key).
    JobSpec("generate.style_transfer", GPU_QUEUE, run_style_transfer, run_batch=run_generation_batch),
]
