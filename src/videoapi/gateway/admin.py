"""Admin routes (`admin` scope): API keys (create, list, revoke, new webhook secret, quota) and everyone's usage.

The same operations as `videoapi keys ...`, for the web console and for operators without a shell.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec
from litestar import get, post, put
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, FromQuery
from msgspec import Meta

from videoapi.auth.models import ApiKey
from videoapi.auth.principal import CurrentPrincipal
from videoapi.auth.service import KeyService, active_secrets
from videoapi.billing.api import UsageRow, usage_start
from videoapi.billing.service import BillingService

ADMIN = {"scope": "admin"}


class KeyOut(msgspec.Struct):
    id: str
    name: str
    prefix: str
    """The key starts `vk_{prefix}_`; never the secret part."""
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    monthly_credits: float | None
    """The monthly credit quota; None: no quota."""


class KeyList(msgspec.Struct):
    items: list[KeyOut]
    """Every key, revoked ones included, oldest first."""


class KeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    scopes: list[str] | None = None
    """Default: generate, edit, read. `admin` may do everything."""
    monthly_credits: Annotated[float, Meta(ge=0)] | None = None
    """Monthly credit quota (config/pricing.toml); None: no quota."""


class KeyCreated(KeyOut):
    api_key: str
    """The key itself, shown this once: it is stored hashed."""
    webhook_secret: str
    """The `whsec_...` secret that signs this key's webhooks."""


class QuotaIn(msgspec.Struct, forbid_unknown_fields=True):
    monthly_credits: Annotated[float, Meta(ge=0)] | None
    """Credits per calendar month (UTC); null removes the quota."""


class RotateIn(msgspec.Struct, forbid_unknown_fields=True):
    keep_old_hours: Annotated[float, Meta(ge=0, le=24 * 30)] = 24.0
    """The current secrets keep signing, next to the new one, this long so that receivers can switch."""


class SecretsOut(msgspec.Struct):
    secrets: list[str]
    """Every secret that signs the key's webhooks now, newest (the one just made) first."""


class AdminUsage(msgspec.Struct):
    since: str
    total_credits: float
    total_tasks: int
    by_day_and_kind: list[UsageRow]


def _key_out(key: ApiKey, quotas: dict[str, float]) -> KeyOut:
    return KeyOut(
        key.id,
        key.name,
        key.prefix,
        list(key.scopes),
        key.created_at,
        key.last_used_at,
        key.revoked_at,
        quotas.get(key.id),
    )


@get("/v1/admin/keys", summary="Every API key (never its secret) with its quota", tags=["admin"], opt=ADMIN)
async def list_keys(
    principal: CurrentPrincipal,
    key_service: NamedDependency[KeyService],
    billing_service: NamedDependency[BillingService],
) -> KeyList:
    quotas = await billing_service.quotas()
    return KeyList([_key_out(k, quotas) for k in await key_service.list()])


@post(
    "/v1/admin/keys",
    status_code=201,
    summary="Create an API key (shown once) with its webhook secret and an optional quota",
    tags=["admin"],
    opt=ADMIN,
)
async def create_key(
    data: Annotated[KeyCreate, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    key_service: NamedDependency[KeyService],
    billing_service: NamedDependency[BillingService],
) -> KeyCreated:
    key, plaintext = await key_service.create(data.name, scopes=data.scopes)
    quotas: dict[str, float] = {}
    if data.monthly_credits is not None:
        await billing_service.set_quota(key.id, data.monthly_credits)
        quotas[key.id] = data.monthly_credits
    return KeyCreated(
        **msgspec.structs.asdict(_key_out(key, quotas)),
        api_key=plaintext,
        webhook_secret=key.webhook_secrets[0]["secret"],
    )


@post(
    "/v1/admin/keys/{key_id:str}/revoke",
    status_code=200,
    summary="Revoke an API key: it stops working at once",
    tags=["admin"],
    opt=ADMIN,
)
async def revoke_key(
    key_id: FromPath[str],
    principal: CurrentPrincipal,
    key_service: NamedDependency[KeyService],
    billing_service: NamedDependency[BillingService],
) -> KeyOut:
    key = await key_service.revoke(key_id)
    return _key_out(key, await billing_service.quotas())


@post(
    "/v1/admin/keys/{key_id:str}/webhook-secret",
    status_code=200,
    summary="Give an API key a new webhook signing secret; the old ones keep signing for a grace period",
    tags=["admin"],
    opt=ADMIN,
)
async def rotate_webhook_secret(
    key_id: FromPath[str],
    principal: CurrentPrincipal,
    key_service: NamedDependency[KeyService],
    data: Annotated[RotateIn | None, Body(media_type="application/json")] = None,
) -> SecretsOut:
    keep_old_s = (data or RotateIn()).keep_old_hours * 3600
    key = await key_service.rotate_webhook_secret(key_id, keep_old_s=keep_old_s)
    return SecretsOut([s["secret"] for s in active_secrets(key.webhook_secrets, datetime.now(UTC))])


@put(
    "/v1/admin/keys/{key_id:str}/quota",
    summary="Set or remove an API key's monthly credit quota",
    tags=["admin"],
    opt=ADMIN,
)
async def set_quota(
    key_id: FromPath[str],
    data: Annotated[QuotaIn, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    key_service: NamedDependency[KeyService],
    billing_service: NamedDependency[BillingService],
) -> KeyOut:
    key = await key_service.find(key_id)
    await billing_service.set_quota(key.id, data.monthly_credits)
    return _key_out(key, await billing_service.quotas())


@get(
    "/v1/admin/usage",
    summary="Usage of every key (or one, `key_id`) by day and kind",
    tags=["admin"],
    opt=ADMIN,
)
async def all_usage(
    principal: CurrentPrincipal,
    billing_service: NamedDependency[BillingService],
    since: FromQuery[date | None] = None,
    key_id: FromQuery[str | None] = None,
) -> AdminUsage:
    now = datetime.now(UTC)
    start = usage_start(since, now)
    report: dict[str, Any] = await billing_service.usage(key_id, start, now)
    return msgspec.convert(
        {k: report[k] for k in ("since", "total_credits", "total_tasks", "by_day_and_kind")}, AdminUsage
    )


ROUTES = [list_keys, create_key, revoke_key, rotate_webhook_secret, set_quota, all_usage]
