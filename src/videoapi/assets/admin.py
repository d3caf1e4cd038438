"""Operator reads of the asset table: what the store holds, by origin, media type and owner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.models import Asset

MEDIA_TYPES = ("video", "image", "audio")


@dataclass
class Tally:
    count: int = 0
    size_bytes: int = 0

    def add(self, count: int, size_bytes: int) -> None:
        self.count += count
        self.size_bytes += size_bytes


@dataclass
class AssetUsage:
    """Stored (not yet purged) assets; `purged` counts rows whose files retention already deleted."""

    total: Tally = field(default_factory=Tally)
    by_origin: dict[str, Tally] = field(default_factory=dict)
    """upload | url | output"""
    by_media_type: dict[str, Tally] = field(default_factory=dict)
    """video | image | audio | other, from the content type."""
    by_owner: dict[str, Tally] = field(default_factory=dict)
    """Largest first; at most `top_owners` entries."""
    owners: int = 0
    """Owners with at least one stored asset."""
    purged: int = 0


async def asset_usage(sessions: async_sessionmaker[AsyncSession], top_owners: int = 0) -> AssetUsage:
    """Counts and bytes of stored assets; `top_owners` > 0 keeps only that many owners."""
    usage = AssetUsage()
    stored = Asset.deleted_at.is_(None)
    size = func.coalesce(func.sum(Asset.size_bytes), 0)

    def grouped(column: Any) -> Any:
        return select(column, func.count(), size).where(stored).group_by(column)

    async with sessions() as session:
        by_origin = (await session.execute(grouped(Asset.origin).order_by(Asset.origin))).all()
        by_type = (await session.execute(grouped(Asset.content_type))).all()
        owners = grouped(Asset.owner_id).order_by(size.desc(), Asset.owner_id)
        by_owner = (await session.execute(owners.limit(top_owners) if top_owners > 0 else owners)).all()
        usage.owners = int(await session.scalar(select(func.count(func.distinct(Asset.owner_id))).where(stored)) or 0)
        purged = select(func.count()).select_from(Asset).where(Asset.deleted_at.is_not(None))
        usage.purged = int(await session.scalar(purged) or 0)
    for origin, count, size_bytes in by_origin:
        usage.by_origin[origin] = Tally(int(count), int(size_bytes))
        usage.total.add(int(count), int(size_bytes))
    for content_type, count, size_bytes in by_type:
        major = content_type.split("/", 1)[0]
        media_type = major if major in MEDIA_TYPES else "other"
        usage.by_media_type.setdefault(media_type, Tally()).add(int(count), int(size_bytes))
    usage.by_media_type = dict(sorted(usage.by_media_type.items()))
    for owner, count, size_bytes in by_owner:
        usage.by_owner[owner] = Tally(int(count), int(size_bytes))
    return usage
