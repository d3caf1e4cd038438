"""Pipeline steps as tasks: what happens to a pipeline's waiting steps when one of its steps ends.

A step waits (`Status.WAITING`) until every step it depends on succeeded. There is no loop per
pipeline: the transaction that ends a step also `advance`s its pipeline under the pipeline's row
lock, so two sibling steps ending at once in two workers cannot both miss their common dependent.
`advance` queues the dependents whose dependencies all succeeded (with those steps' outputs written
into their params), fails those with a failed dependency (`dependency_failed`), cancels those with a
canceled one, and ends the pipeline once every step has ended. The queued steps are published after
the commit; a lost publish is re-sent by the reconciler, as for any queued task.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from videoapi.errors import AppError
from videoapi.tasks.models import Pipeline, Task
from videoapi.tasks.schemas import Signer, present_task
from videoapi.tasks.states import TERMINAL, Status


class Binding(msgspec.Struct, forbid_unknown_fields=True):
    """Where an earlier step's output goes in a step's params."""

    path: list[str | int]
    """Keys and list indexes from the params' root to the value the output replaces."""
    task_id: str
    output: int = 0
    """Index in the producing task's `result.outputs` (0: its main output)."""
    as_: Literal["asset", "srt"] = msgspec.field(default="asset", name="as")
    """`asset`: an input reference `{"asset_id": ...}`; `srt`: the SRT text of a transcript's segments."""


@dataclass
class Advanced:
    """What an advance changed: the steps (to announce) and the queued ones (to publish after commit)."""

    changed: list[Task] = field(default_factory=list)
    queued: list[tuple[str, str]] = field(default_factory=list)


async def lock(session: AsyncSession, pipeline_id: str) -> Pipeline | None:
    """The pipeline's row, locked until the transaction ends (SQLite serialises writers anyway)."""
    return await session.scalar(
        select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update().execution_options(populate_existing=True)
    )


async def steps_of(session: AsyncSession, pipeline_id: str) -> list[Task]:
    rows = await session.scalars(
        select(Task).where(Task.pipeline_id == pipeline_id).execution_options(populate_existing=True)
    )
    return list(rows.all())


def dependency_failed(message: str) -> AppError:
    """Why a step cannot run: a step it reads failed, or made no output of the kind it reads."""
    return AppError(message, code="dependency_failed", status=424)


def touch(task: Task, now: datetime) -> None:
    """Mark a step as changed for its event stream (the `changed` values of TaskService's updates)."""
    task.version = (task.version or 1) + 1
    task.changed_at = now
    task.updated_at = now


async def advance(session: AsyncSession, pipeline_id: str, now: datetime) -> Advanced:
    """Move the pipeline's waiting steps on after a step ended; call it with the pipeline locked."""
    out = Advanced()
    pipeline = await lock(session, pipeline_id)
    if pipeline is None:
        return out
    steps = await steps_of(session, pipeline_id)
    by_id = {t.id: t for t in steps}
    moved = True
    while moved:  # a failure runs down the chain of waiting dependents
        moved = False
        for task in steps:
            if task.status != Status.WAITING:
                continue
            deps = [by_id[d] for d in task.depends_on or [] if d in by_id]
            failed = next((d for d in deps if d.status == Status.FAILED), None)
            canceled = next((d for d in deps if d.status == Status.CANCELED), None)
            if failed is not None:
                error = dependency_failed(f"step {failed.step_id!r} failed")
                _end(task, Status.FAILED, now, (error.code, error.detail))
            elif canceled is not None:
                _end(task, Status.CANCELED, now, None)
            elif all(d.status == Status.SUCCEEDED for d in deps):
                try:
                    task.params = resolve(task.params, task.bindings or [], by_id)
                except AppError as exc:
                    _end(task, Status.FAILED, now, (exc.code, exc.detail))
                else:
                    task.status = Status.QUEUED
                    task.not_before = now
                    task.published_at = now
                    touch(task, now)
                    out.queued.append((task.queue, task.id))
            else:
                continue
            out.changed.append(task)
            moved = True
    settle(pipeline, steps, now)
    return out


def settle(pipeline: Pipeline, steps: Sequence[Task], now: datetime) -> None:
    """The pipeline's status from its steps': ended once every step has ended."""
    pipeline.updated_at = now
    if not all(t.status in TERMINAL for t in steps):
        pipeline.status = "running"
        pipeline.finished_at = None
        return
    statuses = {t.status for t in steps}
    if Status.FAILED in statuses:
        pipeline.status = "failed"
    elif Status.CANCELED in statuses:
        pipeline.status = "canceled"
    else:
        pipeline.status = "succeeded"
    if pipeline.finished_at is None:
        pipeline.finished_at = now


