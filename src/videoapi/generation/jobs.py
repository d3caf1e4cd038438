"""Worker entry points: diffusion kinds run in batches on the `gpu` queue; classical styles are one
ffmpeg pass on the `cpu` queue. Both end in the shared output step."""

from __future__ import annotations

import msgspec

from videoapi.assets.service import AssetService
from videoapi.billing.service import BillingService
from videoapi.generation.batch import GenerationRunner
from videoapi.generation.kinds import GPU_QUEUE, KINDS
from videoapi.generation.schemas import StyleTransferRequest
from videoapi.generation.service import classical_estimate
from videoapi.generation.styles import is_classical, plan_classical
from videoapi.outputs.step import OutputStep
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec


class GenerationJobs:
    def __init__(
        self, assets: AssetService, step: OutputStep, runner: GenerationRunner, billing: BillingService
    ) -> None:
        self.assets = assets
        self.step = step
        self.runner = runner
        self.billing = billing

    async def run_style_transfer(self, ctx: JobContext) -> JobOutput:
        req = msgspec.convert(ctx.task.params, StyleTransferRequest)
        if not is_classical(req.style):
            return await self.runner.run_single(ctx)
        in_dir = ctx.work_dir / "in"
        in_dir.mkdir()
        local = await self.assets.resolve_input(ctx.task.owner_id, req.video, in_dir)
        # Reserved before the input was probed (a URL): now its real estimate, or 402 before any work.
        await self.billing.top_up(ctx.task.owner_id, ctx.task.id, classical_estimate(self.billing, req, local.media))
        out_dir = ctx.work_dir / "out"
        out_dir.mkdir()
        plan = plan_classical(req, local.media, local.path, out_dir)
        rendered = await self.step.run_plan(ctx, plan, req.watermark)
        output = await self.step.finish(ctx, rendered)
        output.result["generation"] = {
            "style": req.style,
            "classical": True,
            "strength": 1.0 if req.strength is None else req.strength,
        }
        return output

    def specs(self) -> list[JobSpec]:
        # Queue per task for style transfer: `cpu` for classical styles, `gpu` for diffusion ones
        # (always with a batch key); the queue named here is the kind's default.
        single = {"style-transfer": self.run_style_transfer}
        return [
            JobSpec(spec.kind, GPU_QUEUE, single.get(path, self.runner.run_single), run_batch=self.runner.run_batch)
            for path, spec in KINDS.items()
        ]
