"""MCP server: the API's upload, edit, generate and task routes as Model Context Protocol tools,
over stdio (`videoapi mcp`) and streamable HTTP (`/mcp`), on the official `mcp` SDK."""

from __future__ import annotations

from videoapi.mcp.http import MCP_PATH, mcp_mount
from videoapi.mcp.server import build_server, list_tools
from videoapi.mcp.stdio import serve_stdio
from videoapi.mcp.tools import TOOLS, ToolSpec, struct_schema

__all__ = ["MCP_PATH", "TOOLS", "ToolSpec", "build_server", "list_tools", "mcp_mount", "serve_stdio", "struct_schema"]
