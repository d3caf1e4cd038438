"""API keys cached per process, trusted only while the revocation epoch in Redis is unchanged.

A revoke commits in the database, then increments the epoch. A cache entry records the epoch read
*before* its row was read, and every request learns the current epoch from the same Redis call that
spends its rate-limit token; a different epoch (or no answer from Redis) sends the request back to
the database. So a revoked key stops working at its next request, with one Redis round trip instead of
a database query per request. Entries also expire after `ttl_s`, whatever Redis says.
"""

from __future__ import annotations

import time

from videoapi.auth.models import ApiKey
from videoapi.auth.service import hash_key
from videoapi.observability.logging import get_logger

log = get_logger(__name__)


def epoch_key(namespace: str) -> str:
    return f"{namespace}:keys:epoch"


class Revocations:
    """The revocation epoch: a counter in Redis, incremented after every revoke."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.key = epoch_key(namespace)

    async def bump(self) -> None:
        await self.client.incr(self.key)

    async def epoch(self) -> int | None:
        """None when Redis cannot say: the caller must not cache."""
        from redis.exceptions import RedisError

        try:
            return int(await self.client.get(self.key) or 0)
        except (RedisError, OSError) as exc:
            log.warning("revocation_epoch_unavailable", error=f"{type(exc).__name__}: {exc}")
            return None

    async def close(self) -> None:
        await self.client.aclose()


class KeyCache:
    def __init__(self, ttl_s: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[ApiKey, int, float]] = {}

    def get(self, token: str) -> tuple[ApiKey, int] | None:
        entry = self._entries.get(hash_key(token))
        if entry is None or time.monotonic() - entry[2] > self.ttl_s:
            return None
        return entry[0], entry[1]

    def put(self, token: str, key: ApiKey, epoch: int) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[hash_key(token)] = (key, epoch, time.monotonic())

    def drop(self, token: str) -> None:
        self._entries.pop(hash_key(token), None)
