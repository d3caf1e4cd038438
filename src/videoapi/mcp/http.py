"""MCP over streamable HTTP at `/mcp`, mounted in the API with the API's own authentication.

The mount resolves the caller the way every /v1 route does (`provide_principal`: API key or JWT,
IP allowlist, scope, rate limit), so a request without valid credentials is the API's 401 problem
before the MCP SDK reads a byte. Each tool call then calls the app itself through an ASGI transport
with the MCP request's `Authorization` header and client address, so the route it reaches checks
that caller again, with that route's scope. The /mcp POST counts once against the caller's rate
limit; the requests its tool call makes are marked in their ASGI scope and do not count again.

The session manager is stateless: every POST stands alone (no session to pin to one replica, and
no state kept between callers), and answers as an SSE stream so that `wait_task` can send progress
notifications before its result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from litestar import Request
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from videoapi.gateway.deps import INNER_CALL, provide_principal
from videoapi.mcp.server import build_server

MCP_PATH = "/mcp"
MAX_BODY_BYTES = 1024 * 1024
"""The largest MCP request body (a composite timeline fits); as the API's JSON body limit."""
API_TIMEOUT_S = 60.0
_FORWARDED = ("authorization", "x-forwarded-for", "user-agent")
"""Headers of the MCP request that its API calls carry: who calls, from where (for IP allowlists)."""


@asynccontextmanager
async def _app_client(ctx: ServerRequestContext[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on this app, as the caller of the MCP request that carries the tool call."""
    request = ctx.request  # the Starlette request over the ASGI scope of this /mcp POST
    if request is None:
        raise RuntimeError("an MCP tool call over HTTP without its HTTP request")
    scope = request.scope
    app = scope.get("litestar_app") or scope["app"]

    async def inner(inner_scope: Scope, receive: Receive, send: Send) -> None:
        # The /mcp POST paid the caller's rate once; its tool call's requests (wait_task polls too) do not again.
        await app({**inner_scope, INNER_CALL: True}, receive, send)

    transport = httpx.ASGITransport(app=inner, client=tuple(scope.get("client") or ("127.0.0.1", 0)))
    headers = {name: value for name in _FORWARDED if (value := request.headers.get(name))}
    host = request.headers.get("host", "localhost")
    async with httpx.AsyncClient(
        transport=transport, base_url=f"{scope.get('scheme', 'http')}://{host}", headers=headers, timeout=API_TIMEOUT_S
    ) as client:
        yield client


def mcp_mount() -> tuple[ASGIRouteHandler, Callable[[], AbstractAsyncContextManager[None]]]:
    """The `/mcp` route handler, and the context manager that runs its session manager (the app's lifespan).

    One pair per app: a session manager runs once.
    """
    manager = StreamableHTTPSessionManager(
        app=build_server(_app_client), stateless=True, json_response=False, max_request_body_size=MAX_BODY_BYTES
    )

    # Any of the API's scopes opens /mcp; each tool's route then asks for its own.
    @asgi(MCP_PATH, is_mount=True, copy_scope=True, opt={"scope": ("read", "edit", "generate")})
    async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await provide_principal(Request(scope, receive))  # raises the API's 401/403/429 problems
        await manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

    return mcp_endpoint, manager.run
