"""Wire types of the task API and the presenter that turns a row into a task object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, TypeAlias

import msgspec

from videoapi.tasks.models import Task
from videoapi.tasks.states import PRIORITY_NAMES
from videoapi.tasks.views import TaskView

Signer: TypeAlias = Callable[[str], Awaitable[str]]
"""`sign(storage_key)` returns a fresh signed URL for a stored object (AssetService.sign is one)."""

Priority = Literal["low", "normal", "high"]

# Result fields that hold storage keys: replaced by fresh signed URLs (the named field) when presented.
PRIVATE_RESULT_KEYS = {
    "storage_key": "url",
    "poster_key": "poster_url",
    "thumbnail_key": "thumbnail_url",
    "clip_key": "clip_url",
}
# Result lists whose entries hold storage keys too: the outputs of a task, the scenes of an analysis.
SIGNED_RESULT_LISTS = ("outputs", "scenes")


class TaskError(msgspec.Struct):
    code: str
    message: str


class TaskOut(msgspec.Struct):
    id: str
    kind: str
    status: str
    progress: float
    priority: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: TaskError | None
    cost: float | None
    """Credits charged (see GET /v1/video/usage); set when the task succeeds, never for a failure."""
    webhook_url: str | None
    cancel_requested: bool


class TaskPage(msgspec.Struct):
    items: list[TaskOut]
    next_cursor: str | None


async def present_task(task: Task | TaskView, sign: Signer) -> TaskOut:
    """`sign(key)` returns a fresh signed URL for a storage key."""
    result = None
    if task.result is not None:
        result = await _present_output(task.result, sign)
        for name in SIGNED_RESULT_LISTS:
            if isinstance(entries := task.result.get(name), list):
                # Tasks with several outputs (e.g. thumbnails) list each one, signed the same way.
                result[name] = [await _present_output(o, sign) for o in entries if isinstance(o, dict)]
    error = TaskError(task.error_code, task.error_message or "") if task.error_code else None
    return TaskOut(
        id=task.id,
        kind=task.kind,
        status=task.status,
        progress=round(task.progress, 4),
        priority=PRIORITY_NAMES.get(task.priority, "normal"),
        attempts=task.attempts,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        params=task.params,
        result=result,
        error=error,
        cost=task.cost,
        webhook_url=task.webhook_url,
        cancel_requested=task.cancel_requested,
    )


async def _present_output(output: dict[str, Any], sign: Any) -> dict[str, Any]:
    presented = {k: v for k, v in output.items() if k not in PRIVATE_RESULT_KEYS}
    for private, public in PRIVATE_RESULT_KEYS.items():
        if key := output.get(private):
            presented[public] = await sign(key)
    return presented


class EstimateOut(msgspec.Struct):
    kind: str
    valid: bool
    """Always true: an invalid request is a 422 problem, as on the create route."""
    output_seconds: float | None
    """Planned output duration; None while an input is a URL not probed yet."""
    estimate_credits: float
    """Credits reserved at submission; the charge is the actual cost, at most this."""
    queue: str
    tasks_ahead: int
    eta_s: float
    """Rough seconds until the result, from the queue and recent run times."""
