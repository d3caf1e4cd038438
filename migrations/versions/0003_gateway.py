"""gateway: key scopes and limits, idempotency records, webhook outbox and attempt log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import base64
import json
import secrets

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WEBHOOK_DUE = "webhook_url IS NOT NULL AND webhook_notified_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("scopes", JSON, nullable=False, server_default=sa.text('\'["generate", "edit", "read"]\''))
        )
        batch.add_column(sa.Column("allow_ips", JSON, nullable=True))
        batch.add_column(sa.Column("rate_per_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("burst", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_priority", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("max_active_tasks", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("webhook_secrets", JSON, nullable=False, server_default=sa.text("'[]'")))
    # Existing keys get a webhook signing secret each (new keys get one when created).
    conn = op.get_bind()
    for (key_id,) in conn.execute(sa.text("SELECT id FROM api_keys")).all():
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        value = json.dumps([{"secret": secret, "expires_at": None}])
        conn.execute(sa.text("UPDATE api_keys SET webhook_secrets = :v WHERE id = :id"), {"v": value, "id": key_id})

    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("webhook_notified_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_tasks_owner_status", "tasks", ["owner_id", "status"])
    op.create_index(
        "ix_tasks_webhook_due",
        "tasks",
        ["finished_at"],
        postgresql_where=sa.text(WEBHOOK_DUE),
        sqlite_where=sa.text(WEBHOOK_DUE),
    )
    # Tasks that finished before this revision are not announced now.
    conn.execute(
        sa.text(
            "UPDATE tasks SET webhook_notified_at = finished_at"
            " WHERE finished_at IS NOT NULL AND webhook_url IS NOT NULL AND webhook_notified_at IS NULL"
        )
    )

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("task_ids", JSON, nullable=True),
        sa.Column("batch", sa.Boolean(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("owner_id", "key", name=op.f("uq_idempotency_records_owner_id_key")),
    )
    op.create_index("ix_idempotency_records_expires_at", "idempotency_records", ["expires_at"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_task", "webhook_deliveries", ["task_id", "created_at"])

    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_task", "webhook_attempts", ["task_id", "attempted_at"])

    op.create_table(
        "webhook_disabled_endpoints",
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("url_hash", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "url_hash", name=op.f("pk_webhook_disabled_endpoints")),
    )


def downgrade() -> None:
    op.drop_table("webhook_disabled_endpoints")
    op.drop_index("ix_webhook_attempts_task", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_task", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_idempotency_records_expires_at", table_name="idempotency_records")
    op.drop_table("idempotency_records")
    op.drop_index("ix_tasks_webhook_due", table_name="tasks")
    op.drop_index("ix_tasks_owner_status", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("webhook_notified_at")
    with op.batch_alter_table("api_keys") as batch:
        for name in (
            "webhook_secrets",
            "max_active_tasks",
            "max_priority",
            "burst",
            "rate_per_s",
            "allow_ips",
            "scopes",
        ):
            batch.drop_column(name)
