"""Queue statistics read from the task table: ready and delayed tasks, oldest ready age, running.

One query over the queued and running rows, grouped by the leading columns of the claim index
(`queue, status, priority, created_at`), which covers every column it reads but `not_before`.
Plain SQL aggregates: it works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.db.base import utcnow
from videoapi.observability import metrics
from videoapi.tasks.models import Task
from videoapi.tasks.states import PRIORITIES, Status


@dataclass(frozen=True)
class QueueRow:
    """Queued tasks of one queue and priority."""

    queue: str
    priority: int
    ready: int
    """Queued with `not_before` reached: a worker may claim them now."""
    delayed: int
    """Queued but waiting for a retry backoff (`not_before` in the future)."""
    oldest_ready_at: datetime | None
    """`created_at` of the oldest ready task; None when none is ready."""


@dataclass(frozen=True)
class QueueSnapshot:
    at: datetime
    rows: list[QueueRow]
    """One row per (queue, priority): every known queue with every API priority, zeros included,
    plus any other pair present in the table."""
    running: dict[str, int]
    """Running tasks per queue, zeros included."""
    active: dict[tuple[str, str], int]
    """Queued and running tasks by (kind, status). Finished ones are not counted: that would read
    the whole table's history at every scrape; workers count them (`videoapi_tasks_finished_total`)."""

    def oldest_age_s(self, row: QueueRow) -> float:
        if row.oldest_ready_at is None:
            return 0.0
        return max((self.at - row.oldest_ready_at).total_seconds(), 0.0)


async def queue_snapshot(sessions: async_sessionmaker[AsyncSession], queues: Iterable[str]) -> QueueSnapshot:
    """Read the queues' state now; `queues` are always present, with zeros when idle."""
    now = utcnow()
    queued = Task.status == Status.QUEUED
    ready = queued & (Task.not_before <= now)
    query = (
        select(
            Task.queue,
            Task.status,
            Task.priority,
            Task.kind,
            func.count(),
            func.sum(case((ready, 1), else_=0)),
            func.min(case((ready, Task.created_at), else_=None)),
        )
        .where(Task.status.in_([Status.QUEUED, Status.RUNNING]))
        .group_by(Task.queue, Task.status, Task.priority, Task.kind)
    )
    async with sessions() as session:
        found = (await session.execute(query)).all()

    by_pair: dict[tuple[str, int], QueueRow] = {
        (q, p): QueueRow(q, p, 0, 0, None) for q in queues for p in sorted(PRIORITIES.values())
    }
    running = dict.fromkeys(queues, 0)
    active: dict[tuple[str, str], int] = {}
    for queue, status, priority, kind, count, ready_count, oldest in found:
        active[(kind, status)] = active.get((kind, status), 0) + count
        if status == Status.RUNNING:
            running[queue] = running.get(queue, 0) + count
            continue
        ready_count = int(ready_count or 0)
        row = by_pair[(queue, priority)] if (queue, priority) in by_pair else QueueRow(queue, priority, 0, 0, None)
        oldest_at = min((t for t in (row.oldest_ready_at, oldest) if t is not None), default=None)
        by_pair[(queue, priority)] = QueueRow(
            queue, priority, row.ready + ready_count, row.delayed + count - ready_count, oldest_at
        )
    rows = sorted(by_pair.values(), key=lambda r: (r.queue, r.priority))
    return QueueSnapshot(now, rows, running, active)


def set_task_table_gauges(snapshot: QueueSnapshot) -> None:
    """Replace the scrape-time gauges with one reading of the task table, without an await between
    clearing and setting, so a concurrent scrape never sees them half-filled."""
    metrics.TASKS.clear()
    for (kind, status), count in snapshot.active.items():
        metrics.TASKS.labels(kind, status).set(count)
    for gauge in (metrics.QUEUE_DEPTH, metrics.QUEUE_DELAYED, metrics.QUEUE_OLDEST_AGE_SECONDS, metrics.TASKS_RUNNING):
        gauge.clear()
    for row in snapshot.rows:
        labels = (row.queue, str(row.priority))
        metrics.QUEUE_DEPTH.labels(*labels).set(row.ready)
        metrics.QUEUE_DELAYED.labels(*labels).set(row.delayed)
        metrics.QUEUE_OLDEST_AGE_SECONDS.labels(*labels).set(snapshot.oldest_age_s(row))
    for queue, count in snapshot.running.items():
        metrics.TASKS_RUNNING.labels(queue).set(count)
