"""task counters: queued tasks per queue and unfinished (waiting, queued, running) tasks per owner, kept by every transition

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_counters",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "shard"),
    )
    # Start from the rows as they are; from now on every transition keeps the counts.
    op.execute(
        "INSERT INTO task_counters (scope, shard, count) "
        "SELECT 'queue:' || queue, 0, COUNT(*) FROM tasks WHERE status = 'queued' GROUP BY queue"
    )
    op.execute(
        "INSERT INTO task_counters (scope, shard, count) "
        "SELECT 'owner:' || owner_id, 0, COUNT(*) FROM tasks WHERE status IN ('waiting', 'queued', 'running') GROUP BY owner_id"
    )


def downgrade() -> None:
    op.drop_table("task_counters")
