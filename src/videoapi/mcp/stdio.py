"""MCP over stdio (`videoapi mcp`): the tools call a running API at its URL with one API key.

The stdio server is a client of the HTTP API, not of the in-process services: it needs no database,
store or broker of its own, runs on a laptop next to the MCP client while the API runs elsewhere,
and every call meets the same gateway (auth, scopes, rate limits, quotas) as the `/mcp` transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from videoapi import __version__
from videoapi.mcp.server import build_server

API_TIMEOUT_S = 60.0


async def serve_stdio(base_url: str, api_key: str) -> None:
    """Serve MCP on stdin/stdout until the client closes them."""
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": f"videoapi-mcp/{__version__}"}
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=API_TIMEOUT_S) as client:

        @asynccontextmanager
        async def api(_ctx: ServerRequestContext[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
            yield client

        server = build_server(api)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
