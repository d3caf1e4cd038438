"""billing: quotas, reservations, usage ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("monthly_credits", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_quotas")),
    )
    op.create_table(
        "quota_reservations",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("credits", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_quota_reservations")),
    )
    op.create_index("ix_quota_reservations_owner", "quota_reservations", ["owner_id"])
    op.create_table(
        "usage_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("credits", sa.Float(), nullable=False),
        sa.Column("output_seconds", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("task_id", name=op.f("uq_usage_records_task_id")),
    )
    op.create_index("ix_usage_records_owner_created", "usage_records", ["owner_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_usage_records_owner_created", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_index("ix_quota_reservations_owner", table_name="quota_reservations")
    op.drop_table("quota_reservations")
    op.drop_table("quotas")
