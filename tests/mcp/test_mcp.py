"""The MCP server, driven by the MCP SDK's own clients against the real app on a socket: streamable
HTTP at /mcp, and `videoapi mcp` over stdio in a subprocess pointed at the same server."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import jwt
import msgspec
import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.app import SLOW_TRANSCODE, create_key, free_port, with_services
from tests.support.gateway import make_key, serve
from tests.support.media import make_video
from videoapi.editing.kinds import KINDS as EDIT_KINDS
from videoapi.editing.schemas import TrimRequest
from videoapi.media.probe import probe
from videoapi.settings import Settings, load_settings
from videoapi.tasks.schemas import TaskOut

pytestmark = [pytest.mark.ffmpeg, pytest.mark.anyio]
ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "s3cret-for-hs256-tokens-0123456789abcdef"


@dataclass
class Server:
    url: str
    key: str
    settings: Settings
    asset_id: str
    asset_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The embedded app (SQLite, local store, in-process workers) on 127.0.0.1, with a 2 s clip uploaded."""
    port = free_port()
    tmp = tmp_path_factory.mktemp("mcp")
    settings = load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(tmp / "var"),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
            "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
            "VIDEOAPI_GATEWAY__DEFAULT_BURST": "1000",
            # upload_from_url fetches the server's own download URL of the uploaded clip.
            "VIDEOAPI_LIMITS__FETCH_ALLOW_CIDRS": '["127.0.0.0/8"]',
            "VIDEOAPI_AUTH__JWT_SECRET": JWT_SECRET,
        }
    )
    clip = make_video(tmp / "clip.mp4", duration_s=2.0, width=160, height=120)
    with serve(settings, port) as url:
        key = create_key(settings, "mcp")
        with clip.open("rb") as fh:
            resp = httpx.post(
                f"{url}/v1/video/assets", headers={"Authorization": f"Bearer {key}"}, files={"file": ("clip.mp4", fh)}
            )
        assert resp.status_code == 201, resp.text
        yield Server(url, key, settings, resp.json()["id"], resp.json()["url"])


