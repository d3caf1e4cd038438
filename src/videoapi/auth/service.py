"""API keys: created and revoked from the CLI, checked on every /v1 request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.auth.models import ApiKey
from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.errors import NotFound, Unauthorized

KEY_PREFIX = "vk"
LAST_USED_RESOLUTION = timedelta(minutes=5)
# Compared against when the prefix is unknown, so a miss costs the same as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def hash_key(plaintext: str) -> str:
    # Keys carry 192 bits of randomness, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(plaintext.encode()).hexdigest()


def parse_key(plaintext: str) -> str | None:
    """Return the lookup prefix of a well-formed key, else None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


class KeyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def create(self, name: str) -> tuple[ApiKey, str]:
        """Create a key; the plaintext is returned once and never stored."""
        prefix = secrets.token_hex(6)
        plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
        key = ApiKey(name=name, prefix=prefix, key_hash=hash_key(plaintext), created_at=utcnow())
        async with transaction(self.sessions) as session:
            session.add(key)
        return key, plaintext

    async def authenticate(self, plaintext: str) -> ApiKey:
        prefix = parse_key(plaintext)
        key = None
        if prefix is not None:
            async with self.sessions() as session:
                key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        matches = hmac.compare_digest(key.key_hash if key else _DUMMY_HASH, hash_key(plaintext))
        if key is None or not matches or key.revoked_at is not None:
            raise Unauthorized("the API key is missing, malformed, unknown or revoked", code="invalid_api_key")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            async with transaction(self.sessions) as session:
                await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        return key

    async def list(self) -> list[ApiKey]:
        async with self.sessions() as session:
            return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())

    async def revoke(self, key_id_or_prefix: str) -> ApiKey:
        async with transaction(self.sessions) as session:
            key = await session.scalar(
                select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
            )
            if key is None:
                raise NotFound(f"no API key {key_id_or_prefix}")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
        return key

    async def count_active(self) -> int:
        async with self.sessions() as session:
            keys = (await session.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)))).all()
        return len(keys)
