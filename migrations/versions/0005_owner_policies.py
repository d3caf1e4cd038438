"""owner policies: trial, default watermark, custom rules, output threshold

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "owner_policies",
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("trial", sa.Boolean(), nullable=False),
        sa.Column("watermark", JSON, nullable=True),
        sa.Column("moderation_rules", JSON, nullable=True),
        sa.Column("output_threshold", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_owner_policies")),
    )


def downgrade() -> None:
    op.drop_table("owner_policies")
