"""The claim/lease protocol itself, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.support.app import migrate
from videoapi.db.base import utcnow
from videoapi.db.engine import make_engine, make_sessionmaker, transaction
from videoapi.errors import Conflict
from videoapi.settings import Settings
from videoapi.tasks.models import Task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import Status

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    overrides = {"tasks.lease_s": 3.0, "tasks.max_attempts": 2}
    if request.param == "postgres":
        overrides["database.url"] = request.getfixturevalue("pg_url")
    settings = make_settings(**overrides)
    if request.param == "sqlite":
        migrate(settings.database_url)
    return settings


@pytest.fixture
async def service(db_settings: Settings) -> AsyncIterator[tuple[TaskService, list[tuple[str, str, int]]]]:
    engine = make_engine(db_settings)
    published: list[tuple[str, str, int]] = []
    yield TaskService(make_sessionmaker(engine), db_settings, lambda q, t, d: published.append((q, t, d))), published
    await engine.dispose()


async def create(svc: TaskService, priority: int = 1, queue: str = "cpu") -> Task:
    return await svc.create(owner_id="o", kind="edit.trim", queue=queue, params={}, priority=priority)


async def test_create_publishes_and_claim_takes_high_priority_first_then_oldest(service) -> None:  # type: ignore[no-untyped-def]
    svc, published = service
    low = await create(svc, priority=0)
    first_normal = await create(svc)
    high = await create(svc, priority=2)
    second_normal = await create(svc)
    await create(svc, queue="gpu")
    assert len(published) == 5
    order = [(await svc.claim("cpu", "w")).id for _ in range(4)]  # type: ignore[union-attr]
    assert order == [high.id, first_normal.id, second_normal.id, low.id]
    assert await svc.claim("cpu", "w") is None  # the gpu task is not on this queue


async def test_concurrent_claims_never_share_a_task(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    for _ in range(10):
        await create(svc)
    claims = await asyncio.gather(*(svc.claim("cpu", f"w{i}") for i in range(20)))
    ids = [t.id for t in claims if t is not None]
    assert len(ids) == 10 and len(set(ids)) == 10


async def test_heartbeat_reports_cancel_and_lost_lease(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    task = await create(svc)
    claimed = await svc.claim("cpu", "w1")
    assert claimed is not None and claimed.status == Status.RUNNING and claimed.attempts == 1
    assert await svc.heartbeat(task.id, "w1", 0.25) is False
    assert await svc.heartbeat(task.id, "someone-else", 0.5) is None
    canceled = await svc.cancel(task.id, "o")
    assert canceled.status == Status.RUNNING and canceled.cancel_requested
    assert await svc.heartbeat(task.id, "w1", 0.5) is True
    assert (await svc.get(task.id, "o")).progress == 0.5


async def test_expired_lease_is_requeued_then_failed_after_max_attempts(service) -> None:  # type: ignore[no-untyped-def]
    svc, published = service
    task = await create(svc)

    async def expire() -> None:
        async with transaction(svc.sessions) as session:
            await session.execute(
                update(Task).where(Task.id == task.id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )

    await svc.claim("cpu", "dead-worker")
    await expire()
    published.clear()
    assert (await svc.reconcile())["requeued"] == 1
    assert published == [("cpu", task.id, 0)]
    again = await svc.claim("cpu", "w2")
    assert again is not None and again.attempts == 2
    await expire()
    assert (await svc.reconcile())["failed"] == 1
    failed = await svc.get(task.id, "o")
    assert failed.status == Status.FAILED and failed.error_code == "worker_lost"
    # The dead worker's late result is refused: it no longer holds the lease.
    async with transaction(svc.sessions) as session:
        assert not await svc.finish(session, task.id, "dead-worker", Status.SUCCEEDED, result={})


async def test_retry_later_waits_for_its_backoff(service) -> None:  # type: ignore[no-untyped-def]
    svc, published = service
    task = await create(svc)
    claimed = await svc.claim("cpu", "w")
    assert await svc.retry_later(claimed, "w", ("transient", "hiccup"))
    assert published[-1][2] >= 1000 * svc.settings.tasks.retry_backoff_s * 0.8  # delayed message
    assert await svc.claim("cpu", "w") is None  # not before its backoff
    queued = await svc.get(task.id, "o")
    assert queued.status == Status.QUEUED and queued.error_code == "transient"


async def test_cancel_rules(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    task = await create(svc)
    assert (await svc.cancel(task.id, "o")).status == Status.CANCELED
    with pytest.raises(Conflict):
        await svc.cancel(task.id, "o")
    assert await svc.claim("cpu", "w") is None  # a canceled task is never claimed
    requeued = await svc.requeue(task.id)
    assert requeued.status == Status.QUEUED and requeued.attempts == 0


async def test_lost_messages_are_republished(service) -> None:  # type: ignore[no-untyped-def]
    svc, published = service
    task = await create(svc)
    async with transaction(svc.sessions) as session:
        await session.execute(
            update(Task).where(Task.id == task.id).values(published_at=utcnow() - timedelta(minutes=10))
        )
    published.clear()
    assert (await svc.reconcile())["republished"] == 1
    assert published == [("cpu", task.id, 0)]
    assert (await svc.reconcile())["republished"] == 0  # not again until it is stale again


async def _counted(svc: TaskService) -> dict[str, int]:
    """The counters as stored, and as a recount of the rows: the two must agree after every transition."""
    from sqlalchemy import func, select

    from videoapi.tasks.counters import owner_active, queue_depth

    async with svc.sessions() as session:
        stored = {
            "cpu": await queue_depth(session, "cpu"),
            "gpu": await queue_depth(session, "gpu"),
            "o": await owner_active(session, "o"),
        }
        recount = {
            q: await session.scalar(select(func.count()).where(Task.queue == q, Task.status == Status.QUEUED))
            for q in ("cpu", "gpu")
        }
        recount["o"] = await session.scalar(
            select(func.count()).where(
                Task.owner_id == "o", Task.status.in_([Status.WAITING, Status.QUEUED, Status.RUNNING])
            )
        )
    assert stored == recount
    return stored


async def test_counters_follow_every_transition(service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = service
    tasks = [await create(svc) for _ in range(4)] + [await create(svc, queue="gpu")]
    assert await _counted(svc) == {"cpu": 4, "gpu": 1, "o": 5}
    await svc.cancel(tasks[0].id, "o")  # queued -> canceled
    assert await _counted(svc) == {"cpu": 3, "gpu": 1, "o": 4}
    await svc.requeue(tasks[0].id)  # canceled -> queued
    assert await _counted(svc) == {"cpu": 4, "gpu": 1, "o": 5}
    claimed = [await svc.claim("cpu", "w") for _ in range(3)]
    assert all(claimed) and await _counted(svc) == {"cpu": 1, "gpu": 1, "o": 5}
    assert len(await svc.claim_batch("gpu", "w")) == 1
    assert await _counted(svc) == {"cpu": 1, "gpu": 0, "o": 5}
    first, second, third = claimed
    async with transaction(svc.sessions) as session:  # running -> succeeded
        assert await svc.finish(session, first.id, "w", Status.SUCCEEDED, result={}) is not None  # type: ignore[union-attr]
    assert await _counted(svc) == {"cpu": 1, "gpu": 0, "o": 4}
    assert await svc.retry_later(second, "w", ("x", "transient"))  # type: ignore[arg-type]  # running -> queued
    assert await _counted(svc) == {"cpu": 2, "gpu": 0, "o": 4}
    await svc.cancel(third.id, "o")  # type: ignore[union-attr]  # running: only flagged, still active
    assert await _counted(svc) == {"cpu": 2, "gpu": 0, "o": 4}
    async with transaction(svc.sessions) as session:  # leases lost: the flagged one ends canceled, gpu requeued
        await session.execute(
            update(Task).where(Task.status == Status.RUNNING).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    counts = await svc.reconcile()
    assert counts["canceled"] == 1 and counts["requeued"] == 1
    assert await _counted(svc) == {"cpu": 2, "gpu": 1, "o": 3}
