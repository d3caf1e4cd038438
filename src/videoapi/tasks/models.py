"""The task table: one row per request that does work; the source of truth for its state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, JSONType, UTCDateTime, new_id, utcnow


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=1)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    time_limit_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Limit of one attempt, scaled to the work at submission; None: the kind's configured limit."""
    batch_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """Tasks with equal keys on one queue may run as one batch (generation); None: never batched."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    """Raised by one on every change a caller can see (status, progress, cancel request, result):
    the event id of the task's event stream (`GET /v1/video/tasks/{id}/events`)."""
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    """When `version` last rose; unlike `updated_at` it ignores bookkeeping (leases, webhook outbox).
    The cursor of the caller's event stream and of the task-table event poller."""
    webhook_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the terminal state's webhook delivery was queued; None on a finished task with a
    webhook_url: the gateway's dispatcher has yet to queue it (an outbox read by one partial index)."""
    pipeline_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    """The pipeline this task is a step of; None for a task created alone."""
    step_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The step's `id` in its pipeline."""
    depends_on: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    """Task ids of the steps this one reads outputs of: it is `waiting` until they all succeeded."""
    bindings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    """Where the outputs of those steps go in `params` (tasks.pipelines.Binding), filled in when it is queued."""

    __table_args__ = (
        # The claim: best queued task of a queue (priority, then age).
        Index("ix_tasks_claim", "queue", "status", "priority", "created_at"),
        Index("ix_tasks_owner_created", "owner_id", "created_at", "id"),
        Index("ix_tasks_status_lease", "status", "lease_expires_at"),
        Index("ix_tasks_batch", "queue", "status", "batch_key"),
        Index("ix_tasks_owner_status", "owner_id", "status"),
        Index("ix_tasks_owner_changed", "owner_id", "changed_at"),
        Index("ix_tasks_pipeline", "pipeline_id"),
        Index(
            "ix_tasks_webhook_due",
            "finished_at",
            postgresql_where=text("webhook_url IS NOT NULL AND webhook_notified_at IS NULL"),
            sqlite_where=text("webhook_url IS NOT NULL AND webhook_notified_at IS NULL"),
        ),
    )


class Pipeline(Base):
    """Steps run as tasks (`Task.pipeline_id`); this row holds what belongs to the whole: its status,
    its webhook outbox, the order of its steps. Every change to it happens under its row lock."""

    __tablename__ = "pipelines"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    """running | succeeded | failed | canceled"""
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    """The steps in request order: `{"id": step id, "task_id": ...}`."""
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """As Task.webhook_notified_at: None on a finished pipeline with a webhook_url is the outbox."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_pipelines_owner_created", "owner_id", "created_at", "id"),
        Index(
            "ix_pipelines_webhook_due",
            "finished_at",
            postgresql_where=text("webhook_url IS NOT NULL AND webhook_notified_at IS NULL"),
            sqlite_where=text("webhook_url IS NOT NULL AND webhook_notified_at IS NULL"),
        ),
    )
