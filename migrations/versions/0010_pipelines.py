"""pipelines: steps are tasks with a pipeline id, a step id and the task ids they wait for

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
DUE = "webhook_url IS NOT NULL AND webhook_notified_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("pipeline_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("step_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("depends_on", JSON, nullable=True))
        batch.add_column(sa.Column("bindings", JSON, nullable=True))
    op.create_index("ix_tasks_pipeline", "tasks", ["pipeline_id"])
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    op.create_index("ix_pipelines_owner_created", "pipelines", ["owner_id", "created_at", "id"])
    op.create_index(
        "ix_pipelines_webhook_due",
        "pipelines",
        ["finished_at"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_pipelines_webhook_due", table_name="pipelines")
    op.drop_index("ix_pipelines_owner_created", table_name="pipelines")
    op.drop_table("pipelines")
    op.drop_index("ix_tasks_pipeline", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("bindings")
        batch.drop_column("depends_on")
        batch.drop_column("step_id")
        batch.drop_column("pipeline_id")
