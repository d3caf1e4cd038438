"""The create and read paths on PostgreSQL + Redis: no statement scans the backlog, the Redis view
cache stays right across transitions, and queue messages leave off the request path."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest
import redis
from sqlalchemy import event

from tests.support.app import Api, assert_problem, create_key
from videoapi.tasks.events import TaskChange
from videoapi.tasks.publishing import BatchedPublisher
from videoapi.tasks.views import TaskView, TaskViewCache

TRIM = {"input": {"url": "https://media.example.com/clip.mp4"}, "start_s": 1, "end_s": 3}
BACKLOG = 20_000
# A statement that reads the tasks table anywhere but through its primary key (an INSERT writes one row).
_TASKS = re.compile(r"\b(?:FROM|JOIN|UPDATE)\s+tasks\b", re.IGNORECASE)


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends while the block runs."""
    engine = api.client.app.state.services.engine.sync_engine
    seen: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def backlog_readers(seen: list[str]) -> list[str]:
    """Statements that count tasks, or read them other than one row by id."""
    return [
        s
        for s in seen
        if (re.search(r"count\(", s, re.IGNORECASE) and "tasks" in s) or (_TASKS.search(s) and "tasks.id =" not in s)
    ]


def seed_queued(pg_url: str, owner_id: str, rows: int) -> None:
    """`rows` queued tasks of `owner_id` on the cpu queue, in one INSERT ... SELECT, counters included."""
    conn = psycopg2.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO tasks (id, kind, queue, owner_id, status, priority, params, progress, attempts,"
            " max_attempts, not_before, published_at, cancel_requested, created_at, updated_at, changed_at, version)"
            " SELECT gen_random_uuid()::text, 'edit.trim', 'cpu', %s, 'queued', 1, '{}'::jsonb, 0, 0, 3,"
            " now(), now(), false, now() - i * interval '1 ms', now(), now(), 1 FROM generate_series(1, %s) i",
            (owner_id, rows),
        )
        for scope in ("queue:cpu", f"owner:{owner_id}"):
            cur.execute(
                "INSERT INTO task_counters (scope, shard, count) VALUES (%s, 0, %s)"
                " ON CONFLICT (scope, shard) DO UPDATE SET count = task_counters.count + excluded.count",
                (scope, rows),
            )
        cur.execute("ANALYZE tasks")
    conn.close()


def owner_of(pg_url: str, task_id: str) -> str:
    conn = psycopg2.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    with conn.cursor() as cur:
        cur.execute("SELECT owner_id FROM tasks WHERE id = %s", (task_id,))
        owner = cur.fetchone()[0]
    conn.close()
    return owner


def test_create_and_read_with_a_deep_backlog_never_count_or_scan_tasks(
    queued_api: Callable[..., AbstractContextManager[Api]], pg_url: str
) -> None:
    # Given a key with 20,000 queued tasks, load shedding on and an active-task cap that leaves room
    with queued_api(**{"gateway.max_queue_depth": 1_000_000, "gateway.default_max_active_tasks": 1_000_000}) as api:
        first = api.post("/v1/video/edit/trim", json=TRIM)
        assert first.status_code == 202, first.text
        seed_queued(pg_url, owner_of(pg_url, first.json()["id"]), BACKLOG)
        api.client.app.state.gateway._depths.clear()  # the shedding check reads the depth again
        # When it creates a task and reads it
        with statements(api) as seen:
            created = api.post("/v1/video/edit/trim", json=TRIM)
            read = api.get(f"/v1/video/tasks/{created.json()['id']}")
        # Then both answer, and no statement counted or scanned the task table
        assert created.status_code == 202 and read.status_code == 200, (created.text, read.text)
        assert read.json()["status"] == "queued"
        assert any(s.startswith("INSERT INTO tasks") for s in seen)
        assert any("task_counters" in s for s in seen)  # the cap and the depth came from the counters
        assert backlog_readers(seen) == []


