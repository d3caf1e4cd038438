"""Per-owner policies set by the operator: trial status, a default visible watermark, custom text
rules and an output threshold. An owner is an API key (its id) or a JWT subject."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Boolean, Float, String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, JSONType, UTCDateTime, utcnow
from videoapi.db.engine import read_connection, transaction


class OwnerPolicy(Base):
    __tablename__ = "owner_policies"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trial: Mapped[bool] = mapped_column(Boolean, default=False)
    """Trial owners get the operator's trial watermark on every output, whatever they ask."""
    watermark: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """Default visible watermark (the request's `watermark` fields) when a request gives none."""
    moderation_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """Extra text rules, in the layout of config/moderation.toml, added to the shipped ones."""
    output_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Output-scan threshold for this owner; None: `moderation.output_threshold`."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Policy(msgspec.Struct, frozen=True):
    trial: bool = False
    watermark: dict[str, Any] | None = None
    moderation_rules: dict[str, Any] | None = None
    output_threshold: float | None = None


_SELECT_POLICY = select(
    OwnerPolicy.trial, OwnerPolicy.watermark, OwnerPolicy.moderation_rules, OwnerPolicy.output_threshold
).where(OwnerPolicy.owner_id == bindparam("owner_id"))


class PolicyService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], read_sessions: async_sessionmaker[AsyncSession] | None = None
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        """For `get`, read on every create: autocommit on PostgreSQL, one round trip instead of three."""

    async def get(self, owner_id: str) -> Policy:
        """The owner's policy, read on every create: one Core select (no ORM session around it)."""
        async with read_connection(self.read_sessions) as connection:
            row = (await connection.execute(_SELECT_POLICY, {"owner_id": owner_id})).one_or_none()
        return Policy() if row is None else Policy(*row)

    async def update(self, owner_id: str, **changes: Any) -> Policy:
        """Set the given fields (None clears a field; `trial` takes a bool)."""
        async with transaction(self.sessions) as session:
            row = await session.get(OwnerPolicy, owner_id)
            if row is None:
                row = OwnerPolicy(owner_id=owner_id, trial=False)
                session.add(row)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
        return await self.get(owner_id)
