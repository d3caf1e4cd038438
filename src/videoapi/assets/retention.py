"""Retention: delete inputs (24 h by default) and outputs past their age, never under a live task.

A purged asset keeps its row with `deleted_at` set, so its id answers 410 with the deletion time;
its objects are removed from the store. An asset that a waiting, queued or running task names (or,
for a waiting pipeline step, an output of a step it depends on) is kept until that task ends, and is
purged by a later run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.models import Asset
from videoapi.db.engine import transaction
from videoapi.settings import RetentionSettings
from videoapi.storage.base import ObjectStore
from videoapi.tasks.models import Task
from videoapi.tasks.states import LIVE

log = structlog.get_logger(__name__)

INPUT_ORIGINS = ("upload", "url")


@dataclass
class PurgeReport:
    deleted: list[str] = field(default_factory=list)
    """Ids of the assets purged (or that would be, on a dry run)."""
    kept_for_tasks: list[str] = field(default_factory=list)
    """Ids past their age but still needed by a live task (named by it, or made by a step it waits for)."""
    bytes_freed: int = 0


def asset_ids_in(params: Any) -> Iterator[str]:
    """Every `asset_id` value anywhere in a task's parameters (inputs, clips, overlays, music...)."""
    if isinstance(params, dict):
        for key, value in params.items():
            if key == "asset_id" and isinstance(value, str):
                yield value
            else:
                yield from asset_ids_in(value)
    elif isinstance(params, list):
        for item in params:
            yield from asset_ids_in(item)


class Retention:
    """Deletes inputs and outputs past their age, never one that a queued or running task still names."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], store: ObjectStore, settings: RetentionSettings
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings

    def _expired_where(self, now: datetime) -> list[Any]:
        settings = self.settings
        conditions = [
            (Asset.origin.in_(INPUT_ORIGINS)) & (Asset.created_at < now - timedelta(seconds=settings.inputs_s))
        ]
        if settings.outputs_s > 0:
            conditions.append(
                (Asset.origin == "output") & (Asset.created_at < now - timedelta(seconds=settings.outputs_s))
            )
        return [Asset.deleted_at.is_(None), or_(*conditions)]

    async def count_expired(self, now: datetime) -> int:
        """Assets past their age (kept ones included): the length of `videoapi purge`'s progress bar."""
        async with self.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(Asset).where(*self._expired_where(now)))
        return int(count or 0)

    async def purge_expired(self, now: datetime, *, dry_run: bool = False) -> PurgeReport:
        settings = self.settings
        report = PurgeReport()
        expired_where = self._expired_where(now)
        async with self.sessions() as session:
            live = (await session.execute(select(Task.params, Task.depends_on).where(Task.status.in_(LIVE)))).all()
            protected = {asset_id for params, _ in live for asset_id in asset_ids_in(params)}
            # A waiting pipeline step names the outputs it reads only once it is queued: until then, the
            # outputs of the steps it depends on are kept through their task ids.
            upstream = {task_id for _, depends_on in live for task_id in depends_on or ()}
            needed = []
            if protected:
                needed.append(Asset.id.in_(protected))
            if upstream:
                # `is_not(None)` first: NOT (NULL IN ...) is NULL, which would keep every upload.
                needed.append(Asset.task_id.is_not(None) & Asset.task_id.in_(upstream) & (Asset.origin == "output"))
            if needed:
                kept = await session.scalars(select(Asset.id).where(*expired_where, or_(*needed)))
                report.kept_for_tasks = list(kept)
            doomed = (
                await session.scalars(
                    select(Asset)
                    .where(*expired_where, ~or_(*needed) if needed else True)
                    .order_by(Asset.created_at)
                    .limit(settings.batch_size)
                )
            ).all()
        report.deleted = [a.id for a in doomed]
        report.bytes_freed = sum(a.size_bytes for a in doomed)
        if dry_run or not doomed:
            return report
        async with transaction(self.sessions) as session:
            # Conditional: an asset deleted meanwhile by its owner is not counted twice.
            await session.execute(
                update(Asset).where(Asset.id.in_(report.deleted), Asset.deleted_at.is_(None)).values(deleted_at=now)
            )
        for asset in doomed:
            for key in asset.object_keys:
                try:
                    await self.store.delete(key)
                except Exception:
                    # The row already says deleted; a leftover object is logged for the operator.
                    log.exception("purge_delete_failed", asset_id=asset.id, key=key)
        log.info("purged", assets=len(doomed), bytes=report.bytes_freed, kept_for_tasks=len(report.kept_for_tasks))
        return report
