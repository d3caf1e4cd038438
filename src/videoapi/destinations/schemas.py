"""Wire types of destinations and of a task's delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

Endpoint = Annotated[str, Meta(min_length=8, max_length=2048, pattern=r"^https?://[^/?#\s]+/?$")]
# S3 bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
Bucket = Annotated[str, Meta(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")]
Prefix = Annotated[str, Meta(max_length=512, pattern=r"^(?!/)[^\\\x00-\x1f]*$")]


class DestinationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    endpoint: Endpoint
    """`https://host[:port]` of the S3 API (AWS, MinIO, R2, ...); checked like webhook targets."""
    bucket: Bucket
    access_key: Annotated[str, Meta(min_length=1, max_length=256)]
    secret_key: Annotated[str, Meta(min_length=1, max_length=256)]
    region: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] = "us-east-1"
    prefix: Prefix = ""
    """Prepended to every object key, e.g. `videos/` gives `videos/{task_id}/output.mp4`."""
    name: Annotated[str, Meta(max_length=200)] | None = None


class DestinationUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A partial update: the fields given replace the saved ones; deliveries not yet made use the new values."""

    endpoint: Endpoint | msgspec.UnsetType = msgspec.UNSET
    bucket: Bucket | msgspec.UnsetType = msgspec.UNSET
    access_key: Annotated[str, Meta(min_length=1, max_length=256)] | msgspec.UnsetType = msgspec.UNSET
    """Given together with `secret_key`: credentials are replaced as a pair."""
    secret_key: Annotated[str, Meta(min_length=1, max_length=256)] | msgspec.UnsetType = msgspec.UNSET
    region: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    prefix: Prefix | msgspec.UnsetType = msgspec.UNSET
    name: Annotated[str, Meta(max_length=200)] | msgspec.UnsetType | None = msgspec.UNSET


class RekeyReport(msgspec.Struct):
    """What `videoapi destinations rekey` did: resealed with the current key, already current, unreadable."""

    resealed: int
    current: int
    unreadable: list[str]
    """Ids of destinations no configured key opens: their credentials must be saved again (PATCH)."""


class DestinationOut(msgspec.Struct):
    id: str
    name: str | None
    endpoint: str
    region: str
    bucket: str
    prefix: str
    access_key: str
    """Masked: `****` and the last 4 characters. The secret key is never shown."""
    created_at: datetime


class DestinationPage(msgspec.Struct):
    items: list[DestinationOut]
    next_cursor: str | None


class DestinationRef(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=64)]


class DestinationCopyOut(msgspec.Struct):
    destination_id: str
    bucket: str | None
    """None once the destination is deleted."""
    status: str
    """waiting (for the task) | pending (retrying) | delivered | failed | skipped (the task did not succeed)"""
    delivered: bool
    attempts: int
    last_error: str | None
    object_keys: list[str]
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DestinationCopyLog(msgspec.Struct):
    items: list[DestinationCopyOut]
