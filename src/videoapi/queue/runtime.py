"""The worker side of the task protocol: claim, run under a lease, heartbeat, finish.

One Runtime per worker process (or per embedded API process), living on Dramatiq's asyncio
event-loop thread. Each running task has a heartbeat that renews the lease, saves progress and
notices cancel requests; the job itself runs as an asyncio task so that cancel and time limits
stop it (and its ffmpeg process) promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import dramatiq
import structlog
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.logging import get_logger as dramatiq_logger

from videoapi.db.engine import transaction
from videoapi.errors import AppError, TaskTimeout
from videoapi.observability.collectors import install_collectors
from videoapi.observability.logging import get_logger
from videoapi.observability.metrics import (
    TASK_LATENCY_SECONDS,
    TASK_QUEUE_WAIT_SECONDS,
    TASK_RUN_SECONDS,
    TASKS_FINISHED,
    WORKER_BUSY,
    WORKER_BUSY_SECONDS,
    WORKER_THREADS,
)
from videoapi.queue.jobs import BatchHandler, JobContext, JobOutput, JobSpec
from videoapi.queue.names import QUEUES
from videoapi.settings import Settings
from videoapi.storage.base import ObjectStore
from videoapi.tasks.models import Task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import Status

log = get_logger(__name__)

_runtime: Runtime | None = None

BATCHED_QUEUES = frozenset({"gpu"})
"""Queues whose tasks are claimed in batches (generation), one batch at a time per process: one
model call owns the device while it runs."""


async def current_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the task runtime is not started in this process")
    return _runtime


_LEFT_STATUS = {"canceled": Status.CANCELED, "timeout": Status.FAILED, "lease_lost": Status.QUEUED}


class _Stop(Exception):
    """Why the heartbeat stopped a job: canceled by the user or lease lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _BusyClock:
    """Adds a running task's (or batch's) wall time to the busy counter at every heartbeat, not only
    at its end, so that a rate over a few minutes stays right while a long generation runs."""

    def __init__(self, queue: str, tasks: int) -> None:
        self._seconds = WORKER_BUSY_SECONDS.labels(queue)
        self._running = WORKER_BUSY.labels(queue)
        self._tasks = tasks
        self._last = time.monotonic()
        self._running.inc(tasks)

    def tick(self) -> None:
        now = time.monotonic()
        self._seconds.inc(now - self._last)
        self._last = now

    def stop(self) -> None:
        self.tick()
        self._running.dec(self._tasks)


