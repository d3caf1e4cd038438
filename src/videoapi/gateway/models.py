"""Tables of the gateway: idempotency records and the webhook outbox with its attempt log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, JSONType, UTCDateTime, new_id, utcnow


class IdempotencyRecord(Base):
    """One Idempotency-Key of one owner: in flight until `task_ids` is set with the tasks' insert."""

    __tablename__ = "idempotency_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the method, path and canonical JSON body."""
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """None while the first request is in flight."""
    task_ids: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    batch: Mapped[bool] = mapped_column(default=False)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    """An in-flight record older than this was abandoned (crashed request) and may be taken over."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("owner_id", "key"),
        Index("ix_idempotency_records_expires_at", "expires_at"),
    )


class WebhookDelivery(Base):
    """One event to send to one URL; retried until delivered, given up, or the endpoint answers 410."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    msg_id: Mapped[str] = mapped_column(String(64))
    """The `webhook-id` header: the same for every attempt (and redelivery) of one event."""
    task_id: Mapped[str] = mapped_column(String(36))
    owner_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending | succeeded | failed | disabled"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    """When it is due; a claim moves it past the attempt's timeout, so a crashed sender's claim expires."""
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_task", "task_id", "created_at"),
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(String(36))
    task_id: Mapped[str] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_webhook_attempts_task", "task_id", "attempted_at"),)


class DisabledEndpoint(Base):
    """A webhook URL that answered 410 Gone: nothing more is sent to it for this owner until a redeliver."""

    __tablename__ = "webhook_disabled_endpoints"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    disabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["DisabledEndpoint", "IdempotencyRecord", "WebhookAttempt", "WebhookDelivery"]
