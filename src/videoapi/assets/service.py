"""Assets: register uploads and URL inputs (probed first), resolve task inputs, sign downloads."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.models import Asset, StorageQuota
from videoapi.assets.schemas import AssetOut, InputRef
from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.errors import Gone, InvalidRequest, NotFound, PaymentRequired
from videoapi.media.admission import MediaAdmission
from videoapi.media.fetch import fetch_url
from videoapi.media.formats import read_master, read_playlist_s, stream_content_type
from videoapi.media.probe import MediaInfo, probe
from videoapi.settings import Settings
from videoapi.storage.signing import load_signing_secret, stream_url

if TYPE_CHECKING:
    from videoapi.storage.base import ObjectStore

CONTENT_TYPES = {
    "mov": "video/quicktime",
    "mp4": "video/mp4",
    "matroska": "video/x-matroska",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "flv": "video/x-flv",
    "mpegts": "video/mp2t",
    "ogg": "video/ogg",
    "gif": "image/gif",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}


CONTENT_TYPES_HLS = "application/vnd.apple.mpegurl"

WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})
"""What a WebM file may hold; Matroska holding anything else is plain Matroska."""


def content_type_for(media: MediaInfo) -> str:
    """The MIME type from the container and the streams probed in it: the demuxer alone names a family
    (mp4/m4a, matroska/webm, ogg) whose type depends on whether there is video, and on the codecs."""
    names = {name.removesuffix("_pipe") for name in media.format_name.split(",")}
    major = "audio" if media.video is None and media.audio is not None else "video"
    if "mp4" in names:
        return f"{major}/mp4"
    if "matroska" in names:
        codecs = {stream.codec for stream in (media.video, media.audio) if stream is not None}
        return f"{major}/webm" if "webm" in names and codecs <= WEBM_CODECS else f"{major}/x-matroska"
    if "ogg" in names:
        return f"{major}/ogg"
    for name in media.format_name.split(","):
        stem = name.removesuffix("_pipe")
        if stem in CONTENT_TYPES:
            return CONTENT_TYPES[stem]
    return "application/octet-stream"


@dataclass
class LocalInput:
    """A task input available as a local file for ffmpeg, with its probe."""

    path: Path
    media: MediaInfo
    asset_id: str | None = None


_PLACEHOLDERS: ContextVar[frozenset[str]] = ContextVar("input_placeholders", default=frozenset())


@contextmanager
def placeholder_inputs(asset_ids: Iterable[str]) -> Iterator[None]:
    """While validating a pipeline step, these asset ids stand for outputs of earlier steps: `check_input`
    treats them as inputs not probed yet (like URLs), so each kind runs the checks it runs without a probe."""
    token = _PLACEHOLDERS.set(frozenset(asset_ids))
    try:
        yield
    finally:
        _PLACEHOLDERS.reset(token)


class AssetService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: ObjectStore,
        settings: Settings,
        admission: MediaAdmission | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings
        self._secret: bytes | None = None
        # Bounds the fetches and reads this process does for requests (not those of workers' tasks).
        self.admission = admission or MediaAdmission(
            settings.limits.max_media_reads_per_owner, settings.limits.max_media_reads
        )

    async def signed_url(self, key: str, filename: str | None = None) -> str:
        """A fresh URL of a stored object; a playlist's URL signs its folder (`stream_url`) so that a player
        can follow its references to every rendition and segment."""
        ttl = self.settings.storage.url_ttl_s
        if key.endswith(".m3u8"):
            if self._secret is None:
                self._secret = load_signing_secret(self.settings)
            return stream_url(self.settings.server.base_url, key, int(time.time()) + ttl, self._secret)
        return await self.store.signed_url(key, expires_s=ttl, filename=filename)

    def scratch_dir(self) -> Path:
        path = self.settings.work_dir / f"in-{uuid.uuid4().hex}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def storage_usage(self, owner_id: str) -> tuple[int, int | None]:
        """(bytes the owner keeps in the store, its storage quota in bytes or None for unlimited)."""
        async with self.sessions() as session:
            used = await session.scalar(
                select(func.coalesce(func.sum(Asset.size_bytes), 0)).where(
                    Asset.owner_id == owner_id, Asset.deleted_at.is_(None)
                )
            )
            row = await session.get(StorageQuota, owner_id)
        return int(used or 0), row.max_bytes if row is not None else self.settings.limits.storage_quota_bytes

    async def set_storage_quota(self, owner_id: str, max_bytes: int | None) -> None:
        async with transaction(self.sessions) as session:
            row = await session.get(StorageQuota, owner_id)
            if row is None:
                session.add(StorageQuota(owner_id=owner_id, max_bytes=max_bytes, updated_at=utcnow()))
            else:
                row.max_bytes, row.updated_at = max_bytes, utcnow()

    async def clear_storage_quota(self, owner_id: str) -> None:
        async with transaction(self.sessions) as session:
            row = await session.get(StorageQuota, owner_id)
            if row is not None:
                await session.delete(row)

    async def check_storage(self, owner_id: str, adding: int) -> None:
        used, quota = await self.storage_usage(owner_id)
        if quota is not None and used + adding > quota:
            raise PaymentRequired(
                f"storing {adding} more bytes would pass the storage quota of {quota} bytes ({used} in use); "
                "delete assets or ask for a larger quota",
                code="storage_quota_exceeded",
            )

    async def register_file(
        self,
        owner_id: str,
        path: Path,
        *,
        origin: str,
        filename: str | None = None,
        source_url: str | None = None,
    ) -> Asset:
        """Probe a local file, refuse it if it is not usable media, then move it into the store."""
        if origin != "output":  # a finished task's outputs are kept; new inputs are what the quota stops
            await self.check_storage(owner_id, path.stat().st_size)
        media = await asyncio.to_thread(probe, path, self.settings.limits)
        asset_id = str(uuid.uuid4())
        key = f"assets/{asset_id}/source"
        content_type = content_type_for(media)
        size = await self.store.put_file(key, path, content_type, move=True)
        asset = Asset(
            id=asset_id,
            owner_id=owner_id,
            origin=origin,
            filename=_clean_filename(filename),
            content_type=content_type,
            size_bytes=size,
            storage_key=key,
            source_url=source_url,
            media=msgspec.to_builtins(media),
            created_at=utcnow(),
        )
        async with transaction(self.sessions) as session:
            session.add(asset)
        return asset

    async def register_url(self, owner_id: str, url: str) -> Asset:
        async with self.admission.slot(owner_id, "URL asset fetches"):
            scratch = self.scratch_dir()
            try:
                dest = scratch / "download"
                fetched = await fetch_url(url, dest, limits=self.settings.limits)
                return await self.register_file(owner_id, dest, origin="url", source_url=fetched.final_url)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    async def get(self, asset_id: str, owner_id: str | None) -> Asset:
        async with self.sessions() as session:
            asset = await session.get(Asset, asset_id)
        if asset is None or (owner_id is not None and asset.owner_id != owner_id):
            raise NotFound(f"asset {asset_id} not found", code="asset_not_found")
        if asset.deleted_at is not None:
            raise Gone(
                f"asset {asset_id} was deleted at {asset.deleted_at.isoformat()} and its file is gone",
                code="asset_deleted",
            )
        return asset

    async def delete(self, asset_id: str, owner_id: str) -> None:
        asset = await self.get(asset_id, owner_id)
        async with transaction(self.sessions) as session:
            row = await session.get(Asset, asset.id)
            assert row is not None
            row.deleted_at = utcnow()
        for key in asset.object_keys:
            await self.store.delete(key)

    async def check_input(self, owner_id: str, ref: InputRef) -> MediaInfo | None:
        """Validate an input reference at submission; returns the probe when it is an asset."""
        if (ref.asset_id is None) == (ref.url is None):
            raise InvalidRequest(
                "give exactly one of `asset_id` or `url`",
                errors=[{"field": "input", "message": "exactly one of asset_id or url is required"}],
            )
        if ref.asset_id is not None:
            if ref.asset_id in _PLACEHOLDERS.get():
                return None  # made by an earlier pipeline step: probed by the worker, like a URL input
            asset = await self.get(ref.asset_id, owner_id)
            return msgspec.convert(asset.media, MediaInfo)
        if not ref.url or not ref.url.lower().startswith(("http://", "https://")):
            raise InvalidRequest(
                "input URLs must be http or https",
                code="url_forbidden",
                errors=[{"field": "input.url", "message": "only http and https URLs are accepted"}],
            )
        return None

    async def resolve_input(self, owner_id: str, ref: InputRef, work_dir: Path) -> LocalInput:
        """Make an input available locally for ffmpeg: in place for the local store, else downloaded."""
        if ref.asset_id is not None:
            asset = await self.get(ref.asset_id, owner_id)
            media = msgspec.convert(asset.media, MediaInfo)
            local = self.store.local_path(asset.storage_key)
            if local is None:
                local = work_dir / f"input-{asset.id}"
                await self.store.fetch_to_file(asset.storage_key, local)
            return LocalInput(local, media, asset.id)
        assert ref.url is not None
        dest = work_dir / "input-url"
        await fetch_url(ref.url, dest, limits=self.settings.limits)
        media = await asyncio.to_thread(probe, dest, self.settings.limits)
        return LocalInput(dest, media)

    async def store_output(
        self, owner_id: str, task_id: str, attempt: int, path: Path, poster: Path | None, content_type: str
    ) -> tuple[Asset, dict[str, Any]]:
        """Probe a produced file, move it (and its poster) into the store; the row is saved by the caller."""
        media = await asyncio.to_thread(probe, path, self.settings.limits)
        asset, result = await self._store(
            owner_id, task_id, attempt, path, poster, content_type, msgspec.to_builtins(media)
        )
        return asset, {**result, **media_summary(media)}

    async def store_hls(
        self, owner_id: str, task_id: str, attempt: int, master: Path, poster: Path | None
    ) -> tuple[Asset, dict[str, Any]]:
        """Move an HLS output (the master playlist's folder: playlists, segments) into the store under one
        prefix; the asset is the master playlist, and lists every other object so that deleting it
        deletes them all."""
        prefix = f"outputs/{task_id}/{attempt}/{master.parent.name}"
        renditions = read_master(master.read_text(encoding="utf-8"))
        duration_s = read_playlist_s((master.parent / renditions[0]["playlist"]).read_text(encoding="utf-8"))
        files, size = [], 0
        for path in sorted(p for p in master.parent.iterdir() if p != master):
            key = f"{prefix}/{path.name}"
            size += await self.store.put_file(key, path, stream_content_type(path.name), move=True)
            files.append(key)
        media = {"hls_files": files, "renditions": renditions, "duration_s": duration_s}
        asset, result = await self._store(owner_id, task_id, attempt, master, poster, CONTENT_TYPES_HLS, media, prefix)
        asset.size_bytes += size
        top = renditions[0]
        summary = {"duration": duration_s, "width": top["width"], "height": top["height"], "renditions": renditions}
        return asset, {**result, "size_bytes": asset.size_bytes, **summary}

    async def store_document(
        self, owner_id: str, task_id: str, attempt: int, path: Path, content_type: str
    ) -> tuple[Asset, dict[str, Any]]:
        """Move a produced file that is not media (a transcript: SRT, WebVTT, JSON) into the store, unprobed."""
        return await self._store(owner_id, task_id, attempt, path, None, content_type, {})

    async def _store(
        self,
        owner_id: str,
        task_id: str,
        attempt: int,
        path: Path,
        poster: Path | None,
        content_type: str,
        media: dict[str, Any],
        folder: str | None = None,
    ) -> tuple[Asset, dict[str, Any]]:
        prefix = f"outputs/{task_id}/{attempt}"
        key = f"{folder or prefix}/{path.name}"
        poster_key = f"{prefix}/poster.jpg" if poster is not None and poster.exists() else None
        size = await self.store.put_file(key, path, content_type, move=True)
        if poster_key and poster is not None:
            await self.store.put_file(poster_key, poster, "image/jpeg", move=True)
        asset = Asset(
            id=str(uuid.uuid4()),
            owner_id=owner_id,
            origin="output",
            filename=path.name,
            content_type=content_type,
            size_bytes=size,
            storage_key=key,
            poster_key=poster_key,
            media=media,
            task_id=task_id,
            created_at=utcnow(),
        )
        result = {
            "asset_id": asset.id,
            "content_type": content_type,
            "size_bytes": size,
            "storage_key": key,
            "poster_key": poster_key,
        }
        return asset, result

    async def present(self, asset: Asset) -> AssetOut:
        ttl = self.settings.storage.url_ttl_s
        expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
        url = await self.signed_url(asset.storage_key, filename=asset.filename)
        poster = await self.store.signed_url(asset.poster_key, expires_s=ttl) if asset.poster_key else None
        return AssetOut(
            id=asset.id,
            origin=asset.origin,
            content_type=asset.content_type,
            size_bytes=asset.size_bytes,
            created_at=asset.created_at,
            media=asset.media,
            url=url,
            url_expires_at=expires_at.replace(microsecond=0),
            filename=asset.filename,
            source_url=asset.source_url,
            poster_url=poster,
            task_id=asset.task_id,
        )

    async def sign(self, key: str) -> str:
        return await self.signed_url(key)


def _clean_filename(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?')[:200]
    return cleaned or None


def media_summary(media: MediaInfo) -> dict[str, Any]:
    """The fields a task result reports about an output file."""
    video, audio = media.video, media.audio
    return {
        "duration": media.duration_s,
        "width": video.width if video else None,
        "height": video.height if video else None,
        "fps": video.fps if video else None,
        "video_codec": video.codec if video else None,
        "audio_codec": audio.codec if audio else None,
    }
