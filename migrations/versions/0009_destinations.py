"""destinations: callers' S3-compatible buckets, and the deliveries of tasks' outputs to them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.String(length=63), nullable=False),
        sa.Column("prefix", sa.String(length=512), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("access_key_hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destinations")),
    )
    op.create_index("ix_destinations_owner_created", "destinations", ["owner_id", "created_at"])
    op.create_table(
        "destination_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("destination_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("object_keys", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destination_deliveries")),
    )
    op.create_index("ix_destination_deliveries_due", "destination_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_destination_deliveries_task", "destination_deliveries", ["task_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_destination_deliveries_task", table_name="destination_deliveries")
    op.drop_index("ix_destination_deliveries_due", table_name="destination_deliveries")
    op.drop_table("destination_deliveries")
    op.drop_index("ix_destinations_owner_created", table_name="destinations")
    op.drop_table("destinations")
