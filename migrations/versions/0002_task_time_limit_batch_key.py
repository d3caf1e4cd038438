"""task time limit and batch key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("time_limit_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("batch_key", sa.String(length=255), nullable=True))
    op.create_index("ix_tasks_batch", "tasks", ["queue", "status", "batch_key"])


def downgrade() -> None:
    op.drop_index("ix_tasks_batch", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("batch_key")
        batch.drop_column("time_limit_s")
