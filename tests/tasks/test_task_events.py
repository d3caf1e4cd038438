"""Live task events over real HTTP: order, the end of the stream, Last-Event-ID, owners, stream tokens.

The app runs on a real socket (uvicorn); a `Worker` with its own services moves the tasks through
the TaskService calls the Runtime makes, so the events have to cross from one set of services to the
other: through the task table (the embedded default) or Redis pub/sub.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.events import EventReader, Worker
from tests.support.gateway import serve
from videoapi.gateway.streamtokens import StreamTokens
from videoapi.settings import Settings
from videoapi.tasks.states import Status

TOKEN_SECRET = "events-test-secret-0123456789abcdef"


@pytest.fixture
def stack(make_settings: Callable[..., Settings]) -> Iterator[tuple[str, Settings, Worker]]:
    """The embedded shape on a real socket (table backend), and a separate worker."""
    settings = make_settings(
        **{"events.heartbeat_s": 0.3, "events.poll_interval_s": 0.1, "events.token_secret": TOKEN_SECRET}
    )
    with serve(settings) as base:
        worker = Worker(settings)
        try:
            yield base, settings, worker
        finally:
            worker.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def kinds(reader: EventReader) -> list[tuple[str, str | None]]:
    return [(e.event, e.id) for e in reader.events]


def test_task_stream_sends_changes_in_order_and_ends_with_the_task(stack: tuple[str, Settings, Worker]) -> None:
    base, _, worker = stack
    owner, key = worker.new_key("alice")
    task_id = worker.create(owner)
    reader = EventReader(f"{base}/v1/video/tasks/{task_id}/events", bearer(key))
    try:
        # Given a queued task, each change arrives as one event, ids rising with the task's version.
        assert reader.wait_for(1)[0].data["status"] == "queued"
        assert reader.content_type.startswith("text/event-stream")
        worker.claim()
        reader.wait_for(2)
        worker.beat(task_id, 0.25)
        reader.wait_for(3)
        worker.beat(task_id, 0.25)  # renews the lease only: no event
        worker.beat(task_id, 0.5)
        reader.wait_for(4)
        # An idle stream gets heartbeat comments.
        seen = len(reader.comments)
        time.sleep(0.8)
        assert len(reader.comments) > seen
        worker.finish(task_id, Status.SUCCEEDED, result={"duration_s": 1.5})
        events = reader.wait_ended()
    finally:
        reader.close()
    assert kinds(reader) == [
        ("status", "1"),
        ("status", "2"),
        ("progress", "3"),
        ("progress", "4"),
        ("status", "5"),
        ("task", "5"),
    ]
    assert [e.data["status"] for e in events[:5]] == ["queued", "running", "running", "running", "succeeded"]
    assert [e.data["progress"] for e in events[1:4]] == [0.0, 0.25, 0.5]
    assert all(e.data["task_id"] == task_id for e in events[:5])
    # The final event is the task exactly as GET shows it.
    shown = httpx.get(f"{base}/v1/video/tasks/{task_id}", headers=bearer(key)).json()
    assert events[-1].data == shown
    assert shown["status"] == "succeeded" and shown["result"] == {"duration_s": 1.5}


def test_last_event_id_resumes_without_repeats(stack: tuple[str, Settings, Worker]) -> None:
    base, _, worker = stack
    owner, key = worker.new_key("bob")
    task_id = worker.create(owner)
    worker.claim()
    worker.beat(task_id, 0.3)
    worker.beat(task_id, 0.6)
    assert worker.version(task_id) == 4
    url = f"{base}/v1/video/tasks/{task_id}/events"

    # Resumed after version 3: the current state (4) first, then only what follows.
    reader = EventReader(url, {**bearer(key), "Last-Event-ID": "3"})
    try:
        reader.wait_for(1)
        worker.beat(task_id, 0.9)
        reader.wait_for(2)
        worker.finish(task_id, Status.FAILED)
        reader.wait_ended()
    finally:
        reader.close()
    assert kinds(reader) == [("status", "4"), ("progress", "5"), ("status", "6"), ("task", "6")]
    assert reader.events[0].data["progress"] == 0.6 and reader.events[-1].data["status"] == "failed"

    bad = httpx.get(url, headers={**bearer(key), "Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_last_event_id", bad.text

    # Up to date and terminal: only the final task event, at once.
    again = EventReader(url, {**bearer(key), "Last-Event-ID": "6"})
    again.wait_ended()
    again.close()
    assert kinds(again) == [("task", "6")]

    # A resumed owner stream re-sends the tasks changed after the id, not those before it.
    first, second = worker.create(owner), worker.create(owner)
    owner_url = f"{base}/v1/video/events"
    everything = EventReader(owner_url, {**bearer(key), "Last-Event-ID": "0"})
    try:
        everything.wait_for(3)  # the three tasks, oldest change first (the failed one with its task event)
        by_task = {e.data.get("task_id") or e.data.get("id"): e for e in everything.events}
        cursor = by_task[first].id
        assert cursor is not None and set(by_task) >= {task_id, first}
    finally:
        everything.close()
    resumed = EventReader(owner_url, {**bearer(key), "Last-Event-ID": cursor})
    try:
        resumed.wait_for(1)
        worker.claim()  # `first` is the oldest queued task
        resumed.wait_for(2)
    finally:
        resumed.close()
    assert [(e.event, e.data["task_id"], e.data["status"]) for e in resumed.events] == [
        ("status", second, "queued"),
        ("status", first, "running"),
    ]
    assert int(resumed.events[0].id or 0) > int(cursor)


def test_other_owners_tasks_are_invisible(stack: tuple[str, Settings, Worker]) -> None:
    base, _, worker = stack
    alice, _ = worker.new_key("alice")
    bob, bob_key = worker.new_key("bob")
    task_id = worker.create(alice)
    resp = httpx.get(f"{base}/v1/video/tasks/{task_id}/events", headers=bearer(bob_key))
    assert resp.status_code == 404 and resp.json()["code"] == "task_not_found"
    assert resp.headers["content-type"].startswith("application/problem+json")
    # Bob's stream of all his tasks skips Alice's changes and shows his own.
    reader = EventReader(f"{base}/v1/video/events", bearer(bob_key))
    try:
        time.sleep(0.3)  # the stream is open before the changes
        worker.claim()  # Alice's task
        own = worker.create(bob)
        reader.wait_for(1)
        time.sleep(0.3)
    finally:
        reader.close()
    assert [(e.event, e.data["task_id"]) for e in reader.events] == [("status", own)]


def test_stream_token_opens_the_streams_and_nothing_else(stack: tuple[str, Settings, Worker]) -> None:
    base, _, worker = stack
    owner, key = worker.new_key("browser")
    task_id = worker.create(owner)
    resp = httpx.post(f"{base}/v1/video/events/token", headers=bearer(key))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["expires_in_s"] == 300 and key not in body["token"]
    token = body["token"]

    # EventSource sends no header: the token in the URL opens the task's stream and the owner's.
    reader = EventReader(f"{base}/v1/video/tasks/{task_id}/events?token={token}")
    owner_reader = EventReader(f"{base}/v1/video/events?token={token}")
    try:
        assert reader.wait_for(1)[0].data["task_id"] == task_id
        time.sleep(0.3)
        worker.claim()
        assert owner_reader.wait_for(1)[0].data["status"] == "running"
    finally:
        reader.close()
        owner_reader.close()

    def problem(url: str, code: str, status: int = 401) -> None:
        resp = httpx.get(url)
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == code

    events = f"{base}/v1/video/tasks/{task_id}/events"
    body_part, _, mac = token.partition(".")
    tampered = f"{body_part}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    problem(f"{events}?token={tampered}", "invalid_stream_token")
    problem(f"{events}?token=not-a-token", "invalid_stream_token")
    expired, _ = StreamTokens(TOKEN_SECRET.encode(), 300).issue(_principal(owner), now=time.time() - 301)
    problem(f"{events}?token={expired}", "stream_token_expired")
    # Signed with another secret: refused.
    forged, _ = StreamTokens(b"someone-elses-secret-0123456789", 300).issue(_principal(owner))
    problem(f"{events}?token={forged}", "invalid_stream_token")
    # Another owner's task with a valid token: 404; any other route ignores the token.
    _, other_key = worker.new_key("other")
    other_token = httpx.post(f"{base}/v1/video/events/token", headers=bearer(other_key)).json()["token"]
    problem(f"{events}?token={other_token}", "task_not_found", 404)
    problem(f"{base}/v1/video/tasks/{task_id}?token={token}", "missing_credentials")
    # A key revoked after its token was issued: the token dies with it.
    worker.run(lambda: worker.services.keys.revoke(owner))
    problem(f"{events}?token={token}", "invalid_api_key")


def _principal(owner_id: str) -> Any:
    from videoapi.auth.principal import Principal

    return Principal(owner_id=owner_id, key_name="browser", key_id=owner_id)


@pytest.mark.ffmpeg
def test_a_real_trim_streams_to_its_result(stack: tuple[str, Settings, Worker], clip: Path) -> None:
    base, _, worker = stack
    _, key = worker.new_key("real")
    client = httpx.Client(base_url=base, headers=bearer(key), timeout=30)
    with clip.open("rb") as fh:
        asset = client.post("/v1/video/assets", files={"file": ("clip.mp4", fh, "video/mp4")}).json()
    task = client.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 1})
    assert task.status_code == 202, task.text
    reader = EventReader(f"{base}/v1/video/tasks/{task.json()['id']}/events", bearer(key))
    try:
        events = reader.wait_ended(timeout_s=60)
    finally:
        reader.close()
    ids = [int(e.id or 0) for e in events]
    assert ids == sorted(ids) and len(set(ids[:-1])) == len(ids) - 1  # rising; the task event shares the last id
    assert events[-2].event == "status" and events[-2].data["status"] == "succeeded"
    assert events[-1].event == "task" and events[-1].data["result"]["url"].startswith("http")
    client.close()


@pytest.mark.redis
@pytest.mark.postgres
def test_events_cross_two_api_processes_over_redis(
    make_settings: Callable[..., Settings], redis_url: str, pg_url: str
) -> None:
    """Two API instances and a worker on PostgreSQL, each with its own services: only Redis pub/sub
    connects them (the `redis` backend runs no table poller)."""
    settings = make_settings(
        **{
            "database.url": pg_url,
            "queue.broker": "redis",
            "queue.url": redis_url,
            "queue.namespace": f"t{uuid.uuid4().hex[:10]}",
            "server.embedded_workers": False,
            "events.heartbeat_s": 0.5,
        }
    )
    assert settings.events_redis_url == redis_url
    with serve(settings) as first, serve(settings) as second:
        worker = Worker(settings)
        try:
            owner, key = worker.new_key("redis")
            task_id = worker.create(owner)
            reader = EventReader(f"{first}/v1/video/tasks/{task_id}/events", bearer(key))
            owner_reader = EventReader(f"{first}/v1/video/events", bearer(key))
            try:
                reader.wait_for(1)
                time.sleep(0.3)
                worker.claim()
                reader.wait_for(2)
                worker.beat(task_id, 0.4)
                reader.wait_for(3)
                # Canceled through the other API process; the worker notices at its next beat.
                resp = httpx.post(f"{second}/v1/video/tasks/{task_id}/cancel", headers=bearer(key))
                assert resp.status_code == 202, resp.text
                reader.wait_for(4)
                assert worker.beat(task_id, 0.5) is True
                worker.finish(task_id, Status.CANCELED)
                reader.wait_ended()
                owner_reader.wait_for(5)
            finally:
                reader.close()
                owner_reader.close()
        finally:
            worker.close()
    assert kinds(reader) == [
        ("status", "1"),
        ("status", "2"),
        ("progress", "3"),
        ("progress", "4"),
        ("progress", "5"),
        ("status", "6"),
        ("task", "6"),
    ]
    assert reader.events[3].data["cancel_requested"] is True
    assert reader.events[-1].data["status"] == "canceled"
    assert [(e.event, e.data.get("status")) for e in owner_reader.events][:5] == [
        ("status", "running"),
        ("progress", "running"),
        ("progress", "running"),
        ("progress", "running"),
        ("status", "canceled"),
    ]


def test_a_task_stream_ends_even_when_its_last_change_commits_after_the_polls_window(
    stack: tuple[str, Settings, Worker],
) -> None:
    """`changed_at` is stamped before a transaction commits; one that commits later than
    `events.poll_overlap_s` (a worker waiting on the SQLite write lock) is never read by the poller.
    The task stream reads its task again at each heartbeat, so it ends anyway (a client's `wait` hung)."""
    base, _, worker = stack
    owner, key = worker.new_key("late")
    task_id = worker.create(owner)
    worker.claim()
    reader = EventReader(f"{base}/v1/video/tasks/{task_id}/events", bearer(key))
    try:
        assert reader.wait_for(1)[0].data["status"] == "running"
        worker.finish_stamped_early(task_id, Status.SUCCEEDED, seconds=3600)
        events = reader.wait_ended(timeout_s=10)
    finally:
        reader.close()
    assert events[-1].event == "task" and events[-1].data["status"] == "succeeded"
