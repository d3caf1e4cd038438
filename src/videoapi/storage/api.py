"""GET/HEAD of local-store objects through signed URLs, with Range support so players can seek."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import anyio
from litestar import HttpMethod, Request, Response, route
from litestar.enums import MediaType
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Stream

from videoapi.errors import Forbidden, NotFound
from videoapi.storage.base import CHUNK_BYTES, ObjectStore, content_disposition
from videoapi.storage.ranges import RangeNotSatisfiable, parse_range
from videoapi.storage.signing import STREAM_ROUTE, verify

# What an HLS folder holds: playlists, init segments, media segments (names made by `media.formats`).
_STREAM_FILE = re.compile(r"[A-Za-z0-9_]+\.(m3u8|m4s|mp4|ts)")
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


@route("/v1/video/files/{key:path}", http_method=[HttpMethod.GET, HttpMethod.HEAD], tags=["files"])
async def download_file(
    request: Request,
    key: Annotated[str, PathParameter(description="Object key")],
    exp: Annotated[int, QueryParameter(description="Expiry of the URL, unix seconds")],
    sig: Annotated[str, QueryParameter(description="Signature of key and exp")],
    dl: Annotated[
        str | None, QueryParameter(description="Download as an attachment with this filename (signed too)")
    ] = None,
) -> Response:
    """Download an object of the local store; the URL's signature is the authorization."""
    key = key.removeprefix("/")  # path parameters keep their leading slash
    now = time.time()
    if not verify(key, exp, sig, request.app.state.signing_secret, now, dl):
        raise Forbidden("download URL signature invalid or expired", code="signature_invalid")
    store: ObjectStore = request.app.state.store
    try:
        path = store.local_path(key)
    except ValueError:
        path = None
    if path is None:
        raise NotFound(f"object {key} does not exist")
    info = await store.stat(key)

    etag = f'"{info.etag}"'
    headers = {
        "etag": etag,
        "accept-ranges": "bytes",
        # A CDN must not share a signed download with others; keep it no longer than the URL lives.
        "cache-control": f"private, max-age={max(exp - int(now), 0)}",
        # The stored content type is the one to use: a browser must not guess HTML or script from the bytes.
        "x-content-type-options": "nosniff",
    }
    if dl:
        headers["content-disposition"] = content_disposition(dl)
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(content=b"", status_code=304, headers=headers)

    # If-Range: resume only when the client's copy is this version, else send it all again.
    if_range = request.headers.get("if-range")
    range_header = request.headers.get("range") if if_range in (None, etag) else None
    try:
        byte_range = parse_range(range_header, info.size_bytes)
    except RangeNotSatisfiable:
        headers["content-range"] = f"bytes */{info.size_bytes}"
        return Response(content=b"", status_code=416, headers=headers, media_type=MediaType.TEXT)
    if byte_range is None:
        status_code, first, last = 200, 0, info.size_bytes - 1
    else:
        status_code, (first, last) = 206, byte_range
        headers["content-range"] = f"bytes {first}-{last}/{info.size_bytes}"
    length = last - first + 1
    headers["content-length"] = str(length)

    if request.method == HttpMethod.HEAD:
        return Response(content=b"", status_code=status_code, headers=headers, media_type=info.content_type)
    try:
        # Opened before answering, so a file deleted since stat is a 404 rather than a broken body.
        fh = await anyio.open_file(path, "rb")
    except FileNotFoundError as exc:
        raise NotFound(f"object {key} does not exist") from exc
    return Stream(_read(fh, first, length), status_code=status_code, headers=headers, media_type=info.content_type)


@route(STREAM_ROUTE + "/{exp:int}/{sig:str}/{key:path}", http_method=[HttpMethod.GET, HttpMethod.HEAD], tags=["files"])
async def stream_file(
    request: Request,
    exp: Annotated[int, PathParameter(description="Expiry of the URL, unix seconds")],
    sig: Annotated[str, PathParameter(description="Signature of the folder and exp")],
    key: Annotated[str, PathParameter(description="Object key of a playlist or segment in the signed folder")],
) -> Response:
    """A playlist or segment of an HLS output; the signature in the path authorizes its whole folder.

    Playlists are answered here, so that their relative references resolve under the same signed
    prefix; segments redirect to the store's own signed URL (the local download route, or S3).
    """
    key = key.removeprefix("/")
    prefix, _, name = key.rpartition("/")
    now = time.time()
    if not _STREAM_FILE.fullmatch(name) or not verify(prefix + "/", exp, sig, request.app.state.signing_secret, now):
        raise Forbidden("stream URL signature invalid or expired", code="signature_invalid")
    store: ObjectStore = request.app.state.store
    ttl_s = max(exp - int(now), 1)
    if not name.endswith(".m3u8"):
        return Redirect(await store.signed_url(key, expires_s=ttl_s), status_code=302)
    headers = {"cache-control": f"private, max-age={ttl_s}", "x-content-type-options": "nosniff"}
    body = await _read_small(store, key)
    if request.method == HttpMethod.HEAD:
        return Response(content=b"", headers={**headers, "content-length": str(len(body))}, media_type=PLAYLIST_TYPE)
    return Response(content=body, headers=headers, media_type=PLAYLIST_TYPE)


async def _read_small(store: ObjectStore, key: str) -> bytes:
    """A playlist's bytes (a few KB) from either store; NotFound when it is missing."""
    try:
        path = store.local_path(key)
    except ValueError as exc:
        raise NotFound(f"object {key} does not exist") from exc
    if path is None:
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "playlist.m3u8"
            await store.fetch_to_file(key, dest)
            return await anyio.Path(dest).read_bytes()
    try:
        return await anyio.Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise NotFound(f"object {key} does not exist") from exc


async def _read(fh: anyio.AsyncFile[bytes], offset: int, length: int) -> AsyncIterator[bytes]:
    async with fh:
        await fh.seek(offset)
        remaining = length
        while remaining > 0:
            chunk = await fh.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break  # replaced by a shorter file since stat: the client sees a short body and retries
            remaining -= len(chunk)
            yield chunk


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 prescribes for If-None-Match."""
    if not if_none_match:
        return False
    return any(tag.strip() == "*" or tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