@asynccontextmanager
async def http_session(server: Server, key: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key or server.key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as client,
        streamable_http_client(f"{server.url}/mcp", http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(server: Server) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "videoapi.cli", "mcp", "--url", server.url],
        env={
            "VIDEOAPI_API_KEY": server.key,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        },
        cwd=ROOT,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


SESSIONS = {"http": http_session, "stdio": stdio_session}


def output_duration_s(server: Server, task: dict[str, Any], dest: Path) -> float:
    resp = httpx.get(task["result"]["url"])
    assert resp.status_code == 200, resp.text
    dest.write_bytes(resp.content)
    return probe(dest, server.settings.limits).duration_s


async def test_tools_list_the_routes_request_schemas(server: Server) -> None:
    async with http_session(server) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

    assert {"upload_from_url", "trim", "transcode", "composite", "subtitles", "transcribe", "get_task"} <= set(tools)
    assert {"generate_text_to_video", "generate_image_to_video", "wait_task"} <= set(tools)
    trim_schema = msgspec.json.schema(TrimRequest)["$defs"]["TrimRequest"]
    assert tools["trim"].input_schema["type"] == "object"
    # The route's body, and the Idempotency-Key of the tools that create tasks (not of upload_from_url).
    properties = dict(tools["trim"].input_schema["properties"])
    assert properties.pop("idempotency_key")["type"] == "string"
    assert properties == trim_schema["properties"]
    assert "idempotency_key" not in tools["upload_from_url"].input_schema["properties"]
    assert "idempotency_key" not in tools["wait_task"].input_schema["properties"]
    assert tools["trim"].input_schema["required"] == ["input"]
    # References into $defs resolve inside the tool's own schema.
    assert "InputRef" in tools["trim"].input_schema["$defs"]
    assert tools["get_task"].output_schema["properties"].keys() == set(TaskOut.__struct_fields__)


async def test_each_edit_tool_posts_to_the_route_that_decodes_its_schema(server: Server) -> None:
    openapi = httpx.get(f"{server.url}/schema/openapi.json").json()
    async with http_session(server) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    for spec in EDIT_KINDS.values():
        if spec.path not in tools:
            continue
        body = openapi["paths"][f"/v1/video/edit/{spec.path}"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"].rsplit("/", 1)[-1] == spec.request_type.__name__
        assert tools[spec.path].input_schema["title"] == spec.request_type.__name__


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_trim_then_wait_task_succeeds_with_progress(server: Server, transport: str, tmp_path: Path) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with SESSIONS[transport](server) as session:
        created = await session.call_tool(
            "trim", {"input": {"asset_id": server.asset_id}, "start_s": 0.5, "end_s": 1.5, "mode": "reencode"}
        )
        assert not created.is_error, created.content
        task = created.structured_content
        assert task["kind"] == "edit.trim"
        assert task["id"] in created.content[0].text

        waited = await session.call_tool(
            "wait_task", {"task_id": task["id"], "timeout_s": 60}, progress_callback=on_progress
        )

    assert not waited.is_error, waited.content
    done = waited.structured_content
    assert done["status"] == "succeeded", done
    assert "succeeded" in waited.content[0].text
    assert progress, "no progress notification"
    assert [p for p, _, _ in progress] == sorted({p for p, _, _ in progress})
    assert progress[-1][1] == 1.0
    assert output_duration_s(server, done, tmp_path / "out.mp4") == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_bad_arguments_are_a_tool_error_with_the_api_problem_code(server: Server, transport: str) -> None:
    async with SESSIONS[transport](server) as session:
        bad_range = await session.call_tool("trim", {"input": {"asset_id": server.asset_id}, "start_s": -1})
        unknown = await session.call_tool("trim", {"input": {"asset_id": "no-such-asset"}, "end_s": 1})
        bad_wait = await session.call_tool("wait_task", {"task_id": "x", "timeout_s": 0})
        missing = await session.call_tool("get_task", {"task_id": "no-such-task"})

    assert bad_range.is_error
    assert bad_range.structured_content["code"] == "invalid_request"
    assert bad_range.structured_content["status"] == 422
    assert "start_s" in bad_range.content[0].text
    assert unknown.is_error
    assert unknown.structured_content["status"] == 404, unknown.structured_content
    assert bad_wait.is_error
    assert bad_wait.structured_content["code"] == "invalid_request"
    assert "timeout_s" in bad_wait.content[0].text
    assert missing.is_error
    assert missing.structured_content["status"] == 404


async def test_upload_from_url_registers_an_asset(server: Server) -> None:
    async with http_session(server) as session:
        made = await session.call_tool("upload_from_url", {"url": server.asset_url})
        refused = await session.call_tool("upload_from_url", {"url": "ftp://example.invalid/a.mp4"})

    assert not made.is_error, made.content
    assert made.structured_content["origin"] == "url"
    assert made.structured_content["source_url"] == server.asset_url
    assert made.structured_content["id"] in made.content[0].text
    assert refused.is_error
    assert refused.structured_content["status"] == 422
    assert refused.structured_content["code"] in refused.content[0].text


async def test_mcp_needs_the_api_credentials(server: Server) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    accept = {"Accept": "application/json, text/event-stream"}
    anonymous = httpx.post(f"{server.url}/mcp", json=initialize, headers=accept)
    wrong = httpx.post(f"{server.url}/mcp", json=initialize, headers={**accept, "Authorization": "Bearer vk_nope"})
    right = httpx.post(
        f"{server.url}/mcp", json=initialize, headers={**accept, "Authorization": f"Bearer {server.key}"}
    )

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert anonymous.json()["code"] == "missing_credentials"
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_api_key"
    assert right.status_code == 200, right.text
    assert "videoapi" in right.text


async def test_each_tool_call_is_made_with_the_callers_key_and_scopes(server: Server) -> None:
    def make_reader() -> str:
        return with_services(server.settings, lambda services: services.keys.create("reader", scopes=["read"]))[1]

    reader = await anyio.to_thread.run_sync(make_reader)  # its own event loop, off this test's
    async with http_session(server) as session:
        task = (
            await session.call_tool("trim", {"input": {"asset_id": server.asset_id}, "start_s": 0, "end_s": 1})
        ).structured_content
    async with http_session(server, reader) as session:
        refused = await session.call_tool("trim", {"input": {"asset_id": server.asset_id}, "start_s": 0, "end_s": 1})
        foreign = await session.call_tool("get_task", {"task_id": task["id"]})

    assert refused.is_error
    assert refused.structured_content["status"] == 403
    assert refused.structured_content["code"] == "insufficient_scope"
    # Another owner's task does not exist for this key, over MCP as over the API.
    assert foreign.is_error
    assert foreign.structured_content["status"] == 404


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_a_repeated_call_with_its_idempotency_key_answers_the_first_task(server: Server, transport: str) -> None:
    body = {"input": {"asset_id": server.asset_id}, "start_s": 0, "end_s": 1}
    async with SESSIONS[transport](server) as session:
        first = await session.call_tool("trim", {**body, "idempotency_key": f"mcp-{transport}-1"})
        again = await session.call_tool("trim", {**body, "idempotency_key": f"mcp-{transport}-1"})
        other = await session.call_tool("trim", {**body, "idempotency_key": f"mcp-{transport}-2"})
        reused = await session.call_tool("trim", {**body, "end_s": 1.5, "idempotency_key": f"mcp-{transport}-1"})
    assert not first.is_error and not again.is_error, (first.content, again.content)
    assert again.structured_content["id"] == first.structured_content["id"]
    assert other.structured_content["id"] != first.structured_content["id"]
    assert reused.is_error and reused.structured_content["code"] == "idempotency_key_reused"


async def test_a_tool_call_counts_once_against_the_rate_limit(server: Server) -> None:
    """One /mcp POST is one request of the caller's rate, whatever its tool call asks of the API."""
    key = await anyio.to_thread.run_sync(lambda: make_key(server.settings, "metered", rate_per_s=0.001, burst=100))
    posts: list[str] = []

    async def count(request: httpx2.Request) -> None:
        if request.method == "POST":
            posts.append(str(request.url))

    def remaining() -> int:
        resp = httpx.get(f"{server.url}/v1/video/tasks?limit=1", headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text
        return int(resp.headers["RateLimit-Remaining"])

    before = await anyio.to_thread.run_sync(remaining)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60, event_hooks={"request": [count]}) as client,
        streamable_http_client(f"{server.url}/mcp", http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        # This key's owner has no assets: the input is the clip's download URL.
        created = await session.call_tool("trim", {"input": {"url": server.asset_url}, "start_s": 0, "end_s": 1})
        assert not created.is_error, created.content
        # wait_task polls the task several times within its one call.
        waited = await session.call_tool("wait_task", {"task_id": created.structured_content["id"], "timeout_s": 60})
    assert waited.structured_content["status"] == "succeeded", waited.content
    after = await anyio.to_thread.run_sync(remaining)
    assert posts and all(url.endswith("/mcp") for url in posts)
    assert before - after == len(posts) + 1  # each /mcp POST, and the GET that read `after`


async def test_a_jwt_opens_mcp_and_its_subject_owns_the_tasks(server: Server) -> None:
    def token(sub: str) -> str:
        return jwt.encode({"sub": sub, "exp": int(time.time()) + 300, "scope": "read edit"}, JWT_SECRET)

    trim = {"input": {"url": server.asset_url}, "start_s": 0, "end_s": 1}
    async with http_session(server, token("agent-1")) as session:
        created = await session.call_tool("trim", trim)
    async with http_session(server, token("agent-2")) as session:
        foreign = await session.call_tool("get_task", {"task_id": created.structured_content["id"]})

    assert not created.is_error, created.content
    mine = httpx.get(
        f"{server.url}/v1/video/tasks/{created.structured_content['id']}",
        headers={"Authorization": f"Bearer {token('agent-1')}"},
    )
    assert mine.status_code == 200
    assert foreign.is_error
    assert foreign.structured_content["status"] == 404


async def test_wait_task_answers_a_running_task_when_its_timeout_passes(server: Server) -> None:
    async with http_session(server) as session:
        created = await session.call_tool("transcode", {"input": {"asset_id": server.asset_id}, **SLOW_TRANSCODE})
        task_id = created.structured_content["id"]
        waited = await session.call_tool("wait_task", {"task_id": task_id, "timeout_s": 0.05})
    httpx.post(f"{server.url}/v1/video/tasks/{task_id}/cancel", headers={"Authorization": f"Bearer {server.key}"})

    assert not waited.is_error, waited.content
    assert waited.structured_content["id"] == task_id
    assert waited.structured_content["status"] in ("queued", "running")
    assert "call wait_task again" in waited.content[0].text


async def test_the_2026_protocol_without_handshake_is_served_too(server: Server) -> None:
    """The SDK's `Client` pinned to 2026-07-28 (a per-request envelope, no initialize) on the same /mcp."""
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {server.key}"}, timeout=60) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode="2026-07-28") as client,
    ):
        tools = {tool.name for tool in (await client.list_tools()).tools}
        created = await client.call_tool("trim", {"input": {"asset_id": server.asset_id}, "start_s": 0, "end_s": 1})
        waited = await client.call_tool(
            "wait_task", {"task_id": created.structured_content["id"]}, progress_callback=on_progress
        )
        bad = await client.call_tool("trim", {"input": {"asset_id": server.asset_id}, "start_s": -1})
        version = client.protocol_version

    assert version == "2026-07-28"
    assert "wait_task" in tools
    assert waited.structured_content["status"] == "succeeded", waited.structured_content
    assert progress and progress[-1] == 1.0
    assert bad.is_error
    assert bad.structured_content["code"] == "invalid_request"
