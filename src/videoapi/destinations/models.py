"""Destinations (a caller's S3-compatible bucket) and the deliveries of tasks' outputs to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, JSONType, UTCDateTime, new_id, utcnow


class Destination(Base):
    __tablename__ = "destinations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    endpoint: Mapped[str] = mapped_column(String(2048))
    """`http(s)://host[:port]` of the S3 API."""
    region: Mapped[str] = mapped_column(String(64))
    bucket: Mapped[str] = mapped_column(String(63))
    prefix: Mapped[str] = mapped_column(String(512), default="")
    credentials: Mapped[str] = mapped_column(Text)
    """The access key and secret key, encrypted with `destinations.encryption_key` (Fernet); never shown."""
    access_key_hint: Mapped[str] = mapped_column(String(16))
    """The access key id masked to its last 4 characters, for the caller to recognise it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_destinations_owner_created", "owner_id", "created_at"),)


class DestinationDelivery(Base):
    """One task's outputs to one destination: `waiting` for the task, then `pending` until `delivered` or `failed`.

    Rows are written with the task (the outbox); a task that does not succeed `skipped` them."""

    __tablename__ = "destination_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    task_id: Mapped[str] = mapped_column(String(36))
    owner_id: Mapped[str] = mapped_column(String(64))
    destination_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    """waiting | pending | delivered | failed | skipped"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    """When a pending delivery is due; a claim moves it past the attempt's deadline, so a crashed claim expires."""
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    object_keys: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """Keys written in the destination bucket by the successful attempt."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_destination_deliveries_due", "status", "next_attempt_at"),
        Index("ix_destination_deliveries_task", "task_id", "created_at"),
    )


__all__ = ["Destination", "DestinationDelivery"]
