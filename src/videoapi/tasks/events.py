"""Task changes on the move: what writers publish and how one API process fans them out to its streams.

Every change a caller can see raises the task's `version` and sets its `changed_at` (TaskService).
Two ways carry changes from the process that made them (a worker, another replica) to the API
process holding the streams:

- `redis`: the writer publishes each change on one pub/sub channel; each API process listens once.
- `table`: nothing is published; one poller per API process reads the task table every
  `events.poll_interval_s`, for the owners whose streams are open, in one query.

Either way a stream costs its process one queue and no query of its own: the `EventHub` fans out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import msgspec

from videoapi.db.base import utcnow
from videoapi.observability.logging import get_logger
from videoapi.settings import EventSettings

log = get_logger(__name__)

QUEUE_SIZE = 256
"""Changes one stream may have waiting; past it the stream is marked lagged and re-reads the table."""


class TaskChange(msgspec.Struct, frozen=True):
    """A task's visible state right after one change (the data of `status` and `progress` events)."""

    task_id: str
    owner_id: str
    status: str
    progress: float
    version: int
    changed_at: datetime
    cancel_requested: bool


ReadChanges = Callable[[Sequence[str], datetime], Awaitable[list[TaskChange]]]
"""`read(owner_ids, after)`: changes of those owners' tasks with `changed_at` after `after`."""


class ChangePublisher(Protocol):
    """Where TaskService announces committed changes (RedisChanges); None on the `table` backend."""

    async def publish(self, changes: Sequence[TaskChange]) -> None: ...

    async def close(self) -> None: ...


def channel_name(namespace: str) -> str:
    return f"{namespace}:task-events"


class RedisChanges:
    """The pub/sub channel: `publish` from any process, `listen` from API processes."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as redis

        self.url = url
        self.channel = channel_name(namespace)
        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)

    async def publish(self, changes: Sequence[TaskChange]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for change in changes:
                pipe.publish(self.channel, msgspec.json.encode(change))
            await pipe.execute()

    async def listen(self, deliver: Callable[[TaskChange], None], resync: Callable[[], None]) -> None:
        """Deliver every change published, forever; after a lost connection, `resync` (changes were missed)."""
        import redis.asyncio as redis
        from redis.exceptions import RedisError

        decoder = msgspec.json.Decoder(TaskChange)
        first = True
        while True:
            # No socket timeout: an idle channel is normal; health checks find a dead connection.
            client = redis.Redis.from_url(self.url, socket_connect_timeout=2.0, health_check_interval=30)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    if not first:
                        resync()
                    first = False
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            deliver(decoder.decode(message["data"]))
                        except msgspec.DecodeError:
                            log.warning("task_event_undecodable", channel=self.channel)
            except (RedisError, OSError) as exc:
                log.warning("task_events_redis_lost", error=f"{type(exc).__name__}: {exc}"[:300])
                first = False
                await asyncio.sleep(1.0)
            finally:
                await client.aclose()

    async def close(self) -> None:
        await self.client.aclose()


class Subscription:
    """One stream's view of the hub: the changes of one task (`task_id`) or of all an owner's tasks."""

    def __init__(self, owner_id: str, task_id: str | None) -> None:
        self.owner_id = owner_id
        self.task_id = task_id
        self.queue: asyncio.Queue[TaskChange] = asyncio.Queue(QUEUE_SIZE)
        self.lagged = False
        """Changes were dropped (full queue, lost Redis connection): the stream re-reads the table."""
        self._wake = asyncio.Event()

    def put(self, change: TaskChange) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.lag()

    def lag(self) -> None:
        self.lagged = True
        self._wake.set()

    async def next(self, timeout_s: float) -> TaskChange | None:
        """The next change; None after `timeout_s` without one, or at once when lagged."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self.lagged:
            return None
        self._wake.clear()
        getter = asyncio.ensure_future(self.queue.get())
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({getter, waker}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None


class EventHub:
    """Fans task changes out to the streams of this process; starts its source at the first subscriber.

    `redis` given: listens on the channel. Otherwise polls with `read` every `poll_interval_s`
    while there are subscribers, for their owners only.
    """

    def __init__(self, settings: EventSettings, read: ReadChanges, redis: RedisChanges | None) -> None:
        self.settings = settings
        self.read = read
        self.redis = redis
        self._by_task: dict[str, set[Subscription]] = {}
        self._by_owner: dict[str, set[Subscription]] = {}
        self._owners: dict[str, int] = {}
        """Owner id -> open subscriptions of any kind: whom the poller reads for."""
        self._source: asyncio.Task[None] | None = None
        self._active = asyncio.Event()
        self._seen: dict[str, TaskChange] = {}
        """The poller's newest change per task inside the overlap window (drops re-read rows)."""

    def subscribe(self, owner_id: str, task_id: str | None = None) -> Subscription:
        sub = Subscription(owner_id, task_id)
        if task_id is None:
            self._by_owner.setdefault(owner_id, set()).add(sub)
        else:
            self._by_task.setdefault(task_id, set()).add(sub)
        self._owners[owner_id] = self._owners.get(owner_id, 0) + 1
        self._active.set()
        if self._source is None:
            self._source = asyncio.create_task(self._run())
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        index, key = (self._by_owner, sub.owner_id) if sub.task_id is None else (self._by_task, sub.task_id)
        subs = index.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del index[key]
        left = self._owners.get(sub.owner_id, 0) - 1
        if left > 0:
            self._owners[sub.owner_id] = left
        else:
            self._owners.pop(sub.owner_id, None)
        if not self._owners:
            self._active.clear()

    def deliver(self, change: TaskChange) -> None:
        for sub in self._by_task.get(change.task_id, ()):
            sub.put(change)
        for sub in self._by_owner.get(change.owner_id, ()):
            sub.put(change)

    def resync(self) -> None:
        """Changes may have been missed: every stream re-reads its state from the table."""
        for subs in (*self._by_task.values(), *self._by_owner.values()):
            for sub in subs:
                sub.lag()

    async def close(self) -> None:
        if self._source is not None:
            self._source.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._source
            self._source = None
        if self.redis is not None:
            await self.redis.close()

    async def _run(self) -> None:
        if self.redis is not None:
            await self.redis.listen(self.deliver, self.resync)
        else:
            await self._poll_forever()

    async def _poll_forever(self) -> None:
        # Each poll reads what changed since the previous one began, less the overlap (a transaction
        # that commits late, a writer whose clock lags); rows read twice are dropped by version.
        overlap = timedelta(seconds=self.settings.poll_overlap_s)
        previous: datetime | None = None
        while True:
            await self._active.wait()
            started = utcnow()
            since = (previous or started) - overlap
            try:
                changes = await self.read(list(self._owners), since)
                previous = started
            except Exception as exc:  # the database may come back; streams wait meanwhile
                log.warning("task_event_poll_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                changes = []
            for change in changes:
                seen = self._seen.get(change.task_id)
                if seen is not None and seen.version >= change.version:
                    continue
                self._seen[change.task_id] = change
                self.deliver(change)
            if self._seen:
                self._seen = {k: v for k, v in self._seen.items() if v.changed_at >= since}
            await asyncio.sleep(self.settings.poll_interval_s)