class Background(Protocol):
    """Work a worker process runs beside its tasks (the reconciler, retention, webhook deliveries)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Periodic:
    """Runs `fn` now and then every `interval_s` seconds until stopped; a failure is logged, not fatal."""

    def __init__(self, name: str, fn: Callable[[], Awaitable[Any]], interval_s: float) -> None:
        self.name = name
        self.fn = fn
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self.fn()
            except Exception:
                log.exception(f"{self.name}_failed")
            await asyncio.sleep(self.interval_s)


class Runtime:
    """Claims and runs the tasks of the job kinds it is given; knows no feature itself."""

    def __init__(
        self,
        *,
        settings: Settings,
        tasks: TaskService,
        sessions: Any,
        store: ObjectStore,
        jobs: Mapping[str, JobSpec],
        background: Sequence[Background] = (),
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.tasks = tasks
        self.sessions = sessions
        self.store = store
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.jobs: dict[str, JobSpec] = dict(jobs)
        self.background = list(background)
        self._draining: set[str] = set()
        self._more_work: set[str] = set()
        self.stopping = False

    # ---- lifecycle ------------------------------------------------------------------------

    def start_background(self) -> None:
        for loop in self.background:
            loop.start()

    async def stop(self) -> None:
        self.stopping = True
        for loop in self.background:
            await loop.stop()

    # ---- running tasks --------------------------------------------------------------------

    async def drain(self, queue: str) -> None:
        """Run ready tasks of `queue` until none is left; one message may serve many tasks."""
        if queue in BATCHED_QUEUES:
            await self._drain_batches(queue)
            return
        while not self.stopping:
            task = await self.tasks.claim(queue, self.worker_id)
            if task is None:
                return
            await self.run(task)

    async def _drain_batches(self, queue: str) -> None:
        # A drain that finds another one running leaves a note instead of waiting (it would hold a
        # worker thread); the running one claims again before it ends, so no task waits for the
        # reconciler.
        if queue in self._draining:
            self._more_work.add(queue)
            return
        self._draining.add(queue)
        try:
            while not self.stopping:
                self._more_work.discard(queue)
                batch = await self._claim_batch(queue)
                if batch:
                    await self.run_batch(batch)
                elif queue not in self._more_work:
                    return
        finally:
            self._draining.discard(queue)

    async def _claim_batch(self, queue: str) -> list[Task]:
        tasks, gen = self.tasks, self.settings.generation
        batch = await tasks.claim_batch(queue, self.worker_id, limit=gen.max_batch)
        key = batch[0].batch_key if batch else None
        if key is not None and len(batch) < gen.max_batch and gen.batch_wait_ms > 0:
            # Give compatible requests a moment to arrive: a fuller batch uses the GPU better.
            await asyncio.sleep(gen.batch_wait_ms / 1000)
            batch += await tasks.claim_batch(queue, self.worker_id, key, gen.max_batch - len(batch))
        return batch

    async def run_batch(self, batch: list[Task]) -> None:
        """Run claimed tasks; those with a batch key and a batch handler as one batch."""
        spec = self.jobs.get(batch[0].kind)
        if spec is None or spec.run_batch is None or batch[0].batch_key is None:
            for task in batch:
                await self.run(task)
            return
        structlog.contextvars.bind_contextvars(kind=batch[0].kind, batch_size=len(batch))
        try:
            await self._run_batch(spec, batch)
        finally:
            structlog.contextvars.unbind_contextvars("kind", "batch_size")

    async def _run_batch(self, spec: JobSpec, batch: list[Task]) -> None:
        assert spec.run_batch is not None
        ctxs = []
        for task in batch:
            if task.attempts == 1 and task.started_at is not None:
                wait_s = (task.started_at - task.created_at).total_seconds()
                TASK_QUEUE_WAIT_SECONDS.labels(task.kind).observe(wait_s)
            work_dir = self.settings.work_dir / f"{task.id}-{task.attempts}"
            work_dir.mkdir(parents=True, exist_ok=True)
            limit_s = task.time_limit_s or self.settings.time_limit_for(task.kind)
            ctxs.append(JobContext(task, work_dir, limit_s))
        started = time.monotonic()
        busy = _BusyClock(batch[0].queue, len(batch))
        log.info("batch_started", task_ids=[t.id for t in batch], batch_key=batch[0].batch_key)
        statuses = dict.fromkeys((t.id for t in batch), Status.FAILED)
        try:
            outcomes = await self._supervise_batch(ctxs, spec.run_batch, busy)
            for ctx in ctxs:
                outcome = outcomes.get(ctx.task.id)
                if ctx.stop_reason is not None:
                    statuses[ctx.task.id] = _LEFT_STATUS[ctx.stop_reason]
                    if isinstance(outcome, JobOutput):
                        await self._discard(outcome)
                    continue
                if outcome is None:
                    outcome = AppError("the batch handler returned nothing for this task", code="internal")
                statuses[ctx.task.id] = await self._conclude(ctx.task, outcome)
        finally:
            busy.stop()
            elapsed = time.monotonic() - started
            for ctx in ctxs:
                shutil.rmtree(ctx.work_dir, ignore_errors=True)
                status = statuses[ctx.task.id]
                TASK_RUN_SECONDS.labels(ctx.task.kind, str(status)).observe(elapsed)
                TASKS_FINISHED.labels(ctx.task.kind, str(status)).inc()
            log.info("batch_ended", statuses={k: str(v) for k, v in statuses.items()}, run_s=round(elapsed, 3))

    async def _supervise_batch(
        self, ctxs: list[JobContext], handler: BatchHandler, busy: _BusyClock
    ) -> dict[str, JobOutput | BaseException]:
        """Heartbeat every member; a member canceled, timed out or without a lease leaves the batch
        (its `stop_reason` is set and its task finished at once) while the others go on."""
        job = asyncio.create_task(handler(ctxs))
        deadlines = {ctx.task.id: time.monotonic() + ctx.time_limit_s for ctx in ctxs}
        while not job.done():
            await asyncio.wait({job}, timeout=self.settings.tasks.heartbeat_s)
            if job.done():
                break
            busy.tick()
            for ctx in ctxs:
                if ctx.stop_reason is None:
                    await self._beat_member(ctx, deadlines[ctx.task.id])
        try:
            return job.result()
        except Exception as exc:  # the whole batch failed (e.g. the model could not be loaded)
            return {ctx.task.id: exc for ctx in ctxs}

    async def _beat_member(self, ctx: JobContext, deadline: float) -> None:
        task = ctx.task
        if time.monotonic() >= deadline:
            ctx.stop_reason = "timeout"
            error = ("timeout", f"the task exceeded its time limit of {ctx.time_limit_s:g} s")
            await self._finish(task, Status.FAILED, error=error)
            return
        try:
            beat = await self.tasks.heartbeat(task.id, self.worker_id, ctx.progress)
        except Exception:
            log.exception("heartbeat_failed", task_id=task.id)
            return
        if beat is None:
            log.warning("lease_lost", task_id=task.id)
            ctx.stop_reason = "lease_lost"
        elif beat:
            log.info("batch_member_canceled", task_id=task.id)
            ctx.stop_reason = "canceled"
            await self._finish(task, Status.CANCELED)

    async def _conclude(self, task: Task, outcome: JobOutput | BaseException) -> Status:
        """Finish one task of a batch from its outcome, as `_run` does for a task run alone."""
        if isinstance(outcome, JobOutput):
            if await self._finish(task, Status.SUCCEEDED, output=outcome):
                return Status.SUCCEEDED
            await self._discard(outcome)
            return Status.QUEUED
        if isinstance(outcome, AppError):
            error = (outcome.code, outcome.detail)
            if outcome.transient and task.attempts < task.max_attempts:
                log.warning("task_retry", task_id=task.id, code=outcome.code, detail=outcome.detail)
                await self.tasks.retry_later(task, self.worker_id, error)
                return Status.QUEUED
            log.info("task_failed", task_id=task.id, code=outcome.code, detail=outcome.detail)
            await self._finish(task, Status.FAILED, error=error)
            return Status.FAILED
        log.error("task_crashed", task_id=task.id, exc_info=outcome)
        await self._finish(task, Status.FAILED, error=("internal", "internal error while processing the task"))
        return Status.FAILED

    async def run(self, task: Task) -> None:
        structlog.contextvars.bind_contextvars(task_id=task.id, kind=task.kind, owner=task.owner_id)
        try:
            await self._run(task)
        finally:
            structlog.contextvars.unbind_contextvars("task_id", "kind", "owner")

    async def _run(self, task: Task) -> None:
        tasks = self.tasks
        if task.attempts == 1 and task.started_at is not None:
            TASK_QUEUE_WAIT_SECONDS.labels(task.kind).observe((task.started_at - task.created_at).total_seconds())
        spec = self.jobs.get(task.kind)
        if spec is None:
            await self._finish(task, Status.FAILED, error=("unknown_kind", f"no job handles kind {task.kind!r}"))
            return
        work_dir = self.settings.work_dir / f"{task.id}-{task.attempts}"
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = JobContext(task, work_dir, task.time_limit_s or self.settings.time_limit_for(task.kind))
        started = time.monotonic()
        busy = _BusyClock(task.queue, 1)
        log.info("task_started", attempt=task.attempts)
        status = Status.FAILED
        try:
            output = await self._supervise(ctx, spec, busy)
            status = Status.SUCCEEDED
            if not await self._finish(task, Status.SUCCEEDED, output=output):
                await self._discard(output)
        except _Stop as stop:
            if stop.reason == "canceled":
                status = Status.CANCELED
                await self._finish(task, Status.CANCELED)
            else:
                log.warning("lease_lost")
                status = Status.QUEUED  # someone else owns it now
        except AppError as exc:
            error = (exc.code, exc.detail)
            if exc.transient and task.attempts < task.max_attempts:
                status = Status.QUEUED
                log.warning("task_retry", code=exc.code, detail=exc.detail)
                await tasks.retry_later(task, self.worker_id, error)
            else:
                log.info("task_failed", code=exc.code, detail=exc.detail)
                await self._finish(task, Status.FAILED, error=error)
        except Exception:
            log.exception("task_crashed")
            await self._finish(task, Status.FAILED, error=("internal", "internal error while processing the task"))
        finally:
            busy.stop()
            shutil.rmtree(work_dir, ignore_errors=True)
            elapsed = time.monotonic() - started
            TASK_RUN_SECONDS.labels(task.kind, str(status)).observe(elapsed)
            TASKS_FINISHED.labels(task.kind, str(status)).inc()
            log.info("task_ended", status=str(status), run_s=round(elapsed, 3))

    async def _supervise(self, ctx: JobContext, spec: JobSpec, busy: _BusyClock) -> JobOutput:
        """Run the handler while heart-beating; stop it on cancel, lost lease or time limit."""
        job = asyncio.create_task(spec.run(ctx))
        deadline = time.monotonic() + ctx.time_limit_s
        reason: str | None = None
        while not job.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = "timeout"
                break
            await asyncio.wait({job}, timeout=min(self.settings.tasks.heartbeat_s, remaining))
            if job.done():
                break
            busy.tick()
            try:
                beat = await self.tasks.heartbeat(ctx.task.id, self.worker_id, ctx.progress)
            except Exception:
                # A database hiccup must not kill the job; the lease covers a few missed beats.
                log.exception("heartbeat_failed")
                continue
            if beat is None:
                reason = "lease_lost"
                break
            if beat:
                reason = "canceled"
                break
        if reason is not None:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
            if reason == "timeout":
                raise TaskTimeout(f"the task exceeded its time limit of {ctx.time_limit_s:g} s")
            raise _Stop(reason)
        return job.result()

    async def _finish(
        self,
        task: Task,
        status: Status,
        *,
        output: JobOutput | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        async with transaction(self.sessions) as session:
            done = await self.tasks.finish(
                session, task.id, self.worker_id, status, result=output.result if output else None, error=error
            )
            if done and output:
                session.add_all(output.assets)
        if done:
            await self.tasks.announce([done])
            await self.tasks.follow_up(session)  # the pipeline steps this one's end queued
            latency_s = (datetime.now(UTC) - task.created_at).total_seconds()
            TASK_LATENCY_SECONDS.labels(task.kind, str(status)).observe(max(latency_s, 0.0))
        return done is not None

    async def _discard(self, output: JobOutput) -> None:
        for key in output.stored_keys:
            with contextlib.suppress(Exception):
                await self.store.delete(key)


Boot = Callable[[dramatiq.Broker], Awaitable[tuple[Runtime, Callable[[], Awaitable[None]]]]]
"""Builds a process's Runtime on the broker; returns it and what closes its collaborators afterwards."""


