"""Task service: creation, reads, and every status transition as one conditional UPDATE.

A transition only happens when the row is still in the state it must come from (and, for a
worker, still leased to that worker), so two workers can never both own or finish a task.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Select, and_, case, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.db.base import UTCDateTime, new_id, utcnow
from videoapi.db.engine import read_connection, transaction
from videoapi.errors import Conflict, InvalidRequest, NotFound, TooManyRequests, scrub_paths
from videoapi.observability.logging import get_logger
from videoapi.observability.metrics import TASK_RETRIES
from videoapi.settings import Settings
from videoapi.tasks import pipelines
from videoapi.tasks.counters import Deltas
from videoapi.tasks.events import ChangePublisher, TaskChange
from videoapi.tasks.models import Pipeline, Task
from videoapi.tasks.states import Status
from videoapi.tasks.views import TaskView, TaskViewCache, select_view

log = get_logger(__name__)

# publish(queue, task_id, delay_ms): tell the queue's workers that work is waiting. It is called on
# the event loop and must not block: a network broker's client goes behind a BatchedPublisher.
# None: this process cannot publish (CLI on the embedded shape); the reconciler publishes instead.
Publisher = Callable[[str, str, int], None] | None

# What a change statement returns (RETURNING), to announce it to the event streams.
CHANGE_COLUMNS = (
    Task.id,
    Task.owner_id,
    Task.status,
    Task.progress,
    Task.version,
    Task.changed_at,
    Task.cancel_requested,
)


def changed(now: datetime) -> dict[str, Any]:
    """The values every UPDATE that changes what a caller sees adds: the next version, and when."""
    return {"version": Task.version + 1, "changed_at": now, "updated_at": now}


# session.info key: what a transaction that advanced pipelines has to announce and publish once committed.
_FOLLOW_UPS = "pipeline_follow_ups"


class RetriedPipeline(NamedTuple):
    """A retried pipeline and its steps as the retry committed them; `task_ids`: the steps run again."""

    pipeline: Pipeline
    steps: list[Task]
    task_ids: list[str]


def change_of(row: Any) -> TaskChange:
    """A TaskChange from a row of CHANGE_COLUMNS (or a Task)."""
    if isinstance(row, Task):
        row = (row.id, row.owner_id, row.status, row.progress, row.version, row.changed_at, row.cancel_requested)
    task_id, owner_id, status, progress, version, changed_at, cancel_requested = row
    return TaskChange(
        task_id=task_id,
        owner_id=owner_id,
        status=str(status),
        progress=round(progress, 4),
        version=version,
        changed_at=changed_at,
        cancel_requested=bool(cancel_requested),
    )


class Ledger(Protocol):
    """What the task service needs of billing (BillingService is one): a reservation, then a charge."""

    async def reserve(
        self, session: AsyncSession, owner_id: str, task_id: str, credits: float, now: datetime | None = None
    ) -> None: ...

    async def reserve_again(
        self, session: AsyncSession, owner_id: str, task_ids: Sequence[str], now: datetime | None = None
    ) -> None: ...

    async def settle(
        self, session: AsyncSession, task: Any, result: dict[str, Any], now: datetime | None = None
    ) -> float | None: ...


_INSERT_TASK = insert(Task.__table__)
_SCALAR_DEFAULTS = {
    column.key: column.default.arg
    for column in Task.__table__.columns
    if column.default is not None and column.default.is_scalar
}


def _insert_row(task: Task) -> dict[str, Any]:
    """The INSERT's values of a new (transient) task, its unset columns' scalar defaults filled in on
    the object too, as a flush would, so that the task answers as read back."""
    for key, value in _SCALAR_DEFAULTS.items():
        if getattr(task, key) is None:
            setattr(task, key, value)
    return {column.key: getattr(task, column.key) for column in Task.__table__.columns}


class TaskService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        publish: Publisher,
        billing: Ledger | None = None,
        events: ChangePublisher | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self._publish = publish
        self.billing = billing
        """Charges succeeded tasks and reserves quota at creation; None in code paths that need neither."""
        self.events = events
        """Where committed changes are announced (the Redis channel); None: streams poll the table."""
        self._beat_versions: dict[str, int] = {}
        """Version each running task's last heartbeat returned: only a heartbeat that changed the
        progress is announced."""
        self.read_sessions = sessions
        """Sessions for plain reads (autocommit on PostgreSQL); set by `build_services`."""
        self.cache: TaskViewCache | None = None
        """Redis copies of task views (`tasks.read_cache`); every announced change invalidates its task's."""

    # ---- API side -------------------------------------------------------------------------

    async def create(
        self,
        *,
        owner_id: str,
        kind: str,
        queue: str,
        params: dict[str, Any],
        priority: int = 1,
        webhook_url: str | None = None,
        time_limit_s: float | None = None,
        batch_key: str | None = None,
        estimate_credits: float | None = None,
    ) -> Task:
        return (
            await self.create_many(
                [
                    {
                        "owner_id": owner_id,
                        "kind": kind,
                        "queue": queue,
                        "params": params,
                        "priority": priority,
                        "webhook_url": webhook_url,
                        "time_limit_s": time_limit_s,
                        "batch_key": batch_key,
                        "estimate_credits": estimate_credits,
                    }
                ]
            )
        )[0]

    async def create_many(
        self,
        items: Sequence[dict[str, Any]],
        *,
        in_transaction: Callable[[AsyncSession, list[Task]], Awaitable[None]] | None = None,
        max_active: int = 0,
    ) -> list[Task]:
        """Create tasks (each item holds `create`'s keyword arguments) in one transaction, then publish.

        An item's `estimate_credits` is reserved against its owner's quota in that transaction
        (402 when the quota cannot cover it).

        `in_transaction(session, tasks)` runs inside that transaction after the rows are flushed;
        whatever it writes commits with the tasks, and an exception it raises creates nothing.

        `max_active` > 0 caps the owner's unfinished tasks (the items share one owner): 429
        `too_many_tasks` when its committed ones plus these would pass it, checked serialised with
        the owner's other capped creates (`Deltas.apply_capped`), so concurrent creates cannot pass
        it together.
        """
        now = utcnow()
        tasks = [
            Task(
                id=item.get("id") or new_id(),
                pipeline_id=item.get("pipeline_id"),
                step_id=item.get("step_id"),
                depends_on=item.get("depends_on"),
                bindings=item.get("bindings"),
                time_limit_s=item.get("time_limit_s"),
                batch_key=item.get("batch_key"),
                kind=item["kind"],
                queue=item["queue"],
                owner_id=item["owner_id"],
                status=item.get("status", Status.QUEUED),
                priority=item.get("priority", 1),
                params=item["params"],
                max_attempts=self.settings.tasks.max_attempts,
                webhook_url=item.get("webhook_url"),
                created_at=now,
                updated_at=now,
                changed_at=now,
                version=1,
                not_before=now,
                published_at=now,
            )
            for item in items
        ]
        async with transaction(self.sessions) as session:
            # A Core insert: the rows need no unit of work (the ORM flush was a tenth of a create's CPU)
            await session.execute(_INSERT_TASK, [_insert_row(t) for t in tasks])
            if self.billing is not None:
                # The quota check and the reservation commit with the tasks, or nothing is created.
                for task, item in zip(tasks, items, strict=True):
                    if item.get("estimate_credits") is not None:
                        await self.billing.reserve(session, task.owner_id, task.id, item["estimate_credits"], now)
            if in_transaction is not None:
                await in_transaction(session, tasks)
            # Last: the counter rows stay locked only until the commit.
            deltas = Deltas()
            for t in tasks:  # queued, or waiting (a pipeline step whose inputs are not made yet)
                deltas.moved(t.queue, t.owner_id, None, t.status)
            if max_active > 0:
                active = await deltas.apply_capped(session, tasks[0].owner_id)
                if active + len(tasks) > max_active:
                    raise TooManyRequests(
                        f"this key may have {max_active} unfinished (waiting, queued or running) tasks at once; "
                        f"it has {active} and asked for {len(tasks)} more",
                        code="too_many_tasks",
                        headers={"Retry-After": "5"},
                    )
            else:
                await deltas.apply(session)
        await self.announce([change_of(t) for t in tasks])
        for task in tasks:
            if task.status == Status.QUEUED:  # a waiting pipeline step is published when it is queued
                await self.publish(task.queue, task.id)
        return tasks

    async def create_pipeline(
        self,
        pipeline: Pipeline,
        items: Sequence[dict[str, Any]],
        *,
        in_transaction: Callable[[AsyncSession, list[Task]], Awaitable[None]] | None = None,
        max_active: int = 0,
    ) -> list[Task]:
        """Create a pipeline's row and its steps' tasks (`create_many` items with ids, pipeline columns
        and a `waiting` or `queued` status) in one transaction, then publish the queued steps."""

        async def write(session: AsyncSession, tasks: list[Task]) -> None:
            session.add(pipeline)
            await session.flush()
            if in_transaction is not None:
                await in_transaction(session, tasks)

        return await self.create_many(items, in_transaction=write, max_active=max_active)

    async def get_pipeline(self, pipeline_id: str, owner_id: str | None) -> tuple[Pipeline, list[Task]]:
        """The pipeline and its steps' tasks; another owner's is as absent as a missing one."""
        async with self.read_sessions() as session:
            row = await session.get(Pipeline, pipeline_id)
            if row is None or (owner_id is not None and row.owner_id != owner_id):
                raise NotFound(f"pipeline {pipeline_id} not found", code="pipeline_not_found")
            steps = await pipelines.steps_of(session, pipeline_id)
        return row, steps

    async def list_pipelines(
        self, owner_id: str, cursor: str | None, limit: int
    ) -> tuple[list[tuple[Pipeline, list[Task]]], str | None]:
        """Newest first, each with its steps, and the cursor of the next page (None on the last)."""
        async with self.read_sessions() as session:
            rows, next_cursor = await newest_first(
                session, select(Pipeline).where(Pipeline.owner_id == owner_id), Pipeline, cursor, limit
            )
            steps = (await session.scalars(select(Task).where(Task.pipeline_id.in_([r.id for r in rows])))).all()
        by_pipeline: dict[str, list[Task]] = {r.id: [] for r in rows}
        for task in steps:
            by_pipeline[str(task.pipeline_id)].append(task)
        return [(r, by_pipeline[r.id]) for r in rows], next_cursor

    async def cancel_pipeline(self, pipeline_id: str, owner_id: str | None) -> None:
        """Cancel every step: waiting and queued ones at once, running ones at their next heartbeat."""
        now = utcnow()
        async with transaction(self.sessions) as session:
            row = await pipelines.lock(session, pipeline_id)
            if row is None or (owner_id is not None and row.owner_id != owner_id):
                raise NotFound(f"pipeline {pipeline_id} not found", code="pipeline_not_found")
            if row.status != "running":
                raise Conflict(f"pipeline {pipeline_id} is already {row.status}", code="pipeline_not_cancelable")
            changes: list[TaskChange] = []
            deltas = Deltas()
            for before in (Status.WAITING, Status.QUEUED):  # one at a time: the counters need the old status
                done = await session.execute(
                    update(Task)
                    .where(Task.pipeline_id == pipeline_id, Task.status == before)
                    .values(status=Status.CANCELED, finished_at=now, **changed(now))
                    .returning(Task.queue, *CHANGE_COLUMNS)
                )
                for queue, *r in done.all():
                    changes.append(change_of(r))
                    deltas.moved(queue, row.owner_id, before, Status.CANCELED)
            flagged = await session.execute(
                update(Task)
                .where(Task.pipeline_id == pipeline_id, Task.status == Status.RUNNING)
                .values(cancel_requested=True, **changed(now))
                .returning(*CHANGE_COLUMNS)
            )
            changes += [change_of(r) for r in flagged.all()]
            pipelines.settle(row, await pipelines.steps_of(session, pipeline_id), now)
            await deltas.apply(session)
        await self.announce(changes)

    async def retry_pipeline(self, pipeline_id: str, owner_id: str | None) -> RetriedPipeline:
        """Run the failed and canceled steps again (their dependents with them); succeeded steps stay.

        Returns the pipeline and its steps as this retry committed them (a worker may already have
        moved them on by the time a re-read would run), and the task ids of the steps that run again."""
        now = utcnow()
        async with transaction(self.sessions) as session:
            row = await pipelines.lock(session, pipeline_id)
            if row is None or (owner_id is not None and row.owner_id != owner_id):
                raise NotFound(f"pipeline {pipeline_id} not found", code="pipeline_not_found")
            if row.status not in ("failed", "canceled"):
                raise Conflict(
                    f"pipeline {pipeline_id} is {row.status}; only a failed or canceled pipeline can be retried",
                    code="pipeline_not_retryable",
                )
            steps = await pipelines.steps_of(session, pipeline_id)
            if self.billing is not None:
                # Their reservations hold credits again once they are live: the quota must cover them.
                ended = [t.id for t in steps if t.status in (Status.FAILED, Status.CANCELED)]
                await self.billing.reserve_again(session, row.owner_id, ended, now)
            retried: list[str] = []
            deltas = Deltas()
            for task in steps:
                if task.status in (Status.FAILED, Status.CANCELED):
                    retried.append(task.id)
                    deltas.moved(task.queue, task.owner_id, task.status, Status.WAITING)
                    task.status = Status.WAITING
                    task.attempts = 0
                    task.progress = 0.0
                    task.result = None
                    task.error_code = task.error_message = None
                    task.cancel_requested = False
                    task.finished_at = None
                    task.webhook_notified_at = None
                    task.lease_owner = task.lease_expires_at = None
                    pipelines.touch(task, now)
            row.webhook_notified_at = None  # the new run's end is announced too
            row.finished_at = None
            await session.flush()
            # The retried steps whose dependencies all succeeded are queued now, the others wait.
            await self._advance(session, [pipeline_id], now, deltas)
            changes = [change_of(t) for t in steps]
            await deltas.apply(session)
        await self.announce(changes)
        await self.follow_up(session)
        return RetriedPipeline(row, steps, retried)

    async def _advance(
        self, session: AsyncSession, pipeline_ids: Sequence[str | None], now: datetime, deltas: Deltas
    ) -> None:
        """Move the waiting steps of these pipelines on (queued, or ended by a dependency), counted in
        `deltas`, which the caller applies last in the same transaction."""
        # Sorted: two transactions advancing the same pipelines lock their rows in one order.
        for pipeline_id in sorted({p for p in pipeline_ids if p}):
            advanced = await pipelines.advance(session, pipeline_id, now)
            for step in advanced.changed:  # every step an advance changes was waiting
                deltas.moved(step.queue, step.owner_id, Status.WAITING, step.status)
            self._stash(session, advanced)

    def _stash(self, session: AsyncSession, advanced: pipelines.Advanced) -> None:
        changes, queued = session.info.setdefault(_FOLLOW_UPS, ([], []))
        changes += [change_of(t) for t in advanced.changed]
        queued += advanced.queued

    async def follow_up(self, session: AsyncSession) -> None:
        """After the commit of a transaction that advanced pipelines: announce and publish its steps."""
        changes, queued = session.info.pop(_FOLLOW_UPS, ([], []))
        await self.announce(changes)
        for queue, task_id in queued:
            await self.publish(queue, task_id)

    async def announce(self, changes: Sequence[TaskChange]) -> None:
        """Tell the event streams of every process about committed changes (Redis), and kill the
        cached views they made stale (`tasks.read_cache`); never raises.

        On the `table` backend there is no event to send: the streams' poller reads the rows.
        """
        if not changes:
            return
        if self.cache is not None and (seen := [c for c in changes if c.version > 1]):
            # Version 1 is a creation: no reader knew its id before this commit, nothing to invalidate.
            await self.cache.stale(seen)
        if self.events is None:
            return
        try:
            await self.events.publish(changes)
        except Exception as exc:  # a stream resyncs from the table; the change itself is committed
            log.warning("task_event_publish_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def changes_since(self, owner_ids: Sequence[str], after: datetime, limit: int = 1000) -> list[TaskChange]:
        """The current state of those owners' tasks changed after `after`, oldest change first."""
        out: list[TaskChange] = []
        owners = list(owner_ids)
        for i in range(0, len(owners), 500):  # bounded IN lists (SQLite caps bound parameters)
            async with self.read_sessions() as session:
                rows = await session.execute(
                    select(*CHANGE_COLUMNS)
                    .where(Task.owner_id.in_(owners[i : i + 500]), Task.changed_at > after)
                    .order_by(Task.changed_at, Task.id)
                    .limit(limit)
                )
                out += [change_of(r) for r in rows.all()]
        return sorted(out, key=lambda c: c.changed_at)[:limit]

    async def publish(self, queue: str, task_id: str, delay_ms: int = 0) -> None:
        # The row is committed first; a message lost here is re-published by the reconciler.
        if self._publish is None:
            return
        try:
            self._publish(queue, task_id, delay_ms)
        except Exception:
            log.exception("publish_failed", queue=queue, task_id=task_id)

    async def flush_publishes(self) -> None:
        """Hand every pending message of this event loop to the broker (a BatchedPublisher sends later)."""
        flush = getattr(self._publish, "flush", None)
        if flush is not None:
            await flush()

    async def read(self, task_id: str, owner_id: str | None) -> TaskView:
        """The hot read (GET of a task, `Prefer: wait` polls): the Redis view if cached, else one Core select."""
        view = await self.cache.get(task_id) if self.cache is not None else None
        if view is None:
            async with read_connection(self.read_sessions) as connection:
                view = await select_view(connection, task_id)
            if view is not None and self.cache is not None:
                await self.cache.fill(view)
        if view is None or (owner_id is not None and view.owner_id != owner_id):
            raise NotFound(f"task {task_id} not found", code="task_not_found")
        return view

    async def get(self, task_id: str, owner_id: str | None) -> Task:
        async with self.read_sessions() as session:
            task = await session.get(Task, task_id)
        if task is None or (owner_id is not None and task.owner_id != owner_id):
            raise NotFound(f"task {task_id} not found", code="task_not_found")
        return task

    async def list(
        self,
        *,
        owner_id: str | None,
        status: str | None = None,
        kind: str | None = None,
        cursor: str | None = None,
        limit: int = 20,
        since: datetime | None = None,
    ) -> tuple[list[Task], str | None]:
        """Newest first; `cursor` is the opaque `next_cursor` of the previous page."""
        query = select(Task)
        if owner_id is not None:
            query = query.where(Task.owner_id == owner_id)
        if status:
            query = query.where(Task.status == status)
        if kind:
            query = query.where(Task.kind == kind)
        if since:
            query = query.where(Task.created_at >= since)
        async with self.sessions() as session:
            return await newest_first(session, query, Task, cursor, limit)

    async def cancel(self, task_id: str, owner_id: str | None) -> Task:
        """Queued (or a waiting pipeline step): canceled at once, with the pipeline steps that read it.
        Running: flagged; the worker stops it at its next heartbeat."""
        task = await self.get(task_id, owner_id)
        now = utcnow()
        async with transaction(self.sessions) as session:
            before = Status.QUEUED
            if task.pipeline_id is not None:
                await pipelines.lock(session, task.pipeline_id)  # the lock order of every step change
                # Under the pipeline's lock a step leaves `waiting` only here; a claim (queued to
                # running) makes the update below match nothing.
                before = Status(await session.scalar(select(Task.status).where(Task.id == task.id)))
            done = await session.execute(
                update(Task)
                .where(Task.id == task.id, Task.status.in_([Status.QUEUED, Status.WAITING]))
                .values(status=Status.CANCELED, finished_at=now, **changed(now))
                .returning(*CHANGE_COLUMNS)
            )
            row = done.one_or_none()
            if row is not None:
                deltas = Deltas()
                deltas.moved(task.queue, task.owner_id, before, Status.CANCELED)
                await self._advance(session, [task.pipeline_id], now, deltas)
                await deltas.apply(session)
            else:
                done = await session.execute(
                    update(Task)
                    .where(Task.id == task.id, Task.status == Status.RUNNING)
                    .values(cancel_requested=True, **changed(now))
                    .returning(*CHANGE_COLUMNS)
                )
                row = done.one_or_none()
        await self.follow_up(session)
        if row is None:
            current = await self.get(task_id, owner_id)
            raise Conflict(f"task {task_id} is already {current.status}", code="task_not_cancelable")
        await self.announce([change_of(row)])
        return await self.get(task_id, owner_id)

    async def requeue(self, task_id: str) -> Task:
        """Admin: run a failed or canceled task again from scratch."""
        now = utcnow()
        async with transaction(self.sessions) as session:
            done = await session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status.in_([Status.FAILED, Status.CANCELED]))
                .values(
                    status=Status.QUEUED,
                    attempts=0,
                    progress=0.0,
                    error_code=None,
                    error_message=None,
                    cancel_requested=False,
                    finished_at=None,
                    webhook_notified_at=None,  # the new run's end is announced too
                    not_before=now,
                    published_at=None,  # the reconciler publishes it too if this process cannot
                    **changed(now),
                )
                .returning(Task.queue, *CHANGE_COLUMNS)
            )
            row = done.one_or_none()
            if row is not None:
                deltas = Deltas()  # from failed or canceled: neither is counted
                deltas.moved(row[0], row[2], Status.CANCELED, Status.QUEUED)
                await deltas.apply(session)
        if row is None:
            task = await self.get(task_id, None)
            raise Conflict(f"task {task_id} is {task.status}; only failed or canceled tasks can be requeued")
        queue, *change = row
        await self.announce([change_of(change)])
        await self.publish(queue, task_id)
        return await self.get(task_id, None)

    # ---- worker side ----------------------------------------------------------------------

    async def claim(self, queue: str, worker_id: str) -> Task | None:
        """Take the best ready task of `queue` (priority, then age) with a lease, in one statement."""
        now = utcnow()
        best = (
            select(Task.id)
            .where(Task.queue == queue, Task.status == Status.QUEUED, Task.not_before <= now)
            .order_by(Task.priority.desc(), Task.created_at, Task.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # ignored by SQLite, whose writers are serialised anyway
            .scalar_subquery()
        )
        async with transaction(self.sessions) as session:
            row = await session.execute(
                update(Task)
                .where(Task.id == best, Task.status == Status.QUEUED)
                .values(
                    status=Status.RUNNING,
                    lease_owner=worker_id,
                    lease_expires_at=now + timedelta(seconds=self.settings.tasks.lease_s),
                    attempts=Task.attempts + 1,
                    started_at=func.coalesce(Task.started_at, now),
                    **changed(now),
                )
                .returning(Task)
                .execution_options(synchronize_session=False)
            )
            task = row.scalar_one_or_none()
            if task is not None:
                deltas = Deltas()
                deltas.moved(task.queue, task.owner_id, Status.QUEUED, Status.RUNNING)
                await deltas.apply(session)
        if task is not None:
            await self.announce([change_of(task)])
        return task

    async def claim_batch(self, queue: str, worker_id: str, batch_key: str | None = None, limit: int = 1) -> list[Task]:
        claimed = await self._claim_batch(queue, worker_id, batch_key, limit)
        await self.announce([change_of(t) for t in claimed])
        return claimed

    async def _claim_batch(self, queue: str, worker_id: str, batch_key: str | None, limit: int) -> list[Task]:
        """Claim up to `limit` ready tasks that can run as one batch, in one transaction.

        Without `batch_key`: the best ready task (as `claim`), then, when it has a batch key, the
        best ready tasks with the same key. With `batch_key`: only tasks with that key (a worker
        topping up a batch it already holds). Rows are locked with SKIP LOCKED on PostgreSQL; on
        SQLite the transaction is BEGIN IMMEDIATE, so claims are serialised.
        """
        now = utcnow()
        lease = {
            "status": Status.RUNNING,
            "lease_owner": worker_id,
            "lease_expires_at": now + timedelta(seconds=self.settings.tasks.lease_s),
            "attempts": Task.attempts + 1,
            "started_at": func.coalesce(Task.started_at, now),
            **changed(now),
        }
        ready = (Task.queue == queue, Task.status == Status.QUEUED, Task.not_before <= now)
        order = (Task.priority.desc(), Task.created_at, Task.id)
        claimed: list[Task] = []
        async with transaction(self.sessions) as session:
            await self._lease_batch(session, claimed, ready, order, lease, batch_key, limit)
            deltas = Deltas()
            deltas.moved_all(((t.queue, t.owner_id) for t in claimed), Status.QUEUED, Status.RUNNING)
            await deltas.apply(session)
        return claimed

    async def _lease_batch(
        self,
        session: AsyncSession,
        claimed: list[Task],
        ready: tuple[Any, ...],
        order: tuple[Any, ...],
        lease: dict[str, Any],
        batch_key: str | None,
        limit: int,
    ) -> None:
        """The statements of `_claim_batch`: lease the lead task and its siblings, appended to `claimed`."""
        key = batch_key
        if key is None:
            best = select(Task.id).where(*ready).order_by(*order).limit(1).with_for_update(skip_locked=True)
            row = await session.execute(
                update(Task)
                .where(Task.id == best.scalar_subquery(), Task.status == Status.QUEUED)
                .values(**lease)
                .returning(Task)
                .execution_options(synchronize_session=False)
            )
            lead = row.scalar_one_or_none()
            if lead is None:
                return
            claimed.append(lead)
            key = lead.batch_key
        room = limit - len(claimed)
        if key is None or room <= 0:
            return
        # Ids first, then the UPDATE: PostgreSQL may run a LIMIT subquery inside
        # `UPDATE ... WHERE id IN (...)` more than once and lease more rows than asked for.
        siblings = (
            await session.scalars(
                select(Task.id)
                .where(*ready, Task.batch_key == key)
                .order_by(*order)
                .limit(room)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not siblings:
            return
        rows = await session.execute(
            update(Task)
            .where(Task.id.in_(list(siblings)), Task.status == Status.QUEUED)
            .values(**lease)
            .returning(Task)
            .execution_options(synchronize_session=False)
        )
        claimed += sorted(rows.scalars().all(), key=lambda t: (-t.priority, t.created_at, t.id))

    async def heartbeat(self, task_id: str, worker_id: str, progress: float) -> bool | None:
        """Renew the lease and save progress. None: the lease is lost; True: cancel was requested."""
        now = utcnow()
        progress = round(max(0.0, min(progress, 1.0)), 4)
        moved = Task.progress != progress
        async with transaction(self.sessions) as session:
            row = await session.execute(
                update(Task)
                .where(Task.id == task_id, Task.lease_owner == worker_id, Task.status == Status.RUNNING)
                .values(
                    lease_expires_at=now + timedelta(seconds=self.settings.tasks.lease_s),
                    progress=progress,
                    # A beat that moves the progress is a change; one that only renews the lease is not.
                    version=Task.version + case((moved, 1), else_=0),
                    changed_at=case((moved, literal(now, UTCDateTime())), else_=Task.changed_at),
                    updated_at=now,
                )
                .returning(*CHANGE_COLUMNS)
            )
            found = row.one_or_none()
        if found is None:
            self._beat_versions.pop(task_id, None)
            return None
        change = change_of(found)
        if self._beat_versions.get(task_id) != change.version:
            self._beat_versions[task_id] = change.version
            await self.announce([change])
        return change.cancel_requested

    async def finish(
        self,
        session: AsyncSession,
        task_id: str,
        worker_id: str,
        status: Status,
        *,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> TaskChange | None:
        """Move a leased running task to a terminal status; None if the lease was lost meanwhile.

        The caller commits `session`, then passes the change to `announce` and calls `follow_up`:
        the end of a pipeline step moves its pipeline on in the same transaction.
        """
        now = utcnow()
        self._beat_versions.pop(task_id, None)
        pipeline_id = await session.scalar(select(Task.pipeline_id).where(Task.id == task_id))
        if pipeline_id is not None:
            # The pipeline's lock before the task's row lock, in the order of every pipeline change.
            await pipelines.lock(session, pipeline_id)
        values: dict[str, Any] = {
            "status": status,
            "finished_at": now,
            **changed(now),
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if status == Status.SUCCEEDED:
            values.update(result=result, progress=1.0, error_code=None, error_message=None)
            if self.billing is not None and result is not None:
                # Charged in the same transaction that marks it succeeded: exactly once.
                task = await session.get(Task, task_id)
                if task is not None and task.lease_owner == worker_id and task.status == Status.RUNNING:
                    values["cost"] = await self.billing.settle(session, task, result, now)
        if error is not None:
            # Whatever raised it, the caller reads this message: it never names a server directory.
            values.update(error_code=error[0], error_message=scrub_paths(error[1]))
        done = await session.execute(
            update(Task)
            .where(Task.id == task_id, Task.lease_owner == worker_id, Task.status == Status.RUNNING)
            .values(**values)
            .returning(Task.queue, *CHANGE_COLUMNS)
        )
        row = done.one_or_none()
        if row is None:
            return None
        queue, *change = row
        deltas = Deltas()
        deltas.moved(queue, change[1], Status.RUNNING, status)
        if pipeline_id is not None:
            await self._advance(session, [pipeline_id], now, deltas)
        await deltas.apply(session)
        return change_of(change)

    async def retry_later(self, task: Task, worker_id: str, error: tuple[str, str]) -> bool:
        """Put a task that hit a transient error back in the queue with exponential backoff."""
        delay_s = self.backoff_s(task.attempts)
        now = utcnow()
        self._beat_versions.pop(task.id, None)
        async with transaction(self.sessions) as session:
            done = await session.execute(
                update(Task)
                .where(Task.id == task.id, Task.lease_owner == worker_id, Task.status == Status.RUNNING)
                .values(
                    status=Status.QUEUED,
                    lease_owner=None,
                    lease_expires_at=None,
                    not_before=now + timedelta(seconds=delay_s),
                    published_at=now,
                    error_code=error[0],
                    error_message=scrub_paths(error[1]),
                    **changed(now),
                )
                .returning(*CHANGE_COLUMNS)
            )
            row = done.one_or_none()
            if row is not None:
                deltas = Deltas()
                deltas.moved(task.queue, task.owner_id, Status.RUNNING, Status.QUEUED)
                await deltas.apply(session)
        if row is not None:
            TASK_RETRIES.labels(task.kind, "transient_error").inc()
            await self.announce([change_of(row)])
            await self.publish(task.queue, task.id, int(delay_s * 1000))
        return row is not None

    def backoff_s(self, attempts: int) -> float:
        base = self.settings.tasks.retry_backoff_s * 2 ** max(attempts - 1, 0)
        return base * random.uniform(0.8, 1.2)

    async def reconcile(self) -> dict[str, int]:
        """Recover from dead workers and lost messages; safe to run from many processes at once."""
        now = utcnow()
        republish_before = now - timedelta(seconds=max(self.settings.tasks.reconcile_interval_s * 6, 30))
        to_publish: list[tuple[str, str]] = []
        counts = {"requeued": 0, "failed": 0, "canceled": 0, "republished": 0}
        changes: list[TaskChange] = []
        deltas = Deltas()
        async with transaction(self.sessions) as session:
            expired = and_(Task.status == Status.RUNNING, Task.lease_expires_at < now)
            lost_values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, **changed(now)}
            canceled = await session.execute(
                update(Task)
                .where(expired, Task.cancel_requested.is_(True))
                .values(status=Status.CANCELED, finished_at=now, **lost_values)
                .returning(Task.queue, *CHANGE_COLUMNS)
            )
            for queue, *row in canceled.all():
                changes.append(change_of(row))
                deltas.moved(queue, row[1], Status.RUNNING, Status.CANCELED)
            counts["canceled"] = len(changes)
            failed = await session.execute(
                update(Task)
                .where(expired, Task.attempts >= Task.max_attempts)
                .values(
                    status=Status.FAILED,
                    finished_at=now,
                    error_code="worker_lost",
                    error_message="the worker running this task stopped responding too many times",
                    **lost_values,
                )
                .returning(Task.queue, *CHANGE_COLUMNS)
            )
            for queue, *row in failed.all():
                changes.append(change_of(row))
                deltas.moved(queue, row[1], Status.RUNNING, Status.FAILED)
                counts["failed"] += 1
            requeued = await session.execute(
                update(Task)
                .where(expired)
                .values(status=Status.QUEUED, not_before=now, published_at=now, **lost_values)
                .returning(Task.queue, Task.kind, *CHANGE_COLUMNS)
            )
            for queue, kind, *row in requeued.all():
                task_id = row[0]
                changes.append(change_of(row))
                deltas.moved(queue, row[1], Status.RUNNING, Status.QUEUED)
                TASK_RETRIES.labels(kind, "lease_expired").inc()
                to_publish.append((queue, task_id))
                counts["requeued"] += 1
            ended = [c.task_id for c in changes]
            if ended:
                ended_pipelines = await session.scalars(
                    select(Task.pipeline_id).where(Task.id.in_(ended), Task.pipeline_id.is_not(None)).distinct()
                )
                await self._advance(session, list(ended_pipelines.all()), now, deltas)
            stale = await session.execute(
                update(Task)
                .where(
                    Task.status == Status.QUEUED,
                    Task.not_before <= now,
                    or_(Task.published_at.is_(None), Task.published_at < republish_before),
                )
                .values(published_at=now)
                .returning(Task.queue, Task.id)
            )
            for queue, task_id in stale.all():
                to_publish.append((queue, task_id))
                counts["republished"] += 1
            await deltas.apply(session)
        await self.announce(changes)
        await self.follow_up(session)
        for queue, task_id in to_publish:
            await self.publish(queue, task_id)
        if any(counts.values()):
            log.info("reconciled", **counts)
        return counts

    async def republish_ready(self, queues: Sequence[str]) -> int:
        """Publish one message per ready queued task: the in-process broker forgets them on restart."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(Task.queue, Task.id).where(Task.status == Status.QUEUED, Task.queue.in_(list(queues)))
            )
            pending = rows.all()
        for queue, task_id in pending:
            await self.publish(queue, task_id)
        log.info("republished_queued", count=len(pending))
        return len(pending)


class Cursored(Protocol):
    """A row listed newest first by (created_at, id): tasks, templates."""

    created_at: datetime
    id: str


def encode_cursor(row: Cursored) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def newest_first(
    session: AsyncSession, query: Select[Any], model: Any, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page of `query` over `model` (with `created_at` and `id` columns), newest first, and the
    cursor of the next page (None on the last)."""
    if cursor:
        created_at, last_id = decode_cursor(cursor)
        query = query.where(
            or_(model.created_at < created_at, and_(model.created_at == created_at, model.id < last_id))
        )
    query = query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    return rows[:limit], encode_cursor(rows[limit - 1]) if len(rows) > limit else None


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, task_id = raw.split("|", 1)
        return datetime.fromisoformat(created), task_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("cursor is not a value returned by this API", code="invalid_cursor") from exc
