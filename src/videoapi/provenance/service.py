"""Watermark detection for the API and the CLI: read the token, then name the task it belongs to."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.schemas import InputRef
from videoapi.assets.service import AssetService, content_type_for
from videoapi.provenance.credentials import read_credentials
from videoapi.provenance.watermark import Detection, WatermarkKey, detect_file
from videoapi.settings import LimitSettings
from videoapi.tasks.models import Task


class DetectRequest(msgspec.Struct, forbid_unknown_fields=True):
    input: InputRef
    """The video or image to examine: an asset id or an http(s) URL."""


class DetectOut(msgspec.Struct):
    found: bool
    token: str | None
    """12 hex digits carried by the file: the start of the id of the task that made it."""
    task_id: str | None
    """The task, when it is one of the caller's."""
    frames: int
    agreement: float
    """Share of frame/bit readings that agree with the token (near 1.0 for an unharmed file)."""
    credentials: dict[str, Any] | None = None
    """The file's C2PA manifest, if any: validation state, whether it says AI-generated, issuer."""


class Detector:
    """Reads the invisible watermark and the Content Credentials of a file, and names the task it came from."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        assets: AssetService,
        key: WatermarkKey,
        max_frames: int,
        limits: LimitSettings,
    ) -> None:
        self.sessions = sessions
        self.assets = assets
        self.key = key
        self.max_frames = max_frames
        self.limits = limits

    def detect_path(self, path: Path) -> Detection:
        return detect_file(path, self.key, limits=self.limits, max_frames=self.max_frames)

    async def task_for_token(self, token: str, owner_id: str | None) -> str | None:
        prefix = f"{token[:8]}-{token[8:12]}"
        query = select(Task.id).where(Task.id.like(f"{prefix}%"))
        if owner_id is not None:
            query = query.where(Task.owner_id == owner_id)
        async with self.sessions() as session:
            ids = (await session.scalars(query.limit(2))).all()
        return ids[0] if len(ids) == 1 else None

    async def detect_input(self, owner_id: str, ref: InputRef) -> DetectOut:
        await self.assets.check_input(owner_id, ref)
        async with self.assets.admission.slot(owner_id, "watermark reads"):
            scratch = self.assets.scratch_dir()
            try:
                local = await self.assets.resolve_input(owner_id, ref, scratch)
                found = await asyncio.to_thread(self.detect_path, local.path)
                manifest = await asyncio.to_thread(read_credentials, local.path, content_type_for(local.media))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        task_id = await self.task_for_token(found.token, owner_id) if found.token else None
        return DetectOut(found.found, found.token, task_id, found.frames, found.agreement, manifest)
