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
from datetime import UTC, datetime
from typing import Any

import dramatiq
import structlog
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.logging import get_logger as dramatiq_logger

from videoapi.errors import AppError, TaskTimeout
from videoapi.observability.logging import get_logger
from videoapi.observability.metrics import TASK_QUEUE_WAIT_SECONDS, TASK_RUN_SECONDS, TASKS_FINISHED
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec, job_table
from videoapi.settings import Settings
from videoapi.tasks.models import Task
from videoapi.tasks.states import Status

log = get_logger(__name__)

_runtime: Runtime | None = None


async def current_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the task runtime is not started in this process")
    return _runtime


class _Stop(Exception):
    """Why the heartbeat stopped a job: canceled by the user or lease lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Runtime:
    def __init__(self, services: Any, worker_id: str | None = None) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.jobs: dict[str, JobSpec] = job_table()
        self._reconciler: asyncio.Task[None] | None = None
        self.stopping = False

    # ---- lifecycle ------------------------------------------------------------------------

    def start_reconciler(self) -> None:
        self._reconciler = asyncio.create_task(self._reconcile_forever())

    async def stop(self) -> None:
        self.stopping = True
        if self._reconciler:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler

    async def _reconcile_forever(self) -> None:
        from videoapi.assets.retention import purge_expired

        next_purge = 0.0
        while True:
            try:
                await self.services.tasks.reconcile()
            except Exception:
                log.exception("reconcile_failed")
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self.settings.retention.interval_s
                try:
                    await purge_expired(self.services, datetime.now(UTC))
                except Exception:
                    log.exception("purge_failed")
            await asyncio.sleep(self.settings.tasks.reconcile_interval_s)

    # ---- running tasks --------------------------------------------------------------------

    async def drain(self, queue: str) -> None:
        """Run ready tasks of `queue` until none is left; one message may serve many tasks."""
        while not self.stopping:
            task = await self.services.tasks.claim(queue, self.worker_id)
            if task is None:
                return
            await self.run(task)

    async def run(self, task: Task) -> None:
        structlog.contextvars.bind_contextvars(task_id=task.id, kind=task.kind, owner=task.owner_id)
        try:
            await self._run(task)
        finally:
            structlog.contextvars.unbind_contextvars("task_id", "kind", "owner")

    async def _run(self, task: Task) -> None:
        tasks = self.services.tasks
        if task.attempts == 1 and task.started_at is not None:
            TASK_QUEUE_WAIT_SECONDS.labels(task.kind).observe((task.started_at - task.created_at).total_seconds())
        spec = self.jobs.get(task.kind)
        if spec is None:
            await self._finish(task, Status.FAILED, error=("unknown_kind", f"no job handles kind {task.kind!r}"))
            return
        work_dir = self.settings.work_dir / f"{task.id}-{task.attempts}"
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = JobContext(self.services, task, work_dir, task.time_limit_s or self.settings.time_limit_for(task.kind))
        started = time.monotonic()
        log.info("task_started", attempt=task.attempts)
        status = Status.FAILED
        try:
            output = await self._supervise(ctx, spec)
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
            shutil.rmtree(work_dir, ignore_errors=True)
            elapsed = time.monotonic() - started
            TASK_RUN_SECONDS.labels(task.kind, str(status)).observe(elapsed)
            TASKS_FINISHED.labels(task.kind, str(status)).inc()
            log.info("task_ended", status=str(status), run_s=round(elapsed, 3))

    async def _supervise(self, ctx: JobContext, spec: JobSpec) -> JobOutput:
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
            try:
                beat = await self.services.tasks.heartbeat(ctx.task.id, self.worker_id, ctx.progress)
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
        from videoapi.db.engine import transaction

        async with transaction(self.services.sessions) as session:
            done = await self.services.tasks.finish(
                session, task.id, self.worker_id, status, result=output.result if output else None, error=error
            )
            if done and output:
                session.add_all(output.assets)
        return done

    async def _discard(self, output: JobOutput) -> None:
        for key in output.stored_keys:
            with contextlib.suppress(Exception):
                await self.services.store.delete(key)


class WorkerLifecycle(dramatiq.Middleware):
    """Runs the event loop that async actors need and the process's Runtime on it.

    Unlike Dramatiq's AsyncIO middleware it closes the Runtime (database pools, store clients)
    after the worker threads have finished their current tasks and before the loop stops.
    """

    def __init__(self, settings: Settings, reconcile: bool = True) -> None:
        self.settings = settings
        self.reconcile = reconcile
        self.services: Any = None
        self.loop_thread: EventLoopThread | None = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.loop_thread = EventLoopThread(dramatiq_logger(__name__))
        self.loop_thread.start(timeout=5.0)
        set_event_loop_thread(self.loop_thread)
        self.loop_thread.run_coroutine(self._start(broker))

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if _runtime is not None:
            _runtime.stopping = True  # drain loops end after their current task

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.loop_thread is None:
            return
        self.loop_thread.run_coroutine(self._stop())
        self.loop_thread.stop()
        set_event_loop_thread(None)
        self.loop_thread = None

    async def _start(self, broker: dramatiq.Broker) -> None:
        global _runtime
        from videoapi.services import build_services

        self.services = await build_services(self.settings, broker)
        _runtime = Runtime(self.services)
        if self.reconcile:
            _runtime.start_reconciler()
        log.info("worker_started", worker_id=_runtime.worker_id)

    async def _stop(self) -> None:
        global _runtime
        if _runtime is not None:
            await _runtime.stop()
            _runtime = None
        if self.services is not None:
            await self.services.close()
            self.services = None
