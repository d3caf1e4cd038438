"""Object store on the local filesystem; download URLs are served by `videoapi.storage.api`."""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import anyio.to_thread
import msgspec

from videoapi.errors import NotFound, ServiceUnavailable
from videoapi.storage.base import CHUNK_BYTES, ObjectInfo, validate_key
from videoapi.storage.signing import sign

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class _Meta(msgspec.Struct):
    content_type: str


class LocalStore:
    """Objects are files under `root`; each has a sidecar `.<name>.meta.json` holding its content type.

    Dot-leading names are never valid keys, so sidecars and temp files cannot clash with objects.
    """

    def __init__(self, root: Path, *, public_url: str, secret: bytes) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self._public_url = public_url.rstrip("/")
        self._secret = secret

    def local_path(self, key: str) -> Path:
        """The object's file (which may not exist); raise ValueError for keys that are not valid."""
        path = self.root / validate_key(key)
        # validate_key already rules out `..`; resolving also refuses a symlink that leads out of root.
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"object key {key!r} leads outside the store")
        return path

    async def put_file(self, key: str, path: Path, content_type: str, *, move: bool = False) -> int:
        target = self.local_path(key)
        return await anyio.to_thread.run_sync(self._put_sync, target, path, content_type, move)

    def _put_sync(self, target: Path, src: Path, content_type: str, move: bool) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_atomic(io.BytesIO(msgspec.json.encode(_Meta(content_type=content_type))), _meta_path(target))
        if move:
            try:
                os.replace(src, target)
                return target.stat().st_size
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        with src.open("rb") as fin:
            size = _copy_atomic(fin, target)
        if move:
            src.unlink()
        return size

    async def fetch_to_file(self, key: str, dest: Path) -> None:
        src = self.local_path(key)
        await anyio.to_thread.run_sync(self._fetch_sync, key, src, dest)

    def _fetch_sync(self, key: str, src: Path, dest: Path) -> None:
        try:
            fin = src.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"object {key} does not exist") from exc
        with fin:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _copy_atomic(fin, dest)

    async def stat(self, key: str) -> ObjectInfo:
        path = self.local_path(key)
        return await anyio.to_thread.run_sync(self._stat_sync, key, path)

    def _stat_sync(self, key: str, path: Path) -> ObjectInfo:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"object {key} does not exist") from exc
        if not path.is_file():
            raise NotFound(f"object {key} does not exist")
        try:
            content_type = msgspec.json.decode(_meta_path(path).read_bytes(), type=_Meta).content_type
        except FileNotFoundError:
            content_type = DEFAULT_CONTENT_TYPE
        # Every write makes a new inode (rename into place), so size+mtime+inode changes with the bytes.
        return ObjectInfo(size_bytes=st.st_size, content_type=content_type, etag=_etag(st))

    async def delete(self, key: str) -> None:
        path = self.local_path(key)
        await anyio.to_thread.run_sync(self._delete_sync, path)

    def _delete_sync(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _meta_path(path).unlink(missing_ok=True)
        # Keys are mostly one directory per asset or task; prune the empty ones so they don't pile up.
        for parent in path.parents:
            if parent == self.root:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    async def signed_url(self, key: str, *, expires_s: int, filename: str | None = None) -> str:
        validate_key(key)
        expires_at = int(time.time()) + expires_s
        dl = filename or None
        url = f"{self._public_url}/v1/video/files/{key}?exp={expires_at}&sig={sign(key, expires_at, self._secret, dl)}"
        if dl:
            url += f"&dl={quote(dl, safe='')}"
        return url

    async def check(self) -> None:
        await anyio.to_thread.run_sync(self._check_sync)

    def _check_sync(self) -> None:
        try:
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise ServiceUnavailable(f"local storage at {self.root} is not writable: {exc}") from exc

    async def close(self) -> None:
        return None


def _etag(st: os.stat_result) -> str:
    return f"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta.json")


def _copy_atomic(fin: BinaryIO, dest: Path) -> int:
    """Copy `fin` to `dest` through a temp file in the same directory renamed into place; return bytes."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK_BYTES)
            fout.flush()
            # Without fsync a crash right after the rename can leave an empty file under the key.
            os.fsync(fout.fileno())
            size = fout.tell()
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size
