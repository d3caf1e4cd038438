"""Routes: read, list and cancel the caller's tasks."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter

from videoapi.auth.principal import CurrentPrincipal
from videoapi.tasks.schemas import Signer, TaskOut, TaskPage, present_task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import Status


@get("/v1/video/tasks/{task_id:str}", summary="A task: status, progress, result with fresh URLs, error", tags=["tasks"])
async def get_task(
    task_id: FromPath[str],
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
) -> TaskOut:
    task = await task_service.get(task_id, principal.owner_id)
    return await present_task(task, sign)


@get("/v1/video/tasks", summary="The caller's tasks, newest first, cursor-paginated", tags=["tasks"])
async def list_tasks(
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
    status: FromQuery[Status | None] = None,
    kind: Annotated[str | None, Parameter(max_length=64)] = None,
    cursor: Annotated[str | None, Parameter(max_length=512)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> TaskPage:
    tasks, next_cursor = await task_service.list(
        owner_id=principal.owner_id, status=status, kind=kind, cursor=cursor, limit=limit
    )
    return TaskPage([await present_task(t, sign) for t in tasks], next_cursor)


@post(
    "/v1/video/tasks/{task_id:str}/cancel",
    status_code=202,
    summary="Cancel a queued task at once, or stop a running one within seconds",
    tags=["tasks"],
)
async def cancel_task(
    task_id: FromPath[str],
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
) -> TaskOut:
    task = await task_service.cancel(task_id, principal.owner_id)
    return await present_task(task, sign)


ROUTES = [get_task, list_tasks, cancel_task]
