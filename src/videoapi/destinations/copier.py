"""The copier: a background loop of every worker process that copies succeeded tasks' outputs to destinations.

Deliveries are written with their task (status `waiting`); once the task is finished the loop makes
them `pending` (succeeded) or `skipped` (failed or canceled), claims due ones by moving
`next_attempt_at` past the attempt's deadline (a crashed copier's claim simply expires), and copies
each output file as a streamed multipart upload. A failed attempt is retried after
`destinations.retry_delays_s`; after the last one the delivery is `failed` with its error. The task
itself is never touched: a destination cannot fail it.

The endpoint is checked against the SSRF guard on every attempt (a name may have moved to an
internal address since the destination was saved), and the copy connects to the address that
passed the check: the name stays in the Host header, the signature and TLS (SNI and certificate),
so a second DNS answer cannot point the upload elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.destinations.crypto import CredentialBox
from videoapi.destinations.models import Destination, DestinationDelivery
from videoapi.errors import AppError, FetchError
from videoapi.media.encoding import CONTENT_TYPES
from videoapi.media.fetch import check_target
from videoapi.media.formats import playlist_files, read_master, stream_content_type
from videoapi.observability.logging import get_logger
from videoapi.settings import DestinationSettings
from videoapi.storage.base import ObjectStore
from videoapi.tasks.models import Task
from videoapi.tasks.states import Status

log = get_logger(__name__)

_BATCH = 100
_ERROR_CHARS = 500
_CONNECT_TIMEOUT_S = 10.0
_READ_TIMEOUT_S = 120.0
# Every attempt's lease outlives its deadline by this much, so a live attempt is never claimed twice.
_LEASE_MARGIN_S = 30.0
HLS_CONTENT_TYPE = CONTENT_TYPES["hls"]
_HLS_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class OutputFile:
    """One stored output of a task and the name it gets under `{prefix}{task_id}/`."""

    storage_key: str
    name: str
    content_type: str


def output_files(result: dict[str, Any] | None) -> list[OutputFile]:
    """The main output, its poster and every extra output of a task's result, each once."""
    if not result or not result.get("storage_key"):
        return []
    found = [OutputFile(result["storage_key"], _basename(result["storage_key"]), result["content_type"])]
    if result.get("poster_key"):
        found.append(OutputFile(result["poster_key"], _basename(result["poster_key"]), "image/jpeg"))
    for extra in result.get("outputs") or []:
        found.append(OutputFile(extra["storage_key"], _basename(extra["storage_key"]), extra["content_type"]))
        if extra.get("poster_key"):
            found.append(OutputFile(extra["poster_key"], _basename(extra["poster_key"]), "image/jpeg"))
    unique: dict[str, OutputFile] = {}
    for f in found:
        unique.setdefault(f.storage_key, f)
    return list(unique.values())


def _hls_file(folder: str, name: str) -> OutputFile:
    """A playlist or segment an HLS playlist names: a plain name beside it (ours always are)."""
    if not _HLS_NAME.fullmatch(name):
        raise _Permanent(f"the HLS output names {name[:80]!r}, which is not a file beside its playlist")
    return OutputFile(f"{folder}/{name}", name, stream_content_type(name))


def object_key(prefix: str, task_id: str, name: str) -> str:
    return f"{prefix}{task_id}/{name}"


def _basename(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def pinned_pool_manager(address: str) -> urllib3.PoolManager:
    """A urllib3 pool manager whose connections all go to `address`, whatever host a URL names."""

    def connect(conn: HTTPConnection) -> socket.socket:
        try:
            return urllib3.util.connection.create_connection(
                (address, conn.port), conn.timeout, source_address=conn.source_address
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"connecting to {conn.host} ({address}) timed out") from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"cannot connect to {conn.host} ({address}): {exc}") from exc

    class Pinned(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return connect(self)

    class PinnedTLS(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return connect(self)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Pinned

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = PinnedTLS

    manager = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=_CONNECT_TIMEOUT_S, read=_READ_TIMEOUT_S),
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
        retries=False,  # the delivery schedule retries, with its own backoff and log
    )
    manager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}
    return manager


