"""Billing tables: monthly quotas, reservations held by queued/running tasks, and the usage ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, UTCDateTime, new_id, utcnow


class Quota(Base):
    __tablename__ = "quotas"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    monthly_credits: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reservation(Base):
    """Credits set aside at submission for one task; settled (charged) or released when it ends."""

    __tablename__ = "quota_reservations"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64))
    credits: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_quota_reservations_owner", "owner_id"),)


class UsageRecord(Base):
    """One row per succeeded task (unique task id: a retried task is charged once)."""

    __tablename__ = "usage_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    credits: Mapped[float] = mapped_column(Float)
    output_seconds: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(8))
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_usage_records_owner_created", "owner_id", "created_at"),)
