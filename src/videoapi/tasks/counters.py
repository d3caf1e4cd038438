"""Task counts kept beside the task table, so that the create path reads O(1) rows, not the backlog.

Two scopes, both changed in the transaction that moves a task (so they commit or roll back with it):
`queue:<name>` counts a queue's queued tasks (load shedding), `owner:<id>` an owner's unfinished
tasks: waiting pipeline steps, queued and running tasks (the per-key active-task cap). Each scope is
spread over `SHARDS` rows, one picked at random per transaction: every create and claim of a queue,
and every create and finish of a busy owner, changes its count, and one row would serialise them all
on its row lock. A count is the sum of at most `SHARDS` rows, read by primary key.

Every transaction writes its counters once, as its last statement, rows in sorted order: counter
rows are locked only from there to the commit, and two transactions never wait on each other's
counter rows in opposite orders (no deadlock).
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, SmallInteger, String, TextClause, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base

SHARDS = 8
ACTIVE = ("waiting", "queued", "running")
"""What the per-owner cap counts: `tasks.states.LIVE` (a waiting pipeline step holds its place too)."""


class TaskCounter(Base):
    __tablename__ = "task_counters"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    """`queue:<name>` (queued tasks) or `owner:<owner_id>` (waiting + queued + running tasks)."""
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    """A shard may go below zero (a claim that picked another shard than the create); the sum cannot."""


def queue_scope(queue: str) -> str:
    return f"queue:{queue}"


def owner_scope(owner_id: str) -> str:
    return f"owner:{owner_id}"


class Deltas:
    """Counter changes of one transaction, applied together by `apply`."""

    def __init__(self) -> None:
        self._by_scope: Counter[str] = Counter()

    def moved(self, queue: str, owner_id: str, before: str | None, after: str | None) -> None:
        """A task of `queue` and `owner_id` went from status `before` to `after` (None: no row)."""
        if before == after:
            return
        self._by_scope[queue_scope(queue)] += (after == "queued") - (before == "queued")
        self._by_scope[owner_scope(owner_id)] += (after in ACTIVE) - (before in ACTIVE)

    def moved_all(self, rows: Iterable[tuple[str, str]], before: str | None, after: str | None) -> None:
        """`moved` for each (queue, owner_id) in `rows`."""
        for queue, owner_id in rows:
            self.moved(queue, owner_id, before, after)

    async def apply(self, session: AsyncSession) -> None:
        """Write the changes in one statement; a no-op when nothing moved."""
        shard = random.randrange(SHARDS)
        rows = sorted((scope, delta) for scope, delta in self._by_scope.items() if delta)
        self._by_scope.clear()
        if not rows:
            return
        params: dict[str, Any] = {"shard": shard}
        for i, (scope, delta) in enumerate(rows):
            params.update({f"s{i}": scope, f"c{i}": delta})
        await session.execute(_upsert(len(rows)), params)


@functools.cache
def _upsert(rows: int) -> TextClause:
    """The upsert of `rows` counter rows, as text: the same on PostgreSQL and SQLite (3.24+), and,
    unlike a Core insert with ON CONFLICT, compiled once (SQLAlchemy cannot cache that one)."""
    values = ", ".join(f"(:s{i}, :shard, :c{i})" for i in range(rows))
    return text(
        f"INSERT INTO task_counters (scope, shard, count) VALUES {values} "  # noqa: S608 - only bind names
        "ON CONFLICT (scope, shard) DO UPDATE SET count = task_counters.count + excluded.count"
    )


async def _total(session: AsyncSession, scope: str) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(TaskCounter.count), 0)).where(TaskCounter.scope == scope)
    )
    return max(int(total or 0), 0)


async def queue_depth(session: AsyncSession, queue: str) -> int:
    """Queued tasks of `queue`, committed ones (at most SHARDS rows, by primary key)."""
    return await _total(session, queue_scope(queue))


async def owner_active(session: AsyncSession, owner_id: str) -> int:
    """Waiting, queued and running tasks of `owner_id`, committed ones (at most SHARDS rows, by primary key)."""
    return await _total(session, owner_scope(owner_id))
