"""Event-stream helpers: a server-sent events reader on a real socket, and a stand-in worker process.

`EventReader` reads `text/event-stream` in a thread, so that a test can drive a task and watch the
events arrive. `Worker` holds the services of "another process" (its own engine, pools and, with
Redis, its own publisher) on an event loop of its own, and moves tasks through the same TaskService
calls that the Runtime makes: claim, heartbeat with progress, finish.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from tests.support.waits import wait_until
from videoapi.composition import Services, build_services
from videoapi.db.engine import transaction
from videoapi.settings import Settings
from videoapi.tasks.models import Task
from videoapi.tasks.states import Status

TEST_QUEUE = "events-test"
"""A queue no worker drains: the test is its only worker."""


@dataclass
class Event:
    event: str
    id: str | None
    data: Any


@dataclass
class EventReader:
    """Reads one event stream in a thread; `events` fill as they arrive, `ended` once the server closes it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status_code: int | None = None
    body: bytes = b""
    ended: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(30.0, read=30.0))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as resp:
                self.status_code = resp.status_code
                self.content_type = resp.headers.get("content-type", "")
                if resp.status_code != 200:
                    self.body = resp.read()
                    return
                fields: dict[str, str] = {}
                data: list[str] = []
                for line in resp.iter_lines():
                    if line == "":
                        if data or fields:
                            self.events.append(
                                Event(fields.get("event", "message"), fields.get("id"), json.loads("\n".join(data)))
                            )
                        fields, data = {}, []
                    elif line.startswith(":"):
                        self.comments.append(line[1:].strip())
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "data":
                            data.append(value)
                        else:
                            fields[name] = value
        except httpx.HTTPError as exc:
            if not self.ended.is_set():
                self.error = exc
        finally:
            self.ended.set()

    def wait_for(self, count: int, timeout_s: float = 15) -> list[Event]:
        wait_until(
            lambda: len(self.events) >= count or self.ended.is_set(),
            timeout_s=timeout_s,
            what=f"{count} events from {self.url} (have {[(e.event, e.id) for e in self.events]})",
        )
        assert len(self.events) >= count, f"stream ended after {[(e.event, e.id) for e in self.events]}"
        return self.events

    def wait_ended(self, timeout_s: float = 15) -> list[Event]:
        assert self.ended.wait(timeout_s), f"stream still open after {[(e.event, e.id) for e in self.events]}"
        assert self.error is None, self.error
        return self.events

    def close(self) -> None:
        self.ended.set()
        self._client.close()
        self._thread.join(timeout=10)


class Worker:
    """The services of a separate process, on their own event loop thread."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.services: Services = self.run(lambda: build_services(settings, None))
        self.worker_id = "test-worker"

    def run(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout=30)

    def new_key(self, name: str) -> tuple[str, str]:
        """(owner id, plaintext) of a new API key."""
        key, plaintext = self.run(lambda: self.services.keys.create(name))
        return key.id, plaintext

    def create(self, owner_id: str) -> str:
        task = self.run(
            lambda: self.services.tasks.create(owner_id=owner_id, kind="edit.trim", queue=TEST_QUEUE, params={})
        )
        return str(task.id)

    def claim(self) -> str:
        task = self.run(lambda: self.services.tasks.claim(TEST_QUEUE, self.worker_id))
        assert task is not None, "nothing to claim"
        return str(task.id)

    def beat(self, task_id: str, progress: float) -> bool | None:
        return self.run(lambda: self.services.tasks.heartbeat(task_id, self.worker_id, progress))

    def finish(self, task_id: str, status: Status, result: dict[str, Any] | None = None) -> None:
        """As Runtime._finish: the terminal UPDATE in a transaction, then the announcement."""

        async def finish() -> None:
            async with transaction(self.services.sessions) as session:
                done = await self.services.tasks.finish(session, task_id, self.worker_id, status, result=result)
            assert done is not None, "the lease was lost"
            await self.services.tasks.announce([done])

        self.run(finish)

    def finish_stamped_early(self, task_id: str, status: Status, seconds: float) -> None:
        """`finish`, in a transaction whose commit comes `seconds` after its `changed_at` stamp (as for
        a worker that waited that long on a write lock): its change is older than any poll's window."""

        async def finish() -> None:
            async with transaction(self.services.sessions) as session:
                done = await self.services.tasks.finish(session, task_id, self.worker_id, status, result={})
                assert done is not None, "the lease was lost"
                task = await session.get(Task, task_id)
                assert task is not None
                task.changed_at = task.changed_at - timedelta(seconds=seconds)
            await self.services.tasks.announce([done])

        self.run(finish)

    def version(self, task_id: str) -> int:
        async def read() -> int:
            async with self.services.sessions() as session:
                task = await session.get(Task, task_id)
                assert task is not None
                return task.version

        return int(self.run(read))

    def close(self) -> None:
        self.run(self.services.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
