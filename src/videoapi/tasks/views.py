"""The hot read of one task: a Core select into a msgspec struct, and an optional Redis cache of it.

`GET /v1/video/tasks/{id}` is the most frequent request (clients poll it). The ORM path built a
mapped `Task` in a session's identity map per read; a Core select of the columns the answer needs,
decoded into `TaskView`, skips that bookkeeping.

With `tasks.read_cache`, views are also kept in Redis (`<namespace>:task:<id>`), so a poll costs no
database round trip. Entries are versioned by the task's `version` (raised by every visible change):

- every transition, once committed, writes a *tombstone* `<version>|` for the new version (from the
  TaskChange the transition announces), so whatever view was cached is dead;
- a reader that misses (or finds a tombstone) reads the row and stores `<version>|<view>` only if
  nothing newer is there. A reader that read the row before a transition cannot overwrite the
  transition's tombstone with its older view: the scripts compare versions inside Redis.

What this leaves: a process that dies between its commit and the tombstone leaves the old view
cached until `tasks.read_cache_ttl_s`; so does a Redis write that fails. Storage keys stay in the
cached view and are signed per read, as before: signed URLs are never cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from videoapi.observability.logging import get_logger
from videoapi.tasks.events import TaskChange
from videoapi.tasks.models import Task

log = get_logger(__name__)


class TaskView(msgspec.Struct):
    """What the public task object is made of (see `present_task`), plus the owner and version."""

    id: str
    owner_id: str
    kind: str
    status: str
    progress: float
    priority: int
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    cost: float | None
    webhook_url: str | None
    cancel_requested: bool
    version: int


VIEW_COLUMNS = tuple(getattr(Task, name) for name in TaskView.__struct_fields__)
_SELECT_VIEW = select(*VIEW_COLUMNS).where(Task.id == bindparam("task_id"))
"""Built once: building the select and its cache key per read was a tenth of a read's CPU."""


async def select_view(connection: AsyncConnection | AsyncSession, task_id: str) -> TaskView | None:
    row = (await connection.execute(_SELECT_VIEW, {"task_id": task_id})).one_or_none()
    if row is None:
        return None
    return TaskView(*row)


# KEYS[1] = the key; ARGV = version, payload ('' for a tombstone), ttl in ms.
# Stores `<version>|<payload>` unless the entry there is newer, or as new and already a view.
_STORE = """
local cur = redis.call('GET', KEYS[1])
local v = tonumber(ARGV[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local cv = tonumber(string.sub(cur, 1, sep - 1))
  if cv > v then return 0 end
  if cv == v and (ARGV[2] == '' or sep < #cur) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
"""


class TaskViewCache:
    """Views of tasks in Redis, versioned (module docstring); every method degrades to a miss."""

    def __init__(self, url: str, namespace: str, ttl_s: float) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.prefix = f"{namespace}:task:"
        self.ttl_ms = max(int(ttl_s * 1000), 1)
        self._store = self.client.register_script(_STORE)
        self._decoder = msgspec.json.Decoder(TaskView)

    async def get(self, task_id: str) -> TaskView | None:
        try:
            raw = await self.client.get(self.prefix + task_id)
        except Exception as exc:  # the table answers instead
            log.warning("task_cache_read_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            return None
        if not raw:
            return None
        _, _, payload = raw.partition(b"|")
        return self._decoder.decode(payload) if payload else None

    async def fill(self, view: TaskView) -> None:
        try:
            await self._store(keys=[self.prefix + view.id], args=[view.version, msgspec.json.encode(view), self.ttl_ms])
        except Exception as exc:
            log.warning("task_cache_write_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def stale(self, changes: Sequence[TaskChange]) -> None:
        """Kill the cached views older than these committed changes (one pipeline)."""
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for change in changes:
                    await self._store(
                        keys=[self.prefix + change.task_id], args=[change.version, "", self.ttl_ms], client=pipe
                    )
                await pipe.execute()
        except Exception as exc:
            log.warning("task_cache_write_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def close(self) -> None:
        await self.client.aclose()
