"""One batch of compatible generation tasks: resolve inputs, one pipeline call, then each task on its own.

The call runs in a thread. Its step callback reports progress to every member and stops the call
when every member has left (canceled, timed out, lease lost: the runtime sets `stop_reason`); a
member that leaves alone is simply not encoded. CUDA out-of-memory splits the batch in halves and
tries again; a single request that still does not fit fails with `gpu_out_of_memory`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from videoapi.assets.service import AssetService
from videoapi.errors import AppError, ProcessingError
from videoapi.generation import pipelines
from videoapi.generation.cache import CACHE, LoadedPipeline
from videoapi.generation.encode import encode_video, load_image, read_frames, to_uint8, write_poster
from videoapi.generation.kinds import KIND_OF_TASK, REQUEST_TYPES
from videoapi.generation.pipelines.common import CallItem, accepted
from videoapi.generation.plan import GenPlan, pick_model, plan_generation
from videoapi.generation.registry import ModelSpec, load_registry
from videoapi.generation.schemas import ImageToVideoRequest, StyleTransferRequest
from videoapi.media.encoding import CONTENT_TYPES, OUTPUT_CODECS
from videoapi.media.plan import Expected
from videoapi.observability.logging import get_logger
from videoapi.outputs.step import Generated, OutputStep, Rendered
from videoapi.outputs.watermark import VisibleWatermark, vf_for_frames
from videoapi.provenance.credentials import ai_metadata
from videoapi.provenance.watermark import GRID, WatermarkKey, embed_frames, token_for
from videoapi.queue.jobs import JobContext, JobOutput
from videoapi.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

log = get_logger(__name__)

DENOISE_SHARE = 0.9
"""Progress reached when denoising ends; decoding and encoding take the rest."""


MIN_WATERMARK_SIDE = 2 * GRID
"""Below two pixels per watermark cell the mark would not survive re-encoding; smaller outputs go unmarked."""


class GpuOutOfMemory(ProcessingError):
    code = "gpu_out_of_memory"
    title = "Out of GPU memory"


class _AllLeft(Exception):
    """Raised from the step callback: nobody is waiting for this call any more."""


@dataclass
class Member:
    ctx: JobContext
    spec: ModelSpec
    plan: GenPlan
    item: CallItem
    batch_size: int = 0
    device: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return self.ctx.task.id

    @property
    def gone(self) -> bool:
        return self.ctx.stop_reason is not None


Outcome = JobOutput | BaseException


async def _generate(loaded: LoadedPipeline, members: list[Member]) -> dict[str, Any]:
    """Frames per task id (or its error); splits the batch in halves on out-of-memory."""
    import torch

    active = [m for m in members if not m.gone]
    if not active:
        return {}
    # Members with other keys (a changed registry) cannot share the call: run them in groups.
    groups: dict[str, list[Member]] = {}
    for m in active:
        groups.setdefault(m.plan.batch_key, []).append(m)
    if len(groups) > 1:
        out: dict[str, Any] = {}
        for group in groups.values():
            out.update(await _generate(loaded, group))
        return out
    try:
        frames = await _call_in_thread(loaded, active)
    except _AllLeft:
        return {}
    except torch.OutOfMemoryError:
        _free_cuda()
        if len(active) == 1:
            log.warning("gpu_out_of_memory", task_id=active[0].task_id)
            return {
                active[0].task_id: GpuOutOfMemory(
                    f"{loaded.spec.name} ran out of GPU memory at {active[0].plan.width}x{active[0].plan.height} "
                    f"x {active[0].plan.frames} frames even alone; ask for fewer frames or a smaller size"
                )
            }
        half = len(active) // 2
        log.warning("gpu_out_of_memory_split", batch_size=len(active), halves=[half, len(active) - half])
        out = await _generate(loaded, active[:half])
        out.update(await _generate(loaded, active[half:]))
        return out
    except AppError as exc:
        return {m.task_id: exc for m in active}
    return {m.task_id: f for m, f in zip(active, frames, strict=True)}


async def _call_in_thread(loaded: LoadedPipeline, members: list[Member]) -> list[NDArray[np.uint8]]:
    call = asyncio.ensure_future(asyncio.to_thread(_call, loaded, members))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        # The thread cannot be killed: make it stop at its next step, and wait for it so the
        # device is free before anyone else uses it.
        for m in members:
            m.ctx.stop_reason = m.ctx.stop_reason or "canceled"
        with contextlib.suppress(BaseException):
            await call
        raise


def _call(loaded: LoadedPipeline, members: list[Member]) -> list[NDArray[np.uint8]]:
    """One batched pipeline call (in a worker thread)."""
    import numpy as np

    spec, pipe = loaded.spec, loaded.pipe
    plan = members[0].plan
    for m in members:
        m.batch_size = len(members)
    kwargs = pipelines.build_call(spec, [m.item for m in members], loaded.device)

    def on_step(_pipe: Any, step: int, _timestep: Any, _tensors: dict[str, Any]) -> dict[str, Any]:
        for m in members:
            m.ctx.report_progress(DENOISE_SHARE * (step + 1) / plan.steps)
        if all(m.gone for m in members):
            raise _AllLeft
        return {}

    kwargs.update(output_type="np", return_dict=True, callback_on_step_end=on_step)
    started = time.monotonic()
    output = pipe(**accepted(pipe, kwargs))
    elapsed = time.monotonic() - started
    frames = output.frames
    videos = list(frames) if isinstance(frames, list) else [frames[i] for i in range(frames.shape[0])]
    if len(videos) != len(members):
        raise ProcessingError(
            f"the pipeline returned {len(videos)} videos for {len(members)} requests", code="internal"
        )
    for m in members:
        m.timings["model_s"] = round(elapsed, 4)
        m.ctx.report_progress(DENOISE_SHARE)
    return [to_uint8(np.asarray(v)) for v in videos]


class GenerationRunner:
    """Runs generation tasks in batches; every member's output goes through the shared output step."""

    def __init__(self, settings: Settings, assets: AssetService, step: OutputStep, watermark: WatermarkKey) -> None:
        self.settings = settings
        self.assets = assets
        self.step = step
        self.watermark = watermark
        """The invisible watermark's key (see `provenance.watermark.watermark_key`)."""

    async def run_batch(self, ctxs: list[JobContext]) -> dict[str, Outcome]:
        """The batch handler of every diffusion kind: task id -> output or the error of that task."""
        outcomes: dict[str, Outcome] = {}
        members: list[Member] = []
        for ctx in ctxs:
            try:
                members.append(await self._prepare(ctx))
            except Exception as exc:  # this member fails alone; the others still run
                outcomes[ctx.task.id] = exc
        if not members:
            return outcomes
        settings = self.settings
        spec = members[0].spec
        started = time.monotonic()
        loaded = await asyncio.to_thread(CACHE.get, settings, spec)
        load_s = time.monotonic() - started
        frames = await _generate(loaded, members)
        for member in members:
            member.timings["load_s"] = round(load_s, 4)
            member.device = loaded.device
            result = frames.get(member.task_id)
            if member.gone:
                continue
            if result is None:
                outcomes[member.task_id] = ProcessingError("the generation call returned no frames", code="internal")
            elif isinstance(result, BaseException):
                outcomes[member.task_id] = result
            else:
                try:
                    outcomes[member.task_id] = await self._store(member, result)
                except Exception as exc:
                    outcomes[member.task_id] = exc
        return outcomes

    async def run_single(self, ctx: JobContext) -> JobOutput:
        """A generation task claimed alone (no batch key): the same path as a batch of one."""
        outcome = (await self.run_batch([ctx])).get(ctx.task.id)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:
            raise ProcessingError("the task left its batch", code="internal")
        return outcome

    async def _prepare(self, ctx: JobContext) -> Member:
        settings = self.settings
        kind = KIND_OF_TASK[ctx.task.kind]
        req = msgspec.convert(ctx.task.params, REQUEST_TYPES[kind])
        registry = load_registry(settings)
        spec = pick_model(registry, kind, req.model)
        seed = ctx.task.params["seed"]
        item_image = None
        item_video = None
        need = pipelines.needs(spec)
        if need is None:
            plan = plan_generation(registry, spec, kind, req, seed)
        else:
            ref = req.image if isinstance(req, ImageToVideoRequest) else req.video  # type: ignore[union-attr]
            in_dir = ctx.work_dir / "in"
            in_dir.mkdir(exist_ok=True)
            local = await self.assets.resolve_input(ctx.task.owner_id, ref, in_dir)
            duration = local.media.duration_s if isinstance(req, StyleTransferRequest) else None
            plan = plan_generation(registry, spec, kind, req, seed, input_duration_s=duration)
            if need == "image":
                item_image = await asyncio.to_thread(load_image, local.path, plan.width, plan.height, settings.limits)
            else:
                item_video = await asyncio.to_thread(
                    read_frames, local.path, plan.frames, plan.fps, plan.width, plan.height, settings.limits
                )
        if plan.batch_key != ctx.task.batch_key:
            log.warning("batch_key_changed", task_id=ctx.task.id, stored=ctx.task.batch_key, now=plan.batch_key)
        return Member(ctx, spec, plan, CallItem(plan, item_image, item_video))

    async def _store(self, member: Member, frames: NDArray[np.uint8]) -> JobOutput:
        ctx, plan = member.ctx, member.plan
        req_format = ctx.task.params.get("format", "mp4")
        quality = ctx.task.params.get("quality", "medium")
        out_dir = ctx.work_dir / "out"
        out_dir.mkdir(exist_ok=True)
        output = out_dir / f"output.{req_format}"
        poster = out_dir / "poster.jpg"
        settings = self.settings
        content_type = CONTENT_TYPES[req_format]
        provenance: dict[str, Any] = {"watermark": False}
        if settings.watermark.embed_generated and min(frames.shape[1:3]) < MIN_WATERMARK_SIDE:
            provenance["watermark_skipped"] = f"frames smaller than {MIN_WATERMARK_SIDE} px carry no watermark"
        elif settings.watermark.embed_generated:
            started = time.monotonic()
            key, token = self.watermark, token_for(ctx.task.id)
            frames = await asyncio.to_thread(embed_frames, frames, key, token)
            member.timings["watermark_s"] = round(time.monotonic() - started, 4)
            provenance.update(watermark=True, watermark_token=token.hex())
        vf = None
        if wm_params := ctx.task.params.get("watermark"):
            wm = msgspec.convert(wm_params, VisibleWatermark)
            logo = await self.step.watermark_logo(ctx, wm)
            vf, files = vf_for_frames(wm, logo, out_dir, settings.editing.fonts_dir)
            for path, text in files.items():
                path.write_text(text, encoding="utf-8")
        started = time.monotonic()
        tags = ai_metadata(plan.model, ctx.task.id)
        await asyncio.to_thread(encode_video, frames, plan.fps, output, req_format, quality, tags, vf)
        await asyncio.to_thread(write_poster, frames[0], poster)
        member.timings["encode_s"] = round(time.monotonic() - started, 4)
        started = time.monotonic()
        # The shared output step: moderation with the owner's threshold, Content Credentials, storage.
        count, height, width = frames.shape[:3]
        expect = Expected(
            video_s=count / plan.fps,
            size=(width, height),
            video_codec=OUTPUT_CODECS[req_format][0],
            frame_s=1 / plan.fps,
        )
        output_job = await self.step.finish(
            ctx, Rendered(output, poster, content_type, expect=expect), Generated(plan.model, provenance)
        )
        member.timings["store_s"] = round(time.monotonic() - started, 4)
        result = output_job.result
        notes = list(plan.notes)
        if frames.shape[0] != plan.frames:
            notes.append(f"the model returned {frames.shape[0]} frames instead of {plan.frames}")
        result["generation"] = {
            **plan.summary(),
            "frames": int(frames.shape[0]),
            "notes": notes,
            "batch_size": member.batch_size,
            "device": member.device,
            "timings": member.timings,
        }
        return output_job


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
