"""Admission for the media work the API process does itself (fetching a URL asset, reading a file for
a watermark): a bounded number at once per owner and overall, so one caller cannot fill the process
with 2 GiB downloads and decodes. Past a bound the request is refused at once with 429, not queued,
so a client sees back-pressure instead of a hung connection."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from videoapi.errors import TooManyRequests

RETRY_AFTER_S = 5


class MediaAdmission:
    def __init__(self, per_owner: int, total: int) -> None:
        self.per_owner = per_owner
        self.total = total
        self._running: Counter[str] = Counter()
        # One event loop serves the API; the check and the increment run without an await between
        # them, so no lock is needed.

    @property
    def in_flight(self) -> int:
        return sum(self._running.values())

    @asynccontextmanager
    async def slot(self, owner_id: str, what: str) -> AsyncIterator[None]:
        if self._running[owner_id] >= self.per_owner:
            raise self._refused(f"this caller already has {self.per_owner} {what} in progress")
        if self.in_flight >= self.total:
            raise self._refused(f"the server already has {self.total} media fetches and reads in progress")
        self._running[owner_id] += 1
        try:
            yield
        finally:
            self._running[owner_id] -= 1
            if self._running[owner_id] <= 0:
                del self._running[owner_id]

    def _refused(self, why: str) -> TooManyRequests:
        return TooManyRequests(
            f"{why}; retry in {RETRY_AFTER_S} s, or upload the file",
            code="too_many_concurrent",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
