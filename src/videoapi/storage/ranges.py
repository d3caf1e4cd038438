"""Parsing of HTTP Range headers (RFC 9110, section 14), kept pure for tests."""

from __future__ import annotations

import re

_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The Range names no byte of the object: answer 416 with `Content-Range: bytes */<size>`."""


def parse_range(header: str | None, size_bytes: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte positions a Range header asks for, or None to send everything.

    One range is served as asked (`a-b`, `a-`, `-n`; an end past the object is clipped). Headers we
    may ignore under RFC 9110 are ignored, which means a full 200 answer: another unit, malformed
    syntax, and several ranges (players ask for one; multipart/byteranges is not worth its cost).
    """
    if not header:
        return None
    match = _SINGLE_RANGE.fullmatch(header.strip().replace(" ", ""))
    if not match:
        return None
    first_s, last_s = match.groups()
    if not first_s:
        if not last_s:
            return None  # "bytes=-" is not a range at all
        suffix_bytes = int(last_s)
        if suffix_bytes == 0 or size_bytes == 0:
            raise RangeNotSatisfiable
        return max(size_bytes - suffix_bytes, 0), size_bytes - 1
    first = int(first_s)
    if last_s and int(last_s) < first:
        return None  # invalid syntax per RFC 9110, not merely unsatisfiable
    if first >= size_bytes:
        raise RangeNotSatisfiable
    return first, min(int(last_s), size_bytes - 1) if last_s else size_bytes - 1
