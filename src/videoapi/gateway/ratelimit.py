"""Token buckets per key: in this process's memory, or in Redis (one atomic script) shared by all processes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

import msgspec

from videoapi.gateway.keycache import epoch_key
from videoapi.observability.logging import get_logger

log = get_logger(__name__)


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    limit: int
    """The bucket size (burst)."""
    remaining: int
    reset_s: int
    """Seconds until the bucket is full again."""
    retry_after_s: int
    """Seconds until one request is allowed again (0 when allowed)."""
    epoch: int | None = None
    """The API key revocation epoch read in the same Redis call (see gateway.keycache); None: unknown."""

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_s)
        return out


def _decision(
    allowed: bool, tokens: float, rate: float, burst: int, wait_s: float, epoch: int | None = None
) -> Decision:
    return Decision(
        allowed=allowed,
        limit=burst,
        remaining=max(0, math.floor(tokens)),
        reset_s=math.ceil(max(0.0, burst - tokens) / rate),
        retry_after_s=0 if allowed else max(1, math.ceil(wait_s)),
        epoch=epoch,
    )


class RateLimiter(Protocol):
    async def hit(self, bucket: str, rate_per_s: float, burst: int) -> Decision: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Buckets of one process; enough for a single API process (the embedded shape).

    `clock` gives seconds on a monotonic scale; tests pass a fake one to let time pass without sleeping.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._clock = clock

    async def hit(self, bucket: str, rate_per_s: float, burst: int) -> Decision:
        now = self._clock()
        tokens, last = self._buckets.get(bucket, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate_per_s)
        allowed = tokens >= 1.0
        wait_s = 0.0
        if allowed:
            tokens -= 1.0
        else:
            wait_s = (1.0 - tokens) / rate_per_s
        self._buckets[bucket] = (tokens, now)
        return _decision(allowed, tokens, rate_per_s, burst, wait_s)

    async def close(self) -> None:
        self._buckets.clear()


# Refill, take one token if there is one, store, and read the key revocation epoch: all in one script, so
# that concurrent processes cannot both spend the last token. Redis's own clock is used, so the API hosts'
# clocks do not matter.
# Numbers go back as strings: Redis truncates Lua numbers to integers.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens), tostring(wait), redis.call('GET', KEYS[2]) or '0'}
"""


class RedisRateLimiter:
    """Buckets shared by every process that uses the same Redis and namespace.

    If Redis cannot be reached the request is let through (and logged): an outage of the limiter
    must not take the API down with it.
    """

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.script = self.client.register_script(_SCRIPT)
        self.prefix = f"{namespace}:ratelimit:"
        self.epoch_key = epoch_key(namespace)

    async def hit(self, bucket: str, rate_per_s: float, burst: int) -> Decision:
        from redis.exceptions import RedisError

        try:
            allowed, tokens, wait, epoch = await self.script(
                keys=[self.prefix + bucket, self.epoch_key], args=[rate_per_s, burst]
            )
        except (RedisError, OSError) as exc:
            log.warning("rate_limiter_unavailable", error=f"{type(exc).__name__}: {exc}")
            return Decision(allowed=True, limit=burst, remaining=burst, reset_s=0, retry_after_s=0)
        return _decision(bool(allowed), float(tokens), rate_per_s, burst, float(wait), int(epoch))

    async def close(self) -> None:
        await self.client.aclose()
