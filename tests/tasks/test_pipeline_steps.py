"""Pipeline steps in the task table, on SQLite and PostgreSQL: a step is queued by the transaction that
ends the last step it reads, exactly once even when two such steps end at once, a lost publish is
re-sent by the reconciler, and a failure runs down the graph."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tests.tasks.test_task_service import _counted, db_settings
from videoapi.db.base import utcnow
from videoapi.db.engine import make_engine, make_sessionmaker, transaction
from videoapi.settings import Settings
from videoapi.tasks.models import Pipeline, Task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import Status

pytestmark = pytest.mark.anyio
__all__ = ["db_settings"]  # the fixture: SQLite and PostgreSQL


class Publisher:
    def __init__(self) -> None:
        self.published: list[str] = []
        self.lose = False

    def __call__(self, queue: str, task_id: str, delay_ms: int) -> None:
        if self.lose:
            raise ConnectionError("the broker is away")
        self.published.append(task_id)


@pytest.fixture
async def service(db_settings: Settings) -> AsyncIterator[tuple[TaskService, Publisher]]:
    engine = make_engine(db_settings)
    publisher = Publisher()
    yield TaskService(make_sessionmaker(engine), db_settings, publisher), publisher
    await engine.dispose()


async def diamond(svc: TaskService) -> dict[str, str]:
    """a; b and c read a; d reads b and c. Returns step id -> task id."""
    ids = {s: str(uuid.uuid4()) for s in "abcd"}
    reads = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    items: list[dict[str, Any]] = []
    for step, deps in reads.items():
        params: dict[str, Any] = {"inputs": [{"asset_id": "placeholder"} for _ in deps]}
        bindings = [{"path": ["inputs", n], "task_id": ids[d], "output": 0} for n, d in enumerate(deps)]
        items.append(
            {"id": ids[step], "owner_id": "o", "kind": "edit.trim", "queue": "cpu", "params": params,
             "status": Status.WAITING if deps else Status.QUEUED, "step_id": step,
             "depends_on": [ids[d] for d in deps], "bindings": bindings}
        )  # fmt: skip
    pipeline_id = str(uuid.uuid4())
    for item in items:
        item["pipeline_id"] = pipeline_id
    now = utcnow()
    row = Pipeline(id=pipeline_id, owner_id="o", status="running", created_at=now, updated_at=now,
                   steps=[{"id": s, "task_id": ids[s]} for s in "abcd"])  # fmt: skip
    await svc.create_pipeline(row, items)
    return {"pipeline": pipeline_id, **ids}


async def claim_ready(svc: TaskService) -> set[str]:
    """Every ready task, each claimed by the worker `w-<task id>`."""
    claimed: set[str] = set()
    while (task := await svc.claim("cpu", "w-next")) is not None:
        async with transaction(svc.sessions) as session:
            await session.execute(update(Task).where(Task.id == task.id).values(lease_owner=f"w-{task.id}"))
        claimed.add(task.id)
    return claimed


async def run(svc: TaskService, task_id: str, status: Status = Status.SUCCEEDED) -> None:
    """The task is ready (or claimed already); a worker claims it and ends it."""
    if (await svc.get(task_id, None)).status == Status.QUEUED:
        assert task_id in await claim_ready(svc)
    await end(svc, task_id, status)


async def end(svc: TaskService, task_id: str, status: Status) -> None:
    result = {"asset_id": f"out-{task_id}"} if status == Status.SUCCEEDED else None
    error = ("boom", "it broke") if status == Status.FAILED else None
    async with transaction(svc.sessions) as session:
        assert await svc.finish(session, task_id, f"w-{task_id}", status, result=result, error=error)
    await svc.follow_up(session)


async def test_steps_are_queued_once_what_they_read_succeeded_with_its_outputs(service) -> None:  # type: ignore[no-untyped-def]
    svc, publisher = service
    ids = await diamond(svc)
    assert publisher.published == [ids["a"]]  # waiting steps are not published
    await run(svc, ids["a"])
    assert sorted(publisher.published[1:]) == sorted([ids["b"], ids["c"]])
    b = await svc.get(ids["b"], None)
    assert b.status == Status.QUEUED and b.params["inputs"] == [{"asset_id": f"out-{ids['a']}"}]
    assert (await svc.get(ids["d"], None)).status == Status.WAITING

    # b and c end at the same moment in two transactions: c's starts before b's commits. Each sees the
    # other one running unless the pipeline's lock orders them; d is queued by exactly one of them.
    assert await claim_ready(svc) == {ids["b"], ids["c"]}
    async with transaction(svc.sessions) as first:
        assert await svc.finish(
            first, ids["b"], f"w-{ids['b']}", Status.SUCCEEDED, result={"asset_id": f"out-{ids['b']}"}
        )
        second = asyncio.create_task(end(svc, ids["c"], Status.SUCCEEDED))
        await asyncio.sleep(0.5)  # stays: the second transaction gets as far as it can meanwhile
    await svc.follow_up(first)
    await second
    assert publisher.published.count(ids["d"]) == 1
    d = await svc.get(ids["d"], None)
    assert d.status == Status.QUEUED
    assert d.params["inputs"] == [{"asset_id": f"out-{ids['b']}"}, {"asset_id": f"out-{ids['c']}"}]
    await run(svc, ids["d"])
    pipeline, _ = await svc.get_pipeline(ids["pipeline"], "o")
    assert pipeline.status == "succeeded" and pipeline.finished_at is not None


async def test_a_lost_publish_of_a_queued_step_is_resent_by_the_reconciler(service) -> None:  # type: ignore[no-untyped-def]
    svc, publisher = service
    ids = await diamond(svc)
    publisher.lose = True
    await run(svc, ids["a"])
    assert (await svc.get(ids["b"], None)).status == Status.QUEUED
    publisher.lose = False
    assert publisher.published == [ids["a"]]
    # Long enough ago for the reconciler to think the message lost.
    async with transaction(svc.sessions) as session:
        await session.execute(update(Task).values(published_at=utcnow() - timedelta(minutes=5)))
    counts = await svc.reconcile()
    assert counts["republished"] == 2
    assert sorted(publisher.published[1:]) == sorted([ids["b"], ids["c"]])


async def test_a_failed_step_fails_everything_downstream_and_the_pipeline(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    ids = await diamond(svc)
    await run(svc, ids["a"])
    assert await claim_ready(svc) == {ids["b"], ids["c"]}
    await run(svc, ids["b"], Status.FAILED)
    d = await svc.get(ids["d"], None)
    assert (d.status, d.error_code) == (Status.FAILED, "dependency_failed")
    assert "'b' failed" in (d.error_message or "")
    pipeline, _ = await svc.get_pipeline(ids["pipeline"], "o")
    assert pipeline.status == "running"  # c still runs
    await run(svc, ids["c"])
    pipeline, _ = await svc.get_pipeline(ids["pipeline"], "o")
    assert pipeline.status == "failed"


async def test_a_retry_answers_with_what_it_committed_not_what_a_worker_did_since(service) -> None:  # type: ignore[no-untyped-def]
    """The retry route presents this answer: a re-read raced the worker that failed the step again."""
    svc, _ = service
    ids = await diamond(svc)
    await run(svc, ids["a"])
    assert await claim_ready(svc) == {ids["b"], ids["c"]}
    await run(svc, ids["b"], Status.FAILED)  # d fails with it
    await run(svc, ids["c"])
    retried = await svc.retry_pipeline(ids["pipeline"], "o")
    await run(svc, ids["b"], Status.FAILED)  # the worker is quicker than the answer
    assert retried.pipeline.status == "running"
    assert {t.step_id: t.status for t in retried.steps} == {
        "a": Status.SUCCEEDED, "b": Status.QUEUED, "c": Status.SUCCEEDED, "d": Status.WAITING
    }  # fmt: skip
    assert sorted(retried.task_ids) == sorted([ids["b"], ids["d"]])
    pipeline, _ = await svc.get_pipeline(ids["pipeline"], "o")
    assert pipeline.status == "failed"  # what a re-read would have answered


async def test_a_step_whose_worker_died_on_its_last_attempt_fails_its_dependents(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    ids = await diamond(svc)
    assert await svc.claim("cpu", "dead-worker") is not None
    async with transaction(svc.sessions) as session:  # its last attempt
        await session.execute(update(Task).where(Task.id == ids["a"]).values(max_attempts=1))
        await session.execute(
            update(Task).where(Task.id == ids["a"]).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    counts = await svc.reconcile()
    assert counts["failed"] == 1
    steps = {s: await svc.get(ids[s], None) for s in "abcd"}
    assert steps["a"].error_code == "worker_lost"
    assert {steps[s].error_code for s in "bcd"} == {"dependency_failed"}
    pipeline, _ = await svc.get_pipeline(ids["pipeline"], "o")
    assert pipeline.status == "failed"


async def test_canceling_one_waiting_step_cancels_what_reads_it_and_then_the_pipeline(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    ids = await diamond(svc)
    canceled = await svc.cancel(ids["b"], "o")
    assert canceled.status == Status.CANCELED
    await run(svc, ids["a"])
    assert (await svc.get(ids["d"], None)).status == Status.CANCELED
    await run(svc, ids["c"])
    pipeline, _ = await svc.get_pipeline(ids["pipeline"], "o")
    assert pipeline.status == "canceled"


async def test_the_task_counters_follow_every_step_transition(service) -> None:  # type: ignore[no-untyped-def]
    """Waiting steps count against their owner's cap; queued ones in their queue's depth; the counters
    agree with a recount of the rows after every pipeline transition (create, advance, a failure down
    the graph, cancel, retry)."""
    svc, _ = service
    ids = await diamond(svc)
    assert await _counted(svc) == {"cpu": 1, "gpu": 0, "o": 4}  # a queued, b c d waiting
    await run(svc, ids["a"])
    assert await _counted(svc) == {"cpu": 2, "gpu": 0, "o": 3}  # b and c queued
    assert await claim_ready(svc) == {ids["b"], ids["c"]}
    await run(svc, ids["b"], Status.FAILED)  # d fails with it
    assert await _counted(svc) == {"cpu": 0, "gpu": 0, "o": 1}  # c running
    await run(svc, ids["c"])
    assert await _counted(svc) == {"cpu": 0, "gpu": 0, "o": 0}
    await svc.retry_pipeline(ids["pipeline"], "o")  # b queued again, d waits for it
    assert await _counted(svc) == {"cpu": 1, "gpu": 0, "o": 2}
    await svc.cancel_pipeline(ids["pipeline"], "o")
    assert await _counted(svc) == {"cpu": 0, "gpu": 0, "o": 0}
    other = await diamond(svc)
    await svc.cancel(other["b"], "o")  # a waiting step through the tasks API
    assert await _counted(svc) == {"cpu": 1, "gpu": 0, "o": 2}  # a queued, c waiting; b and d canceled
