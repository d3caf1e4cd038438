"""`videoapi mcp`: the MCP server on stdin/stdout, for MCP clients that start their servers themselves."""

from __future__ import annotations

import asyncio

import click

DEFAULT_URL = "http://127.0.0.1:8000"


@click.command("mcp")
@click.option(
    "--url", envvar="VIDEOAPI_URL", default=DEFAULT_URL, show_default=True, help="The API's base URL (VIDEOAPI_URL)."
)
@click.option(
    "--api-key",
    envvar=["VIDEOAPI_API_KEY", "VIDEOAPI_KEY"],
    required=True,
    help="The API key the tools call with (VIDEOAPI_API_KEY, or VIDEOAPI_KEY as for the SDK).",
)
def mcp(url: str, api_key: str) -> None:
    """Serve the API's tools over MCP on stdio; each tool call is a request to the API at --url."""
    # Imported here: the MCP SDK (Starlette, pydantic) is not loaded by the other commands.
    from videoapi.mcp import serve_stdio

    asyncio.run(serve_stdio(url, api_key))
