"""Idempotency-Key: the first request with a key creates its tasks; a retry with the same body gets them back.

A record is written when the first request starts (in flight) and completed, with the task ids,
in the transaction that inserts the tasks; so either both exist or neither does. A failed request
deletes its record, so the client can correct the body and retry with the same key. A record whose
request crashed stays in flight until `gateway.idempotency_lock_s`, then the key can be used again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.errors import Conflict, InvalidRequest
from videoapi.gateway.models import IdempotencyRecord
from videoapi.settings import GatewaySettings

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft's examples


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the request; JSON bodies are compared by value (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


def check_key(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise InvalidRequest(
            f"the {HEADER} header must be 1 to 255 visible ASCII characters",
            code="invalid_idempotency_key",
            errors=[{"field": HEADER, "message": "1 to 255 visible ASCII characters", "source": "header"}],
        )
    return value


@dataclass(frozen=True)
class Replay:
    status_code: int
    task_ids: list[str]
    batch: bool


class IdempotencyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: GatewaySettings) -> None:
        self.sessions = sessions
        self.settings = settings

    async def begin(self, owner_id: str, key: str, print_: str, *, batch: bool) -> str | Replay:
        """Hold `key` for this request (returns the record id) or return the response to replay.

        Raises Conflict: `idempotency_key_reused` (another body) or `idempotency_in_flight`.
        """
        now = utcnow()
        record = IdempotencyRecord(
            owner_id=owner_id,
            key=key,
            fingerprint=print_,
            batch=batch,
            locked_until=now + timedelta(seconds=self.settings.idempotency_lock_s),
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.idempotency_ttl_s),
        )
        try:
            async with transaction(self.sessions) as session:
                session.add(record)
            return record.id
        except IntegrityError:
            pass
        async with self.sessions() as session:
            found = await session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.owner_id == owner_id, IdempotencyRecord.key == key)
            )
        if found is None:  # deleted meanwhile (a failed first request): try once more
            return await self.begin(owner_id, key, print_, batch=batch)
        abandoned = found.status_code is None and found.locked_until < now
        if found.expires_at < now or abandoned:
            return await self._take_over(found, record)
        if found.fingerprint != print_:
            raise Conflict(
                f"the {HEADER} {key!r} was used with another request; use a new key for a new request",
                code="idempotency_key_reused",
            )
        if found.status_code is None or found.task_ids is None:
            raise Conflict(
                f"a request with the {HEADER} {key!r} is still in progress; retry when it has finished",
                code="idempotency_in_flight",
                headers={"Retry-After": "1"},
            )
        return Replay(found.status_code, list(found.task_ids), found.batch)

    async def _take_over(self, found: IdempotencyRecord, fresh: IdempotencyRecord) -> str | Replay:
        async with transaction(self.sessions) as session:
            done = await session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.id == found.id,
                    IdempotencyRecord.expires_at == found.expires_at,
                    IdempotencyRecord.locked_until == found.locked_until,
                )
                .values(
                    fingerprint=fresh.fingerprint,
                    batch=fresh.batch,
                    status_code=None,
                    task_ids=None,
                    locked_until=fresh.locked_until,
                    created_at=fresh.created_at,
                    expires_at=fresh.expires_at,
                )
            )
        if done.rowcount:
            return found.id
        return await self.begin(found.owner_id, found.key, fresh.fingerprint, batch=fresh.batch)

    async def complete(self, session: AsyncSession, record_id: str, status_code: int, task_ids: list[str]) -> None:
        """Within the transaction that inserts the tasks."""
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(status_code=status_code, task_ids=task_ids)
        )

    async def release(self, record_id: str) -> None:
        """The request failed: forget the key so that a corrected retry can use it."""
        async with transaction(self.sessions) as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == record_id, IdempotencyRecord.status_code.is_(None)
                )
            )

    async def purge(self) -> int:
        async with transaction(self.sessions) as session:
            done = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow()))
        return done.rowcount or 0