def _end(task: Task, status: Status, now: datetime, error: tuple[str, str] | None) -> None:
    task.status = status
    task.finished_at = now
    if error is not None:
        task.error_code, task.error_message = error
    touch(task, now)


def resolve(params: dict[str, Any], bindings: Sequence[dict[str, Any]], tasks: dict[str, Task]) -> dict[str, Any]:
    """`params` with each binding's place holding the output of the (succeeded) step it names."""
    out = copy.deepcopy(params)
    for raw in bindings:
        binding = msgspec.convert(raw, Binding)
        producer = tasks[binding.task_id]
        value: Any
        if binding.as_ == "srt":
            value = srt_of(producer.result or {})
        else:
            value = {"asset_id": output_asset(producer, binding.output)}
        _put(out, binding.path, value)
    return out


def output_asset(task: Task, index: int) -> str:
    """The asset id of a task's `index`th output (its `result.outputs`, or the result itself for 0)."""
    result = task.result or {}
    outputs = result.get("outputs")
    listed = outputs if isinstance(outputs, list) and outputs else [result]
    if index < len(listed) and isinstance(listed[index], dict) and listed[index].get("asset_id"):
        return str(listed[index]["asset_id"])
    raise dependency_failed(f"step {task.step_id!r} made {len(listed)} output(s); there is no output {index}")


def srt_of(result: dict[str, Any]) -> str:
    """SRT text of a transcript result's segments (speech.transcribe)."""
    cues = []
    for n, seg in enumerate(result.get("segments") or [], start=1):
        text = str(seg.get("text", "")).strip()
        if text:
            cues.append(f"{n}\n{_srt_time(seg['start_s'])} --> {_srt_time(seg['end_s'])}\n{text}\n")
    if not cues:
        raise dependency_failed("the transcript has no speech to make subtitles of")
    return "\n".join(cues)


def _srt_time(seconds: float) -> str:
    ms = max(0, round(float(seconds) * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _put(root: Any, path: Sequence[str | int], value: Any) -> None:
    where = root
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value


class StepOut(msgspec.Struct):
    id: str
    """The step's id in the request."""
    task_id: str
    """The step's task: GET /v1/video/tasks/{task_id} shows it in full, its deliveries too."""
    kind: str
    status: str
    """waiting | queued | running | succeeded | failed | canceled"""
    progress: float
    depends_on: list[str]
    """Ids of the steps it reads outputs of."""
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, str] | None
    started_at: datetime | None
    finished_at: datetime | None


class PipelineOut(msgspec.Struct):
    id: str
    status: str
    """running | succeeded | failed | canceled"""
    progress: float
    """Mean of the steps' progress."""
    steps: list[StepOut]
    webhook_url: str | None
    created_at: datetime
    finished_at: datetime | None


class PipelinePage(msgspec.Struct):
    items: list[PipelineOut]
    next_cursor: str | None


async def present_pipeline(pipeline: Pipeline, steps: Sequence[Task], sign: Signer) -> PipelineOut:
    """The pipeline with its steps in request order; results with fresh signed URLs, as for tasks."""
    by_task = {t.id: t for t in steps}
    out: list[StepOut] = []
    for entry in pipeline.steps:
        task = by_task.get(entry["task_id"])
        if task is None:
            continue
        shown = await present_task(task, sign)
        out.append(
            StepOut(
                id=entry["id"],
                task_id=task.id,
                kind=task.kind,
                status=task.status,
                progress=shown.progress,
                depends_on=[by_task[d].step_id or d for d in task.depends_on or [] if d in by_task],
                attempts=task.attempts,
                result=shown.result,
                error={"code": shown.error.code, "message": shown.error.message} if shown.error else None,
                started_at=task.started_at,
                finished_at=task.finished_at,
            )
        )
    progress = sum(s.progress for s in out) / len(out) if out else 0.0
    return PipelineOut(
        id=pipeline.id,
        status=pipeline.status,
        progress=round(progress, 4),
        steps=out,
        webhook_url=pipeline.webhook_url,
        created_at=pipeline.created_at,
        finished_at=pipeline.finished_at,
    )
