"""task events: a per-task version and the time it last changed, for the event streams

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE tasks SET changed_at = updated_at")
    with op.batch_alter_table("tasks") as batch:
        batch.alter_column("changed_at", nullable=False)
    op.create_index("ix_tasks_owner_changed", "tasks", ["owner_id", "changed_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_owner_changed", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("changed_at")
        batch.drop_column("version")
