"""GET /v1/video/usage: the caller's charges by day and kind, and what is left of the monthly quota."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from videoapi.auth.principal import CurrentPrincipal
from videoapi.billing.service import BillingService, month_start
from videoapi.errors import InvalidRequest


class UsageRow(msgspec.Struct):
    date: str
    kind: str
    tasks: int
    credits: float
    output_seconds: float


class QuotaOut(msgspec.Struct):
    monthly_credits: float | None
    """None: no quota is set for this key."""
    used_this_month: float
    """Charged this calendar month (UTC) plus reserved by queued and running tasks."""
    remaining: float | None


class StorageOut(msgspec.Struct):
    used_bytes: int
    """Bytes of the caller's assets and outputs in the store (deleted and expired ones not counted)."""
    quota_bytes: int | None
    """None: no storage quota."""
    remaining_bytes: int | None


class UsageOut(msgspec.Struct):
    since: str
    total_credits: float
    total_tasks: int
    by_day_and_kind: list[UsageRow]
    quota: QuotaOut
    storage: StorageOut


def usage_start(since: date | None, now: datetime) -> datetime:
    """Midnight UTC of `since`, else the start of this month; 422 naming `since` when it is in the future."""
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) if since else month_start(now)
    if start > now:
        raise InvalidRequest(
            "`since` is in the future", errors=[{"field": "since", "message": "must not be in the future"}]
        )
    return start


@get("/v1/video/usage", summary="Usage and charges by day and kind; remaining monthly quota", tags=["billing"])
async def usage(
    principal: CurrentPrincipal, billing_service: NamedDependency[BillingService], since: FromQuery[date | None] = None
) -> UsageOut:
    now = datetime.now(UTC)
    start = usage_start(since, now)
    report: dict[str, Any] = await billing_service.usage(principal.owner_id, start, now)
    return msgspec.convert(report, UsageOut)


ROUTES = [usage]
