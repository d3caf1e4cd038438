"""The MCP server: lists the tools of `tools.TOOLS` and runs each one as a call to the HTTP API.

Both transports call the API over HTTP with the caller's own credentials, so a tool call meets the
same gateway as any request: authentication, scopes, rate limits, quotas, moderation and problem
codes. Over stdio the client is an httpx client on the API's URL with the configured key; over
streamable HTTP (`/mcp`) it is an httpx client on the app itself (ASGI, no socket) that forwards the
`Authorization` header of the MCP request (see `videoapi.mcp.http`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import mcp_types as types
import msgspec
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from videoapi import __version__
from videoapi.errors import AppError
from videoapi.mcp.tools import TOOLS, TaskRef, ToolSpec, WaitTask, input_schema, split_idempotency_key, struct_schema
from videoapi.web import msgspec_problem, problem

ApiClient = Callable[[ServerRequestContext[Any, Any]], AbstractAsyncContextManager[httpx.AsyncClient]]
"""Opens the httpx client that makes this tool call's API requests, given the MCP request context."""

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
POLL_FIRST_S = 0.25
POLL_MAX_S = 2.0
"""`wait_task` polls the task, from every 0.25 s up to every 2 s (over /mcp the polls do not count
against the rate limit; over stdio each one is a request of its own)."""

INSTRUCTIONS = (
    "videoapi edits and generates video. Register a file with upload_from_url (or pass a URL as "
    "`input.url`), call an edit or generate tool (it answers a task at once), then wait_task until it "
    "succeeds; the task's `result` holds the output's download URL. Errors carry the API's problem `code`."
)


def list_tools() -> list[types.Tool]:
    return [
        types.Tool(
            name=spec.name,
            description=spec.description,
            input_schema=input_schema(spec),
            output_schema=struct_schema(spec.answer_type),
        )
        for spec in TOOLS.values()
    ]


def build_server(api: ApiClient) -> Server[Any, Any]:
    """The low-level MCP server (our schemas are JSON Schema already, not Python signatures)."""
    tools = list_tools()

    async def on_list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def on_call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = TOOLS.get(params.name)
        if spec is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"no tool named {params.name!r}")
        arguments = params.arguments or {}
        try:
            async with api(ctx) as client:
                if spec.name == "wait_task":
                    return await _wait(ctx, client, spec, msgspec.convert(arguments, WaitTask))
                if not spec.body:
                    ref = msgspec.convert(arguments, TaskRef)
                    return _answer(await client.get(_path(spec, ref.task_id)))
                # The API decodes (and validates) the arguments, so a bad one is its 422 with the field named.
                body, headers = split_idempotency_key(spec, arguments)
                return _answer(await client.request(spec.method, spec.path, json=body, headers=headers))
        except msgspec.ValidationError as exc:
            return _problem_result(_problem_body(msgspec_problem(exc)))
        except httpx.HTTPError as exc:
            return types.CallToolResult(
                content=[types.TextContent(text=f"the API did not answer: {type(exc).__name__}: {exc}")],
                is_error=True,
            )

    return Server(
        "videoapi",
        version=__version__,
        title="videoapi",
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


def _path(spec: ToolSpec, task_id: str) -> str:
    return spec.path.replace("{task_id}", quote(task_id, safe=""))


async def _wait(
    ctx: ServerRequestContext[Any, Any], client: httpx.AsyncClient, spec: ToolSpec, args: WaitTask
) -> types.CallToolResult:
    """Poll the task until it ends or `timeout_s` passes; a progress notification each time progress grows."""
    deadline = time.monotonic() + args.timeout_s
    interval = POLL_FIRST_S
    reported = -1.0
    while True:
        resp = await client.get(_path(spec, args.task_id))
        if resp.status_code != 200:
            return _answer(resp)
        task = resp.json()
        progress = float(task.get("progress") or 0.0)
        if progress > reported:  # MCP: each notification's progress is larger than the one before
            await ctx.session.report_progress(progress, 1.0, f"{task['status']} ({progress:.0%})")
            reported = progress
        remaining = deadline - time.monotonic()
        if task["status"] in TERMINAL:
            return _answer(resp)
        if remaining <= 0:  # not an error: the task goes on, and another wait_task call picks it up
            note = f"; still {task['status']} after {args.timeout_s:g} s: call wait_task again"
            return types.CallToolResult(
                content=[types.TextContent(text=_summary(task) + note)], structured_content=task
            )
        await anyio.sleep(min(interval, remaining))
        interval = min(interval * 1.5, POLL_MAX_S)


def _answer(resp: httpx.Response) -> types.CallToolResult:
    """The API's answer as a tool result: its JSON as structured content, and one line of text."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.is_success and isinstance(body, dict):
        return types.CallToolResult(content=[types.TextContent(text=_summary(body))], structured_content=body)
    if not isinstance(body, dict) or "code" not in body:
        body = {"status": resp.status_code, "code": "http_error", "detail": resp.text[:500]}
    return _problem_result(body)


def _problem_result(body: dict[str, Any]) -> types.CallToolResult:
    """A tool error: the problem body as structured content, `code: detail` as text for the model."""
    text = f"{body.get('status')} {body.get('code')}: {body.get('detail')}"
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=body, is_error=True)


def _problem_body(exc: AppError) -> dict[str, Any]:
    """The problem+json body the API answers for `exc` (a bad get_task or wait_task argument)."""
    return dict(problem(exc.status, exc.title, exc.detail, exc.code, exc.errors).content)


def _summary(body: dict[str, Any]) -> str:
    if "status" not in body or "kind" not in body:  # an asset
        return f"asset {body.get('id')} ({body.get('content_type')}, {body.get('size_bytes')} bytes)"
    line = f"task {body['id']} ({body['kind']}) is {body['status']}, progress {float(body.get('progress') or 0):.0%}"
    if error := body.get("error"):
        line += f"; error {error.get('code')}: {error.get('message')}"
    elif (result := body.get("result")) and isinstance(result, dict) and result.get("url"):
        line += f"; output {result['url']}"
    return line
