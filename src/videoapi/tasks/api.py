"""Routes: read, list and cancel the caller's tasks, and follow them live (server-sent events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, Parameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from videoapi.auth.principal import CurrentPrincipal, Principal
from videoapi.tasks.schemas import Signer, TaskOut, TaskPage, present_task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import Status
from videoapi.tasks.streams import StreamEvent, TaskStreams


@get("/v1/video/tasks/{task_id:str}", summary="A task: status, progress, result with fresh URLs, error", tags=["tasks"])
async def get_task(
    task_id: FromPath[str],
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
) -> TaskOut:
    task = await task_service.read(task_id, principal.owner_id)
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


LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="last-event-id",
        max_length=40,
        description="Resume after this event id (EventSource sends it on reconnect); see docs/api/events.md",
    ),
]
StreamToken = Annotated[
    str | None,
    QueryParameter(
        name="token",
        max_length=2048,
        description="A token from POST /v1/video/events/token, for clients that cannot send Authorization",
    ),
]


@get(
    "/v1/video/tasks/{task_id:str}/events",
    summary="Live events of a task (text/event-stream): status, progress, then the finished task",
    tags=["tasks"],
    media_type="text/event-stream",
)
async def task_events(
    task_id: FromPath[str],
    stream_principal: NamedDependency[Principal],
    task_streams: NamedDependency[TaskStreams],
    last_event_id: LastEventId = None,
    token: StreamToken = None,
) -> ServerSentEvent:
    events = await task_streams.task(task_id, stream_principal.owner_id, last_event_id)
    return ServerSentEvent(_messages(events))


@get(
    "/v1/video/events",
    summary="Live events of all the caller's tasks (text/event-stream); never ends by itself",
    tags=["tasks"],
    media_type="text/event-stream",
)
async def owner_events(
    stream_principal: NamedDependency[Principal],
    task_streams: NamedDependency[TaskStreams],
    last_event_id: LastEventId = None,
    token: StreamToken = None,
) -> ServerSentEvent:
    events = await task_streams.owner(stream_principal.owner_id, last_event_id)
    return ServerSentEvent(_messages(events))


async def _messages(events: AsyncIterator[StreamEvent]) -> AsyncIterator[ServerSentEventMessage]:
    async for event in events:
        if event.event is None:
            yield ServerSentEventMessage(data=None, comment="heartbeat")
        else:
            yield ServerSentEventMessage(data=event.data, event=event.event, id=event.id)


ROUTES = [get_task, list_tasks, cancel_task, task_events, owner_events]
