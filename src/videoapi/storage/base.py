"""The object store interface shared by the local and S3 backends, and key rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import msgspec

CHUNK_BYTES = 1024 * 1024
"""Copy and stream in chunks of this size so that large videos never sit whole in memory."""

MAX_KEY_CHARS = 512

_KEY_CHARS = re.compile(r"[A-Za-z0-9._/-]+")


class ObjectInfo(msgspec.Struct, frozen=True):
    size_bytes: int
    content_type: str
    etag: str
    """Opaque validator without quotes; it changes whenever the object's bytes may have changed."""


class ObjectStore(Protocol):
    """Where assets and outputs live: a local directory or an S3 bucket."""

    async def put_file(self, key: str, path: Path, content_type: str, *, move: bool = False) -> int:
        """Store the local file under `key` (streamed) and return its size in bytes.

        `move=True` hands the file over: it may be renamed into place, and is gone afterwards.
        """
        ...

    async def fetch_to_file(self, key: str, dest: Path) -> None:
        """Download the object to `dest` (streamed); raise NotFound when it is missing."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's path on this machine for zero-copy reads, or None when it has none."""
        ...

    async def stat(self, key: str) -> ObjectInfo:
        """Size, content type and etag of the object; raise NotFound when it is missing."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error."""
        ...

    async def signed_url(self, key: str, *, expires_s: int, filename: str | None = None) -> str:
        """A URL anyone may GET for `expires_s` seconds; `filename` makes it download as an attachment."""
        ...

    async def check(self) -> None:
        """Readiness probe; raise ServiceUnavailable saying what is wrong."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe object key, else raise ValueError.

    Keys are relative slash-separated paths over `[A-Za-z0-9._/-]`. No segment may be empty or start
    with a dot: that rules out `.`/`..` traversal and leaves dot-names free for the local store's own
    temp and metadata files, which therefore can never collide with an object.
    """
    if not key or len(key) > MAX_KEY_CHARS or not _KEY_CHARS.fullmatch(key):
        raise ValueError(f"invalid object key {key!r}: use 1-{MAX_KEY_CHARS} characters of [A-Za-z0-9._/-]")
    for segment in key.split("/"):
        if not segment or segment.startswith("."):
            raise ValueError(f"invalid object key {key!r}: empty or dot-leading path segment")
    return key


def content_disposition(filename: str) -> str:
    """`attachment` Content-Disposition for `filename` (RFC 6266, with an ASCII fallback)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
