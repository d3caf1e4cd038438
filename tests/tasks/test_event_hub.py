"""The EventHub's table poller: one read per interval for all of a process's streams, fanned out by owner
and task, duplicates dropped by version, and no read at all while no stream is open."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from videoapi.db.base import utcnow
from videoapi.settings import EventSettings
from videoapi.tasks.events import EventHub, TaskChange


def change(task_id: str, owner_id: str, version: int, at: datetime) -> TaskChange:
    return TaskChange(task_id, owner_id, "running", version / 10, version, at, False)


@pytest.mark.anyio
async def test_many_streams_share_one_poll_and_get_only_their_changes() -> None:
    reads: list[tuple[list[str], datetime]] = []
    rows: list[TaskChange] = []

    async def read(owners: Sequence[str], after: datetime) -> list[TaskChange]:
        reads.append((sorted(owners), after))
        return [r for r in rows if r.owner_id in owners and r.changed_at > after]

    hub = EventHub(EventSettings(poll_interval_s=0.05, poll_overlap_s=1.0), read, None)
    try:
        # No stream: the poller does not exist yet, so nothing is read.
        await asyncio.sleep(0.15)
        assert reads == []
        # Given 100 streams of one task (alice) and 100 of bob's whole account...
        task_subs = [hub.subscribe("alice", "t1") for _ in range(100)]
        owner_subs = [hub.subscribe("bob") for _ in range(100)]
        await asyncio.sleep(0.3)
        polls = len(reads)
        # ...each poll is one read for both owners, not one per stream.
        assert 3 <= polls <= 8, polls
        assert all(owners == ["alice", "bob"] for owners, _ in reads)
        now = utcnow()
        rows += [change("t1", "alice", 2, now), change("t2", "alice", 5, now), change("t9", "bob", 3, now)]
        first = await task_subs[0].next(2.0)
        assert first is not None and first.task_id == "t1" and first.version == 2
        got = await owner_subs[-1].next(2.0)
        assert got is not None and got.task_id == "t9"
        await asyncio.sleep(0.3)  # the rows stay inside the overlap and are read again: not delivered again
        assert task_subs[0].queue.empty() and owner_subs[-1].queue.empty()
        assert all(s.queue.qsize() == 1 for s in task_subs[1:])  # t2 is not t1's
        rows.append(change("t1", "alice", 3, now + timedelta(milliseconds=1)))
        newer = await task_subs[0].next(2.0)
        assert newer is not None and newer.version == 3
        # All streams gone: the poller stops reading.
        for sub in task_subs + owner_subs:
            hub.unsubscribe(sub)
        await asyncio.sleep(0.1)
        idle_from = len(reads)
        await asyncio.sleep(0.3)
        assert len(reads) == idle_from
    finally:
        await hub.close()


@pytest.mark.anyio
async def test_a_stream_that_falls_behind_is_marked_lagged_instead_of_blocking() -> None:
    async def read(owners: Sequence[str], after: datetime) -> list[TaskChange]:
        return []

    hub = EventHub(EventSettings(), read, None)
    try:
        sub = hub.subscribe("alice", "t1")
        now = utcnow()
        for version in range(1, 400):
            hub.deliver(change("t1", "alice", version, now))
        assert sub.lagged and sub.queue.full()
    finally:
        await hub.close()
