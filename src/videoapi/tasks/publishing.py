"""Queue messages sent off the request path: a create appends its message and returns.

`send(queue, task_id, delay_ms)` is the broker's blocking client (Redis, RabbitMQ). Calling it in a
worker thread per request (as before) cost a thread hop and a round trip inside every create; here
messages pile up per event loop and one drainer sends whatever piled up in one thread call, so a
burst of creates shares one hop. The task row is committed before its message is appended, with
`published_at` set: a message lost here (a crash, a broker error) is sent again by the reconciler
once `published_at` is older than its republish window, as before.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from videoapi.observability.logging import get_logger

log = get_logger(__name__)

Send = Callable[[str, str, int], None]

MAX_BATCH = 500
"""Messages per thread call; a longer backlog is sent in several calls, in order."""


@dataclass
class _Loop:
    pending: list[tuple[str, str, int]] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None


class BatchedPublisher:
    """A non-blocking `publish(queue, task_id, delay_ms)` over a blocking `send`; call it on an event loop."""

    def __init__(self, send: Send) -> None:
        self._send = send
        # One queue per event loop: the API's loop and, in one process, the worker's loop thread.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = weakref.WeakKeyDictionary()

    def __call__(self, queue: str, task_id: str, delay_ms: int = 0) -> None:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _Loop()
        state.pending.append((queue, task_id, delay_ms))
        if state.drainer is None or state.drainer.done():
            state.drainer = loop.create_task(self._drain(state), name="videoapi-publish")

    async def flush(self) -> None:
        """Wait until every message appended on this loop was handed to the broker (shutdown, tests)."""
        state = self._loops.get(asyncio.get_running_loop())
        while state is not None and state.drainer is not None and not state.drainer.done():
            await asyncio.shield(state.drainer)

    async def _drain(self, state: _Loop) -> None:
        # Ends when nothing is pending; the next publish starts another drainer.
        while state.pending:
            batch = state.pending[:MAX_BATCH]
            del state.pending[: len(batch)]
            await asyncio.to_thread(self._send_all, batch)

    def _send_all(self, batch: list[tuple[str, str, int]]) -> None:
        for queue, task_id, delay_ms in batch:
            try:
                self._send(queue, task_id, delay_ms)
            except Exception:  # the row is committed: the reconciler publishes it again
                log.exception("publish_failed", queue=queue, task_id=task_id)
