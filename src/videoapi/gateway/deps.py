"""The HTTP side of identity, the `principal` dependency: every /v1 handler that takes it requires
`Authorization: Bearer <key or JWT>`.

In order: who is calling (API key or JWT; 401), from where (the key's IP allowlist; 403), may it
call this route (scopes; 403), and is it within its rate (token bucket; 429). The rate limit
headers are added to the response by `add_rate_limit_headers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from litestar import Request
from litestar.types import Message, Scope

from videoapi.auth.models import ApiKey
from videoapi.auth.principal import Principal
from videoapi.errors import Forbidden, TooManyRequests, Unauthorized
from videoapi.gateway.clientip import allowed, client_ip
from videoapi.gateway.scopes import has_scope, required_scopes
from videoapi.gateway.service import Gateway

_RATE_STATE = "videoapi.ratelimit"
INNER_CALL = "videoapi.inner_call"
"""ASGI scope key of a request the app makes to itself for a caller whose own request was already
counted against its rate (an MCP tool call over /mcp). Only an in-process caller can set a scope key:
no header or client can."""


async def provide_principal(request: Request) -> Principal:
    gateway: Gateway = request.app.state.gateway
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "send `Authorization: Bearer <api key or JWT>`",
            code="missing_credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    cached_epoch: int | None = None
    if token.count(".") == 2 and not token.startswith("vk_"):
        claims = await gateway.jwt.verify(token)
        principal = Principal(
            owner_id=claims.owner_id,
            key_name=claims.owner_id,
            scopes=claims.scopes,
            max_priority=gateway.settings.auth.jwt_max_priority,
        )
    else:
        key, cached_epoch = await _authenticate_key(request, gateway, token)
        principal = _key_principal(request, gateway, key)

    async def recheck(decision: Any) -> None:
        if gateway.key_cache is not None and cached_epoch is not None and decision.epoch != cached_epoch:
            # A key was revoked since this one was cached (or Redis could not say): ask the database.
            gateway.key_cache.drop(token)
            await gateway.keys.authenticate(token)

    await _admit(request, gateway, principal, recheck)
    return principal


def _key_principal(request: Request, gateway: Gateway, key: ApiKey) -> Principal:
    """The principal of an authenticated key; 403 from outside its IP allowlist."""
    if key.allow_ips:
        ip = client_ip(
            request.scope["client"][0] if request.scope.get("client") else None,
            request.headers.getall("x-forwarded-for", []),
            gateway.trusted_proxies,
        )
        if not allowed(ip, key.allow_ips):
            raise Forbidden(f"this key may not be used from {ip}", code="ip_not_allowed")
    return Principal(
        owner_id=key.id,
        key_name=key.name,
        key_id=key.id,
        scopes=frozenset(key.scopes),
        rate_per_s=key.rate_per_s,
        burst=key.burst,
        max_priority=key.max_priority or gateway.settings.gateway.default_max_priority,
        max_active_tasks=key.max_active_tasks,
    )


async def provide_stream_principal(request: Request) -> Principal:
    """The caller of an event stream: `?token=` (a stream token, for EventSource) or the header.

    Only the event routes take this dependency: a stream token opens nothing else.
    """
    token = request.query_params.get("token")
    if token is None:
        return await provide_principal(request)
    gateway: Gateway = request.app.state.gateway
    principal = gateway.stream_tokens.verify(token)
    if principal.key_id is not None:
        # The key as it is now: revoked since the token was issued, moved allowlist, its own rate.
        principal = _key_principal(request, gateway, await gateway.keys.active(principal.key_id))
    await _admit(request, gateway, principal)
    return principal


async def _admit(
    request: Request,
    gateway: Gateway,
    principal: Principal,
    recheck: Callable[[Any], Awaitable[None]] | None = None,
) -> None:
    """Scope and rate limit of an authenticated principal (403, 429); `recheck(decision)` runs before
    the limit is enforced (the key cache's revocation epoch comes with the decision)."""
    structlog.contextvars.bind_contextvars(owner=principal.owner_id)
    needed = required_scopes(request.method, request.url.path, request.route_handler.opt)
    if not has_scope(principal.scopes, needed):
        raise Forbidden(
            f"this route needs the scope {' or '.join(needed)}; the credentials carry {sorted(principal.scopes)}",
            code="insufficient_scope",
        )
    if request.scope.get(INNER_CALL):
        return  # the request that carries this one paid its rate; scopes are checked per route all the same
    settings = gateway.settings.gateway
    decision = await gateway.limiter.hit(
        principal.bucket, principal.rate_per_s or settings.default_rate_per_s, principal.burst or settings.default_burst
    )
    if recheck is not None:
        await recheck(decision)
    request.scope.setdefault("state", {})[_RATE_STATE] = decision.headers()
    if not decision.allowed:
        raise TooManyRequests(
            f"rate limit of {principal.rate_per_s or settings.default_rate_per_s:g} requests/s exceeded; "
            f"retry in {decision.retry_after_s} s",
            headers=decision.headers(),
        )


async def _authenticate_key(request: Request, gateway: Gateway, token: str) -> tuple[ApiKey, int | None]:
    """The key, and the revocation epoch it was cached under (None: read from the database just now)."""
    keys = gateway.keys
    cache = gateway.key_cache
    if cache is None:
        return await keys.authenticate(token), None
    if hit := cache.get(token):
        return hit
    epoch = await keys.revocations.epoch()  # before the row: a revoke in between changes it
    key = await keys.authenticate(token)
    if epoch is not None:
        cache.put(token, key, epoch)
    return key, None


async def add_rate_limit_headers(message: Message, scope: Scope) -> None:
    """`before_send` hook: the RateLimit-* headers of the caller's bucket on every response."""
    if message["type"] != "http.response.start":
        return
    state: dict[str, Any] = scope.get("state") or {}  # type: ignore[assignment]
    headers = state.get(_RATE_STATE)
    if not headers:
        return
    present = {name.lower() for name, _ in message.get("headers", [])}
    extra = [(k.lower().encode(), v.encode()) for k, v in headers.items() if k.lower().encode() not in present]
    message["headers"] = [*message.get("headers", []), *extra]
