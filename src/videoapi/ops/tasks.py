"""Operator reads and deletes of the task table: filtered listings, and purging old finished tasks.

The purge deletes a finished task with everything that only describes it: the output assets it
produced (rows and stored objects), its webhook deliveries and attempts, a leftover quota
reservation, and idempotency records that point at it (so a replay makes a new task instead of
naming one that is gone). Usage records stay: they are the billing history, and nothing reads them
through the task row. The schema has no foreign keys between these tables, so no delete is blocked.

A task is kept (and reported) while a queued or running task names one of its outputs as an input,
or while its webhook is still owed (not yet handed to the outbox, or a delivery still pending).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.models import Asset
from videoapi.assets.retention import asset_ids_in
from videoapi.billing.models import Reservation
from videoapi.db.engine import transaction
from videoapi.destinations.models import DestinationDelivery
from videoapi.gateway.models import IdempotencyRecord, WebhookAttempt, WebhookDelivery
from videoapi.tasks.models import Task
from videoapi.tasks.states import LIVE, TERMINAL

if TYPE_CHECKING:
    from videoapi.storage.base import ObjectStore

log = structlog.get_logger(__name__)

PURGE_BATCH = 200
"""Tasks examined and deleted per transaction."""

# Idempotency records are written just before the tasks they name; this covers clock skew between API nodes.
_IDEMPOTENCY_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class TaskFilter:
    status: str | None = None
    kind: str | None = None
    owner_id: str | None = None
    queue: str | None = None
    since: datetime | None = None
    """Created at or after this time."""

    def clauses(self) -> list[Any]:
        found = []
        for column, value in (
            (Task.status, self.status),
            (Task.kind, self.kind),
            (Task.owner_id, self.owner_id),
            (Task.queue, self.queue),
        ):
            if value:
                found.append(column == value)
        if self.since:
            found.append(Task.created_at >= self.since)
        return found


async def list_tasks(sessions: async_sessionmaker[AsyncSession], where: TaskFilter, limit: int) -> list[Task]:
    """Tasks of every owner matching `where`, newest first."""
    query = select(Task).where(*where.clauses()).order_by(Task.created_at.desc(), Task.id.desc()).limit(limit)
    async with sessions() as session:
        return list((await session.scalars(query)).all())


async def count_tasks(sessions: async_sessionmaker[AsyncSession], where: TaskFilter) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Task).where(*where.clauses())) or 0)


async def task_outputs(sessions: async_sessionmaker[AsyncSession], task_id: str) -> list[Asset]:
    """The output assets a task produced (purged ones included), oldest first."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Asset).where(Asset.task_id == task_id, Asset.origin == "output").order_by(Asset.created_at)
        )
        return list(rows.all())


def task_record(task: Task) -> dict[str, Any]:
    """Every column of a task row as JSON-ready values (times in ISO 8601)."""
    out: dict[str, Any] = {}
    for column in Task.__table__.columns:
        value = getattr(task, column.key)
        out[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return out


@dataclass
class PurgedTask:
    id: str
    kind: str
    status: str
    finished_at: datetime
    assets: int
    """Output assets deleted with it (rows)."""
    size_bytes: int
    """Bytes of those outputs still stored (retention may have removed some already)."""


@dataclass
class TaskPurgeReport:
    purged: list[PurgedTask] = field(default_factory=list)
    """Tasks deleted (or that would be, on a dry run), oldest first."""
    kept: dict[str, str] = field(default_factory=dict)
    """Task id -> why it was kept."""
    object_errors: list[tuple[str, str]] = field(default_factory=list)
    """(key, error) of stored objects that could not be deleted; their rows are gone."""

    @property
    def assets(self) -> int:
        return sum(t.assets for t in self.purged)

    @property
    def size_bytes(self) -> int:
        return sum(t.size_bytes for t in self.purged)


def _old_finished(cutoff: datetime) -> Any:
    return and_(Task.status.in_(list(TERMINAL)), Task.finished_at.is_not(None), Task.finished_at < cutoff)


async def count_purgeable(sessions: async_sessionmaker[AsyncSession], cutoff: datetime) -> int:
    """Finished tasks that ended before `cutoff` (before the keep rules are applied)."""
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Task).where(_old_finished(cutoff))) or 0)