class WorkerLifecycle(dramatiq.Middleware):
    """Runs the event loop that async actors need and the process's Runtime on it.

    Unlike Dramatiq's AsyncIO middleware it closes the Runtime (database pools, store clients)
    after the worker threads have finished their current tasks and before the loop stops. What the
    Runtime runs comes from `boot`, given by the composition root.
    """

    def __init__(self, settings: Settings, boot: Boot, background: bool = True) -> None:
        self.settings = settings
        self.boot = boot
        self.background = background
        self._close: Callable[[], Awaitable[None]] | None = None
        self.loop_thread: EventLoopThread | None = None
        self._threads_label: str | None = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        install_collectors(self.settings)
        self._threads_label = ",".join(self._logical_queues(worker))
        WORKER_THREADS.labels(self._threads_label).set(worker.worker_threads)
        self.loop_thread = EventLoopThread(dramatiq_logger(__name__))
        self.loop_thread.start(timeout=5.0)
        set_event_loop_thread(self.loop_thread)
        self.loop_thread.run_coroutine(self._start(broker))

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if _runtime is not None:
            _runtime.stopping = True  # drain loops end after their current task

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._threads_label is not None:
            WORKER_THREADS.remove(self._threads_label)  # a stopped worker has no threads
            self._threads_label = None
        if self.loop_thread is None:
            return
        self.loop_thread.run_coroutine(self._stop())
        self.loop_thread.stop()
        set_event_loop_thread(None)
        self.loop_thread = None

    def _logical_queues(self, worker: dramatiq.Worker) -> list[str]:
        """The queues a worker drains, by our names (RabbitMQ queue names carry the namespace)."""
        wanted = worker.consumer_whitelist  # the `queues` it was given; empty: every declared queue
        if not wanted:
            return list(QUEUES)
        prefix = f"{self.settings.queue.namespace}." if self.settings.queue.broker == "rabbitmq" else ""
        return sorted(q.removeprefix(prefix) for q in wanted)

    async def _start(self, broker: dramatiq.Broker) -> None:
        global _runtime
        _runtime, self._close = await self.boot(broker)
        if self.background:
            _runtime.start_background()
        log.info("worker_started", worker_id=_runtime.worker_id)

    async def _stop(self) -> None:
        global _runtime
        if _runtime is not None:
            await _runtime.stop()
            _runtime = None
        if self._close is not None:
            await self._close()
            self._close = None