class _Permanent(Exception):
    """A delivery no retry can fix (the destination is gone, the endpoint is forbidden)."""


class Copier:
    """Outbox, claims and copies; `Deliveries` runs its `tick` in a loop."""

    def __init__(
        self,
        settings: DestinationSettings,
        sessions: async_sessionmaker[AsyncSession],
        store: ObjectStore,
        box: CredentialBox,
        work_dir: Path,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.box = box
        self.work_dir = work_dir

    async def release_finished(self) -> int:
        """Waiting deliveries of finished tasks: pending when the task succeeded, skipped otherwise."""
        now = utcnow()
        async with transaction(self.sessions) as session:
            rows = (
                await session.execute(
                    select(DestinationDelivery.id, Task.status)
                    .join(Task, Task.id == DestinationDelivery.task_id)
                    .where(DestinationDelivery.status == "waiting", Task.finished_at.is_not(None))
                    .limit(_BATCH)
                    .with_for_update(skip_locked=True, of=DestinationDelivery)
                )
            ).all()
            succeeded = [i for i, status in rows if status == Status.SUCCEEDED]
            if succeeded:
                await session.execute(
                    update(DestinationDelivery)
                    .where(DestinationDelivery.id.in_(succeeded), DestinationDelivery.status == "waiting")
                    .values(status="pending", next_attempt_at=now, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            for delivery_id, status in rows:
                if status != Status.SUCCEEDED:
                    await session.execute(
                        update(DestinationDelivery)
                        .where(DestinationDelivery.id == delivery_id, DestinationDelivery.status == "waiting")
                        .values(status="skipped", last_error=f"the task {status}; nothing to deliver", updated_at=now)
                    )
        return len(rows)

    async def claim_due(self, limit: int) -> list[DestinationDelivery]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.timeout_s + _LEASE_MARGIN_S)
        async with transaction(self.sessions) as session:
            due = list(
                await session.scalars(
                    select(DestinationDelivery.id)
                    .where(DestinationDelivery.status == "pending", DestinationDelivery.next_attempt_at <= now)
                    .order_by(DestinationDelivery.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not due:
                return []
            claimed = await session.execute(
                update(DestinationDelivery)
                .where(
                    DestinationDelivery.id.in_(due),
                    DestinationDelivery.status == "pending",
                    DestinationDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=lease, attempts=DestinationDelivery.attempts + 1, updated_at=now)
                .returning(DestinationDelivery)
                .execution_options(synchronize_session=False)
            )
            return list(claimed.scalars().all())

    async def deliver(self, delivery: DestinationDelivery) -> str:
        """One attempt: every output of the task, or an error; returns the delivery's new status."""
        error: str | None = None
        keys: list[str] = []
        permanent = False
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                keys = await self._copy(delivery)
        except _Permanent as exc:
            error, permanent = str(exc), True
        except FetchError as exc:
            error, permanent = exc.detail, exc.code == "url_forbidden"
        except S3Error as exc:
            error = f"S3 error {exc.code}: {exc.message}"
        except TimeoutError:
            error = f"timed out after {self.settings.timeout_s:g} s"
        except (MinioException, urllib3.exceptions.HTTPError, OSError, AppError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return await self._record(delivery, keys, error[:_ERROR_CHARS] if error else None, permanent)

    async def _copy(self, delivery: DestinationDelivery) -> list[str]:
        async with self.sessions() as session:
            destination = await session.get(Destination, delivery.destination_id)
            task = await session.get(Task, delivery.task_id)
        if destination is None:
            raise _Permanent("the destination was deleted before the outputs were delivered")
        files = output_files(task.result if task is not None else None)
        if not files:
            raise _Permanent("the task has no stored outputs to deliver")
        _, address = await check_target(destination.endpoint, self.settings.allow_cidrs, self.settings.allow_ports)
        credentials = self.box.open(destination.credentials)
        parts = urlsplit(destination.endpoint)
        http = pinned_pool_manager(str(address))
        client = Minio(
            parts.netloc,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            secure=parts.scheme == "https",
            region=destination.region,
            http_client=http,
        )
        written: list[str] = []

        async def put(f: OutputFile, local: Path) -> None:
            key = object_key(destination.prefix, delivery.task_id, f.name)
            # fput_object streams the file in parts: the output is never held in memory.
            upload = functools.partial(
                client.fput_object, destination.bucket, key, str(local), content_type=f.content_type
            )
            await anyio.to_thread.run_sync(upload)
            written.append(key)

        try:
            for f in files:
                async with self._local(delivery, f) as local:
                    if f.content_type == HLS_CONTENT_TYPE:
                        await self._copy_hls(delivery, f, local, put)
                    await put(f, local)
        finally:
            http.clear()
        return written

    async def _copy_hls(
        self, delivery: DestinationDelivery, master: OutputFile, local: Path, put: Callable[[OutputFile, Path], Any]
    ) -> None:
        """Every file an HLS master playlist plays, before the master itself (the caller puts it last): each
        rendition's segments, then its playlist. They sit beside the master, as in the store."""
        folder = master.storage_key.rsplit("/", 1)[0]
        for rendition in read_master(local.read_text(encoding="utf-8")):
            playlist = _hls_file(folder, rendition["playlist"])
            async with self._local(delivery, playlist) as playlist_path:
                for name in playlist_files(playlist_path.read_text(encoding="utf-8")):
                    segment = _hls_file(folder, name)
                    async with self._local(delivery, segment) as segment_path:
                        await put(segment, segment_path)
                await put(playlist, playlist_path)

    @contextlib.asynccontextmanager
    async def _local(self, delivery: DestinationDelivery, f: OutputFile) -> AsyncIterator[Path]:
        """A local file of the output: the store's own (local store), or a fetched copy removed after
        (only that file: an HLS master's copy stays while its segments come and go)."""
        path = self.store.local_path(f.storage_key)
        if path is not None:
            yield path
            return
        folder = self.work_dir / "deliveries" / delivery.id
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f.name
        try:
            await self.store.fetch_to_file(f.storage_key, dest)
            yield dest
        finally:
            dest.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()  # the last file of the delivery out

    async def _record(self, delivery: DestinationDelivery, keys: list[str], error: str | None, permanent: bool) -> str:
        now = utcnow()
        delays = self.settings.retry_delays_s
        values: dict[str, Any] = {"last_error": error, "updated_at": now}
        if error is None:
            values.update(status="delivered", object_keys=keys, delivered_at=now)
        elif permanent or delivery.attempts > len(delays):
            values.update(status="failed")
        else:
            delay_s = delays[delivery.attempts - 1] * random.uniform(0.9, 1.1)
            values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay_s))
        async with transaction(self.sessions) as session:
            await session.execute(
                update(DestinationDelivery).where(DestinationDelivery.id == delivery.id).values(**values)
            )
        log.info(
            "destination_attempt",
            task_id=delivery.task_id,
            owner=delivery.owner_id,
            destination_id=delivery.destination_id,
            attempt=delivery.attempts,
            outcome=values["status"],
            error=error,
        )
        return str(values["status"])


class Deliveries:
    """The background loop: release finished tasks' deliveries, start due attempts up to `max_in_flight`."""

    def __init__(self, copier: Copier) -> None:
        self.copier = copier
        self.settings = copier.settings
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[str]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("destination_dispatch_failed")
                await asyncio.sleep(self.settings.poll_interval_s)
        finally:
            # Attempts cut short keep their claim until it expires, then run again.
            for attempt in list(self._in_flight):
                attempt.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def tick(self) -> None:
        """Never waits for an attempt: a slow bucket holds one in-flight slot, not the loop."""
        await self.copier.release_finished()
        free = self.settings.max_in_flight - len(self._in_flight)
        if free <= 0:
            return
        for delivery in await self.copier.claim_due(free):
            attempt = asyncio.create_task(self.copier.deliver(delivery))
            self._in_flight.add(attempt)
            attempt.add_done_callback(self._finished)

    def _finished(self, attempt: asyncio.Task[str]) -> None:
        self._in_flight.discard(attempt)
        if not attempt.cancelled() and (exc := attempt.exception()) is not None:
            log.error("destination_attempt_crashed", error=f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS])
