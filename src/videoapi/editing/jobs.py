"""Worker entry point of every edit kind: resolve inputs, plan, then the shared output step."""

from __future__ import annotations

import msgspec

from videoapi.assets.service import AssetService
from videoapi.editing.kinds import KINDS
from videoapi.editing.service import QUEUE
from videoapi.editing.source import Source
from videoapi.outputs.step import OutputStep
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec
from videoapi.settings import Settings


class EditJobs:
    def __init__(self, settings: Settings, assets: AssetService, step: OutputStep) -> None:
        self.settings = settings
        self.assets = assets
        self.step = step

    async def run(self, ctx: JobContext) -> JobOutput:
        spec = KINDS[ctx.task.kind]
        req = msgspec.convert(ctx.task.params, spec.request_type)
        sources = []
        for i, ref in enumerate(spec.inputs(req)):
            in_dir = ctx.work_dir / f"in{i}"
            in_dir.mkdir()
            local = await self.assets.resolve_input(ctx.task.owner_id, ref, in_dir)
            sources.append(Source(local.path, local.media))
        if spec.prepare is not None:
            req = await spec.prepare(req, sources, ctx.work_dir, self.settings)
        out_dir = ctx.work_dir / "out"
        out_dir.mkdir()
        plan = spec.plan(req, sources, out_dir, self.settings)
        rendered = await self.step.run_plan(ctx, plan, req.watermark)
        output = await self.step.finish(ctx, rendered)
        if spec.describe is not None:
            spec.describe(req, sources, output.result)
        return output

    def specs(self) -> list[JobSpec]:
        return [JobSpec(kind, QUEUE, self.run) for kind in KINDS]
