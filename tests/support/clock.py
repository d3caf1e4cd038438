"""A clock that tests move by hand (for code that takes a `clock` callable, e.g. MemoryRateLimiter)."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that only move on `advance`; call the instance to read it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
