"""Stream a multipart upload's file part straight to disk, counting bytes as they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from videoapi.errors import InvalidRequest, TooLarge

FILE_FIELD = "file"


class UploadedFile(msgspec.Struct):
    filename: str | None
    content_type: str | None
    size_bytes: int


async def receive_upload(chunks: AsyncIterator[bytes], boundary: bytes, dest: Path, *, max_bytes: int) -> UploadedFile:
    """Write the `file` part of a multipart body to `dest`; other parts are ignored.

    Memory stays bounded by the chunk size whatever the upload's size; past `max_bytes` the
    upload is refused with 413 as soon as the limit is crossed.
    """
    found: UploadedFile | None = None
    segment: MultipartSegment | None = None
    size = 0
    fh = None
    try:
        with PushMultipartParser(boundary, max_segment_count=16) as parser:
            async for chunk in chunks:
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        segment = part
                        if segment.name == FILE_FIELD and found is None:
                            fh = dest.open("wb")
                    elif part:
                        if fh is None:
                            continue
                        size += len(part)
                        if size > max_bytes:
                            raise TooLarge(
                                f"the upload exceeds the limit of {max_bytes} bytes", code="upload_too_large"
                            )
                        await asyncio.to_thread(fh.write, part)
                    else:
                        if fh is not None and segment is not None:
                            fh.close()
                            fh = None
                            found = UploadedFile(segment.filename, segment.content_type, size)
                        segment = None
                if parser.closed:
                    break
            if not parser.closed:
                raise InvalidRequest("the multipart body ended early", code="invalid_multipart")
    except (ParserError, ParserLimitReached) as exc:
        raise InvalidRequest(f"the multipart body is malformed: {exc}", code="invalid_multipart") from exc
    finally:
        if fh is not None:
            fh.close()
    if found is None:
        raise InvalidRequest(f"the multipart body has no `{FILE_FIELD}` part", code="missing_file")
    if found.size_bytes == 0:
        raise InvalidRequest("the uploaded file is empty", code="input_unreadable")
    return found
