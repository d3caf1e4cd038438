"""Wait for a condition instead of sleeping a fixed time: poll until it holds, fail naming what was awaited."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _describe(predicate: Callable[..., object], what: str | None) -> str:
    if what:
        return what
    name = getattr(predicate, "__name__", repr(predicate))
    if name == "<lambda>":
        try:
            return inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            pass
    return name


def wait_until(
    predicate: Callable[[], T], timeout_s: float = 10.0, interval_s: float = 0.05, what: str | None = None
) -> T:
    """Call `predicate` until it returns a truthy value (returned); AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {_describe(predicate, what)} (last value: {value!r})"
            )
        time.sleep(interval_s)


async def async_wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout_s: float = 10.0,
    interval_s: float = 0.05,
    what: str | None = None,
) -> T:
    """The async twin of wait_until: `predicate` may be a plain or a coroutine function."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {_describe(predicate, what)} (last value: {value!r})"
            )
        await asyncio.sleep(interval_s)
