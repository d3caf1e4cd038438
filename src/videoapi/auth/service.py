"""API keys: created, revoked and given new webhook secrets from the CLI, checked on every /v1 request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, get_args

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.auth.models import DEFAULT_SCOPES, SCOPES, ApiKey
from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.errors import InvalidRequest, NotFound, Unauthorized
from videoapi.settings import Priority

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


def key_reference(value: str) -> str:
    """An id or a prefix as an operator gives it: `vk_PREFIX_…` (what `keys list` prints) and `vk_PREFIX`
    name the key with that prefix; anything else is taken as it is."""
    text = value.strip().removesuffix("…").removesuffix("...").rstrip("_")
    parts = text.split("_")
    if len(parts) == 2 and parts[0] == KEY_PREFIX and len(parts[1]) == 12:
        return parts[1]
    return value


class KeyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], revocations: Any = None) -> None:
        self.sessions = sessions
        self.revocations = revocations
        """gateway.keycache.Revocations when API processes cache keys (Redis rate limiter); else None."""

    async def close(self) -> None:
        if self.revocations is not None:
            await self.revocations.close()

    async def create(
        self,
        name: str,
        *,
        scopes: Sequence[str] | None = None,
        allow_ips: Sequence[str] | None = None,
        rate_per_s: float | None = None,
        burst: int | None = None,
        max_priority: str | None = None,
        max_active_tasks: int | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; the plaintext is returned once and never stored.

        Raises InvalidRequest for an unknown scope, a bad CIDR or priority, or a non-positive limit.
        """
        scopes = list(dict.fromkeys(scopes)) if scopes else list(DEFAULT_SCOPES)
        _check_key_options(scopes, allow_ips, rate_per_s, burst, max_priority, max_active_tasks)
        prefix = secrets.token_hex(6)
        plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
        key = ApiKey(
            name=name,
            prefix=prefix,
            key_hash=hash_key(plaintext),
            created_at=utcnow(),
            scopes=scopes,
            allow_ips=[str(ipaddress.ip_network(c, strict=False)) for c in allow_ips] if allow_ips else None,
            rate_per_s=rate_per_s,
            burst=burst,
            max_priority=max_priority,
            max_active_tasks=max_active_tasks,
            webhook_secrets=[{"secret": new_webhook_secret(), "expires_at": None}],
        )
        async with transaction(self.sessions) as session:
            session.add(key)
        return key, plaintext

    async def rotate_webhook_secret(self, key_id_or_prefix: str, keep_old_s: float = 24 * 3600.0) -> ApiKey:
        """Add a new signing secret; the current ones keep signing too for `keep_old_s`, then expire."""
        now = utcnow()
        expires = (now + timedelta(seconds=keep_old_s)).isoformat()
        async with transaction(self.sessions) as session:
            key = await session.scalar(select(ApiKey).where(_by_id_or_prefix(key_id_or_prefix)))
            if key is None:
                raise NotFound(f"no API key {key_id_or_prefix}")
            kept = [
                {"secret": s["secret"], "expires_at": s["expires_at"] or expires}
                for s in active_secrets(key.webhook_secrets, now)
            ]
            key.webhook_secrets = [{"secret": new_webhook_secret(), "expires_at": None}, *kept]
        return key

    async def webhook_secrets(self, owner_id: str) -> list[str]:
        """The unexpired signing secrets of the key that owns these tasks (the owner id is the key id)."""
        async with self.sessions() as session:
            stored = await session.scalar(select(ApiKey.webhook_secrets).where(ApiKey.id == owner_id))
        return [s["secret"] for s in active_secrets(stored or [], utcnow())]

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

    async def active(self, key_id: str) -> ApiKey:
        """The key with this id; 401 `invalid_api_key` when it is unknown or revoked."""
        async with self.sessions() as session:
            key = await session.get(ApiKey, key_id)
        if key is None or key.revoked_at is not None:
            raise Unauthorized("the API key is missing, malformed, unknown or revoked", code="invalid_api_key")
        return key

    async def list(self) -> list[ApiKey]:
        async with self.sessions() as session:
            return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())

    async def find(self, key_id_or_prefix: str) -> ApiKey:
        """The key with this id or prefix, revoked or not; 404 `not_found` when there is none."""
        async with self.sessions() as session:
            key = await session.scalar(select(ApiKey).where(_by_id_or_prefix(key_id_or_prefix)))
        if key is None:
            raise NotFound(f"no API key {key_id_or_prefix}")
        return key

    async def revoke(self, key_id_or_prefix: str) -> ApiKey:
        async with transaction(self.sessions) as session:
            key = await session.scalar(select(ApiKey).where(_by_id_or_prefix(key_id_or_prefix)))
            if key is None:
                raise NotFound(f"no API key {key_id_or_prefix}")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
        if self.revocations is not None:
            # After the commit: API processes that cached the key see a new epoch and re-read it.
            await self.revocations.bump()
        return key

    async def count_active(self) -> int:
        async with self.sessions() as session:
            keys = (await session.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)))).all()
        return len(keys)


def _by_id_or_prefix(value: str) -> Any:
    value = key_reference(value)
    return (ApiKey.id == value) | (ApiKey.prefix == value)


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def subject_webhook_secret(master: str, owner_id: str) -> str:
    """The signing secret of an owner without an API key (a JWT subject), derived from `master`.

    HMAC-SHA256 of the owner id under the server's `gateway.webhook_secret`: every process derives
    the same secret without storing it, one subject's secret tells nothing of another's, and
    changing the master changes them all.
    """
    digest = hmac.new(master.encode(), b"videoapi webhook secret\0" + owner_id.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest[:24]).decode()


def active_secrets(stored: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    return [s for s in stored if not s.get("expires_at") or datetime.fromisoformat(s["expires_at"]) > now]


def _check_key_options(
    scopes: Sequence[str],
    allow_ips: Sequence[str] | None,
    rate_per_s: float | None,
    burst: int | None,
    max_priority: str | None,
    max_active_tasks: int | None,
) -> None:
    if unknown := [s for s in scopes if s not in SCOPES]:
        raise InvalidRequest(f"unknown scope(s) {unknown}; known: {list(SCOPES)}", code="invalid_scope")
    for cidr in allow_ips or ():
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise InvalidRequest(f"{cidr!r} is not an IPv4 or IPv6 network (CIDR)", code="invalid_cidr") from None
    if max_priority is not None and max_priority not in get_args(Priority):
        raise InvalidRequest(f"max priority must be one of {list(get_args(Priority))}", code="invalid_priority")
    for label, value in (("rate", rate_per_s), ("burst", burst), ("max active tasks", max_active_tasks)):
        if value is not None and value <= 0:
            raise InvalidRequest(f"{label} must be positive", code="invalid_limit")