async def purge_finished_tasks(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    cutoff: datetime,
    *,
    dry_run: bool = False,
    on_progress: Callable[[int], None] = lambda _: None,
) -> TaskPurgeReport:
    """Delete succeeded, failed and canceled tasks that finished before `cutoff`, with their outputs.

    Works in batches of PURGE_BATCH, oldest first; `on_progress(n)` is called after each batch with
    the number of tasks it examined. Rows go in one transaction per batch, then the batch's stored
    objects; an object that cannot be deleted is reported, not retried.
    """
    report = TaskPurgeReport()
    after: tuple[datetime, str] | None = None
    while True:
        query = select(Task).where(_old_finished(cutoff))
        if after is not None:
            query = query.where(
                or_(Task.finished_at > after[0], and_(Task.finished_at == after[0], Task.id > after[1]))
            )
        async with sessions() as session:
            batch = list((await session.scalars(query.order_by(Task.finished_at, Task.id).limit(PURGE_BATCH))).all())
        if not batch:
            return report
        last = batch[-1]
        assert last.finished_at is not None
        after = (last.finished_at, last.id)
        await _purge_batch(sessions, store, batch, cutoff, dry_run, report)
        on_progress(len(batch))


async def _purge_batch(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    batch: list[Task],
    cutoff: datetime,
    dry_run: bool,
    report: TaskPurgeReport,
) -> None:
    ids = [t.id for t in batch]
    async with sessions() as session:
        outputs = list(await session.scalars(select(Asset).where(Asset.task_id.in_(ids), Asset.origin == "output")))
        live = await session.scalars(select(Task.params).where(Task.status.in_(LIVE)))
        needed = {asset_id for params in live for asset_id in asset_ids_in(params)}
        owed = select(WebhookDelivery.task_id).where(
            WebhookDelivery.task_id.in_(ids), WebhookDelivery.status == "pending"
        )
        pending = set(await session.scalars(owed))
        undelivered = select(DestinationDelivery.task_id).where(
            DestinationDelivery.task_id.in_(ids), DestinationDelivery.status.in_(("waiting", "pending"))
        )
        copies_owed = set(await session.scalars(undelivered))
    by_task: dict[str, list[Asset]] = {}
    for asset in outputs:
        by_task.setdefault(asset.task_id or "", []).append(asset)
    doomed: list[Task] = []
    for task in batch:
        if any(a.id in needed for a in by_task.get(task.id, [])):
            report.kept[task.id] = "a queued or running task uses its output"
        elif task.id in pending or (task.webhook_url and task.webhook_notified_at is None):
            report.kept[task.id] = "its webhook is not delivered yet"
        elif task.id in copies_owed:
            report.kept[task.id] = "its outputs are not copied to its destinations yet"
        else:
            doomed.append(task)
    if not doomed:
        return
    if dry_run:
        report.purged += [_purged(t, by_task.get(t.id, [])) for t in doomed]
        return
    async with transaction(sessions) as session:
        # Conditional on the state read above: a task requeued meanwhile is not deleted.
        gone = set(
            (
                await session.execute(
                    delete(Task)
                    .where(Task.id.in_([t.id for t in doomed]), _old_finished(cutoff))
                    .returning(Task.id)
                    .execution_options(synchronize_session=False)
                )
            ).scalars()
        )
        if not gone:
            return
        doomed = [t for t in doomed if t.id in gone]
        await session.execute(delete(Asset).where(Asset.task_id.in_(gone), Asset.origin == "output"))
        await session.execute(delete(WebhookAttempt).where(WebhookAttempt.task_id.in_(gone)))
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.task_id.in_(gone)))
        await session.execute(delete(DestinationDelivery).where(DestinationDelivery.task_id.in_(gone)))
        await session.execute(delete(Reservation).where(Reservation.task_id.in_(gone)))
        newest = max(t.created_at for t in doomed) + _IDEMPOTENCY_SLACK
        records = await session.execute(
            select(IdempotencyRecord.id, IdempotencyRecord.task_ids).where(
                IdempotencyRecord.task_ids.is_not(None), IdempotencyRecord.created_at <= newest
            )
        )
        stale = [rid for rid, task_ids in records.all() if gone.intersection(task_ids or [])]
        if stale:
            await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(stale)))
    for task in doomed:
        assets = by_task.get(task.id, [])
        report.purged.append(_purged(task, assets))
        for key in (k for a in assets for k in a.object_keys):
            try:
                await store.delete(key)
            except Exception as exc:  # the row is gone; the operator gets the key to remove by hand
                log.exception("task_purge_delete_failed", task_id=task.id, key=key)
                report.object_errors.append((key, f"{type(exc).__name__}: {exc}"))
    log.info("tasks_purged", tasks=len(doomed), assets=sum(len(by_task.get(t.id, [])) for t in doomed))


def _purged(task: Task, assets: list[Asset]) -> PurgedTask:
    assert task.finished_at is not None
    return PurgedTask(
        id=task.id,
        kind=task.kind,
        status=task.status,
        finished_at=task.finished_at,
        assets=len(assets),
        size_bytes=sum(a.size_bytes for a in assets if a.deleted_at is None),
    )
