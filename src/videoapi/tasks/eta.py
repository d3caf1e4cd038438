"""A rough ETA for a new task: what is ahead of it on its queue, at the pace of recent tasks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.tasks.models import Task
from videoapi.tasks.states import Status

_RECENT = 50
_DEFAULT_RUN_S = 10.0


@dataclass(frozen=True)
class Eta:
    ahead: int
    """Queued tasks on the same queue that a worker would claim first (same or higher priority)."""
    running: int
    typical_run_s: float
    """Median run time of the kind's recent successes (a default when there are none)."""
    eta_s: float
    """Seconds until the task would finish: the tasks ahead spread over the busy workers, then its own run."""


async def queue_eta(sessions: async_sessionmaker[AsyncSession], queue: str, kind: str, priority: int) -> Eta:
    async with sessions() as session:
        ahead = await session.scalar(
            select(func.count()).where(Task.queue == queue, Task.status == Status.QUEUED, Task.priority >= priority)
        )
        running = await session.scalar(select(func.count()).where(Task.queue == queue, Task.status == Status.RUNNING))
        recent = (
            await session.execute(
                select(Task.started_at, Task.finished_at)
                .where(Task.kind == kind, Task.status == Status.SUCCEEDED, Task.started_at.is_not(None))
                .order_by(Task.finished_at.desc())
                .limit(_RECENT)
            )
        ).all()
    durations = sorted((f - s).total_seconds() for s, f in recent if s is not None and f is not None)
    typical = durations[len(durations) // 2] if durations else _DEFAULT_RUN_S
    # Busy workers approximate the queue's capacity; an idle queue still has one worker to take it.
    lanes = max(int(running or 0), 1)
    eta = (int(ahead or 0) + int(running or 0)) / lanes * typical + typical
    return Eta(int(ahead or 0), int(running or 0), round(typical, 3), round(eta, 1))
