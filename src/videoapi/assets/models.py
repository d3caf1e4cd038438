"""Assets: uploaded or fetched inputs and produced outputs, each one object in the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, JSONType, UTCDateTime, new_id, utcnow


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16))  # upload | url | output
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(512))
    poster_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    media: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_assets_owner_created", "owner_id", "created_at"),)

    @property
    def object_keys(self) -> list[str]:
        """Every object of the asset: its file, its poster, and for an HLS output each playlist and segment."""
        files = self.media.get("hls_files", []) if isinstance(self.media, dict) else []
        return [k for k in (self.storage_key, self.poster_key, *files) if k]


class StorageQuota(Base):
    """Bytes one owner may keep in the store (its assets and outputs); no row: `limits.storage_quota_bytes`."""

    __tablename__ = "storage_quotas"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    max_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """None: unlimited for this owner, whatever the default."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
