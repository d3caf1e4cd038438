"""Templates and their versions: every PUT adds a version row, and version rows are never changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, JSONType, UTCDateTime, new_id, utcnow


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_templates_owner_created", "owner_id", "created_at"),)


class TemplateVersion(Base):
    """One immutable version: the template body (timeline and output with placeholders) and its fields."""

    __tablename__ = "template_versions"

    template_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("templates.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """`timeline` and `output`, as given."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
