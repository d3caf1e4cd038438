"""Helpers for tests that drive the app: an API client bound to a key, keys, services, problem checks."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import TestClient
from sqlalchemy import make_url

from videoapi.app import create_app
from videoapi.composition import build_services
from videoapi.db.migrate import upgrade
from videoapi.settings import Settings, load_settings

TERMINAL = {"succeeded", "failed", "canceled"}
SLOW_TRANSCODE = {"width": 1280, "height": 960, "quality": "high"}


def serve_in_thread(server: socketserver.BaseServer) -> threading.Thread:
    """Run a test server in a daemon thread. It polls for `shutdown()` every 20 ms, not the default 0.5 s
    that every test using one would otherwise wait at its end."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return thread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_problem(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and code), and leaks no traceback."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in resp.text
    if code:
        assert body["code"] == code, body
    return body


def toml_value(value: Any) -> str:
    """Render a value the way an operator writes it in a VIDEOAPI_* variable (a TOML value)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


_MIGRATED_SQLITE: Path | None = None


def migrate(database_url: str) -> None:
    """Bring a test database to head. A new embedded SQLite file is a copy of one migrated in this process
    (the migrations run once per process, not once per test); anything else runs the real upgrade."""
    global _MIGRATED_SQLITE
    url = make_url(database_url)
    target = Path(url.database or "") if url.get_backend_name() == "sqlite" else None
    if target is None or not url.database or url.database == ":memory:" or target.exists():
        upgrade(database_url)
        return
    if _MIGRATED_SQLITE is None:
        template = Path(tempfile.mkdtemp(prefix="videoapi-migrated-")) / "head.db"
        upgrade(str(url.set(database=str(template))))
        _MIGRATED_SQLITE = template
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_MIGRATED_SQLITE, target)


def settings_in(root: Path, **overrides: Any) -> Settings:
    """Settings for an isolated install under `root`; keyword args are dotted overrides."""
    env = {
        "VIDEOAPI_SERVER__VAR_DIR": str(root / "var"),
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
        "VIDEOAPI_TASKS__RECONCILE_INTERVAL_S": "0.5",
        # Tests poll fast; the rate limit tests (tests/gateway) set their own rates.
        "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
        "VIDEOAPI_GATEWAY__DEFAULT_BURST": "1000",
        # Probing runs ffmpeg at every worker start; tests/media/test_hardware.py turns it on.
        "VIDEOAPI_OUTPUTS__PROBE_HARDWARE": "false",
        # Tests start and stop an app each: idle worker threads notice the stop in 20 ms, not 100.
        "VIDEOAPI_SERVER__WORKER_IDLE_POLL_MS": "20",
    }
    for dotted, value in overrides.items():
        env["VIDEOAPI_" + dotted.upper().replace(".", "__")] = value if isinstance(value, str) else toml_value(value)
    return load_settings(environ=env)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


def with_services(settings: Settings, fn: Callable[[Any], Any]) -> Any:
    """Run `fn(services)` on freshly built services (no broker), then close them."""

    async def run() -> Any:
        services = await build_services(settings, None)
        try:
            return await fn(services)
        finally:
            await services.close()

    return run_async(run())


def create_key(settings: Settings, name: str = "test", scopes: list[str] | None = None) -> str:
    async def make() -> str:
        services = await build_services(settings, None)
        try:
            return (await services.keys.create(name, scopes=scopes))[1]
        finally:
            await services.close()

    return run_async(make())


class Api:
    """A TestClient bound to one API key, with helpers that read like the README walkthrough."""

    def __init__(self, client: TestClient, key: str, settings: Settings) -> None:
        self.client = client
        self.key = key
        self.settings = settings

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def as_key(self, key: str) -> Api:
        return Api(self.client, key, self.settings)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.get(url, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.post(url, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.put(url, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.patch(url, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.delete(url, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def upload(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as fh:
            resp = self.post("/v1/video/assets", files={"file": (path.name, fh, "application/octet-stream")})
        assert resp.status_code == 201, resp.text
        return resp.json()

    def wait(self, task_id: str, timeout_s: float = 60, until: set[str] = TERMINAL) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            task = self.get(f"/v1/video/tasks/{task_id}").json()
            if task["status"] in until:
                return task
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} still {task['status']} after {timeout_s} s: {task}")
            time.sleep(0.1)

    def download(self, url: str, dest: Path) -> Path:
        path = url.split("testserver.local", 1)[-1]
        resp = self.client.get(path)
        assert resp.status_code == 200, resp.text
        dest.write_bytes(resp.content)
        return dest


@contextmanager
def running_app(settings: Settings) -> Iterator[Api]:
    """Migrate, create a key, and run the app (lifespan included) for the `with` block."""
    migrate(settings.database_url)
    key = create_key(settings)
    with TestClient(create_app(settings), base_url="http://testserver.local") as client:
        yield Api(client, key, settings)


def set_policy(settings: Settings, **changes: Any) -> None:
    """Set the moderation/watermark policy of the first API key's owner (the test app's own key)."""

    async def run() -> None:
        services = await build_services(settings, None)
        try:
            key_id = (await services.keys.list())[0].id
            await services.policies.update(key_id, **changes)
        finally:
            await services.close()

    asyncio.run(run())
