"""Wire types of the assets API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class AssetFromUrl(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    """http(s) URL fetched by the server's SSRF-guarded client."""


class AssetOut(msgspec.Struct):
    id: str
    origin: str
    content_type: str
    size_bytes: int
    created_at: datetime
    media: dict[str, Any]
    url: str
    """Signed download URL; expires (see `url_expires_at`)."""
    url_expires_at: datetime
    filename: str | None = None
    source_url: str | None = None
    poster_url: str | None = None
    task_id: str | None = None


class InputRef(msgspec.Struct, forbid_unknown_fields=True):
    """A media input: exactly one of `asset_id` or `url`."""

    asset_id: str | None = None
    url: str | None = None