def test_a_capped_create_costs_five_statements_and_a_cached_read_none(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    # Given a capped key, the view cache on, and the Redis rate limiter (which lets verified keys be
    # cached: gateway/keycache.py); load shedding off (its depth read is cached for a second per
    # process, so whether a create re-reads it depends on the clock)
    settings = {
        "gateway.default_max_active_tasks": 1_000,
        "gateway.rate_limit_backend": "redis",
        "tasks.read_cache": True,
    }
    with queued_api(**settings) as api:
        assert api.post("/v1/video/edit/trim", json=TRIM).status_code == 202  # warm: the key is cached
        # When it creates a task, then reads it twice (a miss that fills the cache, then a hit)
        with statements(api) as created_with:
            task_id = api.post("/v1/video/edit/trim", json=TRIM).json()["id"]
        with statements(api) as missed_with:
            api.get(f"/v1/video/tasks/{task_id}")
        with statements(api) as hit_with:
            assert api.get(f"/v1/video/tasks/{task_id}").json()["status"] == "queued"
    # Then the create sent five statements: the owner's policy, the task, the quota, the owner's lock,
    # and the counters written and read in one (the lock used to come first, and the read on its own)
    assert len(created_with) == 5, created_with
    assert "pg_advisory_xact_lock" in created_with[-2] and created_with[-1].startswith("WITH written AS")
    # and a read is one select by id, or nothing at all once cached
    assert len(missed_with) == 1 and "WHERE tasks.id =" in missed_with[0]
    assert hit_with == []


def test_the_active_task_cap_still_holds_against_the_counters(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    with queued_api(**{"gateway.default_max_active_tasks": 3}) as api:
        assert [api.post("/v1/video/edit/trim", json=TRIM).status_code for _ in range(3)] == [202] * 3
        assert_problem(api.post("/v1/video/edit/trim", json=TRIM), 429, "too_many_tasks")
        tasks = api.get("/v1/video/tasks").json()["items"]
        assert api.post(f"/v1/video/tasks/{tasks[0]['id']}/cancel").status_code == 202  # frees one slot
        assert api.post("/v1/video/edit/trim", json=TRIM).status_code == 202


def test_concurrent_creates_of_one_key_never_pass_its_cap_together(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    # Given a key capped at 4 unfinished tasks (the check is serialised only around the counter write)
    with queued_api(**{"gateway.default_max_active_tasks": 4}) as api:
        # When 16 creates arrive at once
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda _: api.post("/v1/video/edit/trim", json=TRIM).status_code, range(16)))
        # Then exactly 4 were accepted, and the counters agree with the rows
        assert sorted(codes) == [202] * 4 + [429] * 12
        assert len(api.get("/v1/video/tasks", params={"limit": 50}).json()["items"]) == 4
        assert_problem(api.post("/v1/video/edit/trim", json=TRIM), 429, "too_many_tasks")


def test_read_cache_answers_from_redis_and_sees_every_transition(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    with queued_api(**{"tasks.read_cache": True}) as api:
        task_id = api.post("/v1/video/edit/trim", json=TRIM).json()["id"]
        assert api.get(f"/v1/video/tasks/{task_id}").json()["status"] == "queued"  # a miss fills the cache
        with statements(api) as seen:
            cached = api.get(f"/v1/video/tasks/{task_id}")
        assert cached.json()["status"] == "queued"
        assert [s for s in seen if _TASKS.search(s)] == []  # answered from Redis
        # A transition invalidates the view: the next read shows it
        assert api.post(f"/v1/video/tasks/{task_id}/cancel").status_code == 202
        assert api.get(f"/v1/video/tasks/{task_id}").json()["status"] == "canceled"
        # Another owner's key never sees it, cached or not
        other = api.as_key(create_key(api.settings, "other"))
        assert_problem(other.get(f"/v1/video/tasks/{task_id}"), 404, "task_not_found")


@pytest.mark.anyio
async def test_a_reader_cannot_cache_a_view_older_than_a_committed_change(redis_url: str) -> None:
    cache = TaskViewCache(redis_url, f"t{uuid.uuid4().hex[:10]}", ttl_s=30)
    now = datetime.now(UTC)

    def view(version: int, status: str) -> TaskView:
        return TaskView(
            "t1", "o", "edit.trim", status, 0.0, 1, 0, now, None, None, {}, None, None, None, None, None, False, version
        )

    def change(version: int) -> TaskChange:
        return TaskChange("t1", "o", "running", 0.0, version, now, False)

    try:
        await cache.fill(view(1, "queued"))
        assert (await cache.get("t1")).status == "queued"  # type: ignore[union-attr]
        await cache.stale([change(2)])  # committed: running, version 2
        assert await cache.get("t1") is None
        await cache.fill(view(1, "queued"))  # a reader that read the row before the change
        assert await cache.get("t1") is None
        await cache.fill(view(2, "running"))
        assert (await cache.get("t1")).status == "running"  # type: ignore[union-attr]
        await cache.stale([change(2)])  # the same version announced late: the view is current
        assert (await cache.get("t1")).version == 2  # type: ignore[union-attr]
    finally:
        await cache.close()


@pytest.mark.anyio
async def test_batched_publisher_never_blocks_the_loop_and_sends_everything_in_order() -> None:
    sent: list[str] = []
    threads: set[int] = set()

    def send(queue: str, task_id: str, delay_ms: int) -> None:
        threads.add(threading.get_ident())
        time.sleep(0.002)  # a broker round trip
        if task_id == "t3":
            raise ConnectionError("broker hiccup")  # logged; the reconciler sends it again later
        sent.append(task_id)

    publish = BatchedPublisher(send)
    started = time.perf_counter()
    for i in range(200):
        publish("cpu", f"t{i}", 0)
    assert time.perf_counter() - started < 0.2  # 200 sends would take 0.4 s on the loop
    await publish.flush()
    assert sent == [f"t{i}" for i in range(200) if i != 3]
    assert threading.get_ident() not in threads


def test_creates_reach_the_redis_broker(queued_api: Callable[..., AbstractContextManager[Api]], redis_url: str) -> None:
    with queued_api() as api:
        ids = [api.post("/v1/video/edit/trim", json=TRIM).json()["id"] for _ in range(5)]
        client = redis.Redis.from_url(redis_url)
        key = f"{api.settings.queue.namespace}:cpu.msgs"
        deadline = time.monotonic() + 10
        while client.hlen(key) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.hlen(key) == len(ids)
        client.close()


def test_creates_reach_rabbitmq(make_settings: Callable[..., Any], pg_url: str, rabbitmq_url: str) -> None:
    from tests.support.app import running_app

    namespace = f"t{uuid.uuid4().hex[:10]}"
    settings = make_settings(
        **{
            "database.url": pg_url,
            "queue.broker": "rabbitmq",
            "queue.url": rabbitmq_url,
            "queue.namespace": namespace,
            "server.embedded_workers": False,
        }
    )
    with running_app(settings) as api:
        for _ in range(3):
            assert api.post("/v1/video/edit/trim", json=TRIM).status_code == 202
        broker = api.client.app.state.services.broker
        deadline = time.monotonic() + 10
        while broker.get_queue_message_counts(f"{namespace}.cpu")[0] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert broker.get_queue_message_counts(f"{namespace}.cpu")[0] == 3
