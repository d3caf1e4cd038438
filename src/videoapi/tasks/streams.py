"""The event streams of one task and of all an owner's tasks: what is sent, in which order, with which id.

Events (docs/api/events.md):
- `status`: the first event of a connection, and every change of status after it;
- `progress`: any other change (progress, a cancel request); the same data as `status`;
- `task`: once the task is terminal, the whole task as `GET /v1/video/tasks/{id}` shows it.

Event ids. On a task's stream the id is the task's `version`, which rises by one with every change
a caller can see: `Last-Event-ID: N` sends only changes with a version above N (the current state
first, if it is newer), so nothing is repeated. On the owner's stream the id is the change's
`changed_at` in microseconds since the epoch: `Last-Event-ID: T` sends the current state of each of
the owner's tasks that changed after T (oldest first, at most `CATCH_UP_LIMIT`), then the live changes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec

from videoapi.errors import InvalidRequest, NotFound
from videoapi.settings import EventSettings
from videoapi.tasks.events import EventHub, Subscription, TaskChange
from videoapi.tasks.schemas import Signer, present_task
from videoapi.tasks.service import TaskService, change_of
from videoapi.tasks.states import TERMINAL

CATCH_UP_LIMIT = 1000
"""Changed tasks an owner's stream re-sends on resume; older ones are read with GET /v1/video/tasks."""
REMEMBERED_TASKS = 10_000
"""Tasks whose last sent version an owner's stream remembers (to drop duplicates)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StreamEvent(msgspec.Struct, frozen=True):
    """One server-sent event; `event` None: a heartbeat comment."""

    event: str | None
    id: str | None = None
    data: bytes | None = None


HEARTBEAT = StreamEvent(None)


def micros(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _last_id(raw: str | None, what: str) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidRequest(
            f"Last-Event-ID must be an event id this stream sent ({what}), not {raw[:40]!r}",
            code="invalid_last_event_id",
            errors=[{"field": "Last-Event-ID", "message": f"expected {what}"}],
        )
    return value


class TaskStreams:
    """Opens the streams of route handlers; a stream holds one hub subscription and no query of its own."""

    def __init__(self, hub: EventHub, tasks: TaskService, sign: Signer, settings: EventSettings) -> None:
        self.hub = hub
        self.tasks = tasks
        self.sign = sign
        self.settings = settings
        self._encode = msgspec.json.Encoder()

    async def task(self, task_id: str, owner_id: str, last_event_id: str | None) -> AsyncIterator[StreamEvent]:
        """The stream of one task; NotFound (before anything is sent) for another owner's task."""
        after = _last_id(last_event_id, "a task version") or 0
        sub = self.hub.subscribe(owner_id, task_id)  # before the read: no change falls in between
        try:
            task = await self.tasks.get(task_id, owner_id)
        except BaseException:
            self.hub.unsubscribe(sub)
            raise
        return self._task_events(sub, change_of(task), after)

    async def owner(self, owner_id: str, last_event_id: str | None) -> AsyncIterator[StreamEvent]:
        """The stream of every task of the owner; never ends by itself."""
        after = _last_id(last_event_id, "microseconds since the epoch")
        sub = self.hub.subscribe(owner_id)
        return self._owner_events(sub, after)

    async def _task_events(self, sub: Subscription, current: TaskChange, after: int) -> AsyncIterator[StreamEvent]:
        sent_version = after
        last_status: str | None = None
        try:
            while True:
                if current.version > sent_version:
                    yield self._change_event(current, last_status, str(current.version))
                    sent_version, last_status = current.version, current.status
                if current.status in TERMINAL:
                    yield await self._task_event(current, str(max(sent_version, current.version)))
                    return
                change = await self._next(sub, current.version)
                if change is None:
                    yield HEARTBEAT
                elif change.version > current.version:
                    current = change
        finally:
            self.hub.unsubscribe(sub)

    async def _next(self, sub: Subscription, version: int) -> TaskChange | None:
        """The next change for a task stream, or None for a heartbeat.

        A quiet heartbeat period reads the task again: a change can be lost (changes dropped while the
        stream lagged, or a transaction that committed later than the poller's overlap window after its
        `changed_at` stamp), and a stream waiting for a terminal state that already happened would
        otherwise never end. One primary-key read per open task stream per `events.heartbeat_s`."""
        change = await sub.next(self.settings.heartbeat_s)
        if change is not None:
            return change
        sub.lagged = False
        assert sub.task_id is not None
        read = change_of(await self.tasks.get(sub.task_id, sub.owner_id))
        return read if read.version > version else None

    async def _owner_events(self, sub: Subscription, after: int | None) -> AsyncIterator[StreamEvent]:
        sent: OrderedDict[str, tuple[int, str]] = OrderedDict()
        """Task id -> (version, status) last sent."""
        cursor = _EPOCH + timedelta(microseconds=after) if after is not None else None
        opened = datetime.now(UTC)
        try:
            if cursor is not None:
                for change in await self.tasks.changes_since([sub.owner_id], cursor, CATCH_UP_LIMIT):
                    async for event in self._owner_change(change, sent):
                        yield event
            while True:
                change = await sub.next(self.settings.heartbeat_s)
                if change is None and sub.lagged:
                    sub.lagged = False
                    since = opened if cursor is None else cursor
                    for missed in await self.tasks.changes_since([sub.owner_id], since, CATCH_UP_LIMIT):
                        async for event in self._owner_change(missed, sent):
                            yield event
                    continue
                if change is None:
                    yield HEARTBEAT
                    continue
                cursor = max(cursor, change.changed_at) if cursor is not None else change.changed_at
                async for event in self._owner_change(change, sent):
                    yield event
        finally:
            self.hub.unsubscribe(sub)

    async def _owner_change(
        self, change: TaskChange, sent: OrderedDict[str, tuple[int, str]]
    ) -> AsyncIterator[StreamEvent]:
        before = sent.get(change.task_id)
        if before is not None and before[0] >= change.version:
            return
        sent[change.task_id] = (change.version, change.status)
        sent.move_to_end(change.task_id)
        while len(sent) > REMEMBERED_TASKS:
            sent.popitem(last=False)
        event_id = str(micros(change.changed_at))
        yield self._change_event(change, before[1] if before else None, event_id)
        if change.status in TERMINAL:
            try:
                yield await self._task_event(change, event_id)
            except NotFound:  # purged meanwhile: its status event said it all
                return

    def _change_event(self, change: TaskChange, last_status: str | None, event_id: str) -> StreamEvent:
        kind = "status" if change.status != last_status else "progress"
        return StreamEvent(kind, event_id, self._encode.encode(change))

    async def _task_event(self, change: TaskChange, event_id: str) -> StreamEvent:
        task = await self.tasks.get(change.task_id, change.owner_id)
        return StreamEvent("task", event_id, self._encode.encode(await present_task(task, self.sign)))
