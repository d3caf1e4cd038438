"""Shared fixtures: settings in a temp dir, the migrated app with embedded workers, and the real
PostgreSQL / Redis / RabbitMQ services of the machine (a missing service fails the test, never skips)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
from litestar.testing import TestClient

from videoapi.app import create_app
from videoapi.composition import build_services
from videoapi.db.migrate import upgrade
from videoapi.settings import Settings, load_settings

PG_ADMIN_DSN = os.environ.get("VIDEOAPI_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
REDIS_URL = os.environ.get("VIDEOAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("VIDEOAPI_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_port(name: str, port: int) -> None:
    """Fail loudly (not skip) when a service the test needs is down: .ci/run starts them."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return
    except OSError:
        pytest.fail(f"{name} is not reachable on 127.0.0.1:{port}; start it (see .ci/run) and rerun", pytrace=False)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 320x240 25 fps H.264 + AAC, moov atom at the end (so that cutting it in half breaks it)."""
    from tests.mediagen import make_video

    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", duration_s=4.0, faststart=False)


@pytest.fixture(scope="session")
def slow_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of 640x480: upscaled with SLOW_TRANSCODE it keeps ffmpeg busy for several seconds."""
    from tests.mediagen import make_video

    return make_video(tmp_path_factory.mktemp("media") / "slow.mp4", duration_s=12.0, width=640, height=480)


SLOW_TRANSCODE = {"width": 1280, "height": 960, "quality": "high"}


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


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an isolated install under tmp_path; keyword args are dotted overrides."""

    def make(**overrides: Any) -> Settings:
        env = {
            "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var"),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
            "VIDEOAPI_TASKS__RECONCILE_INTERVAL_S": "0.5",
            # Tests poll fast; the rate limit tests (tests/gateway) set their own rates.
            "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
            "VIDEOAPI_GATEWAY__DEFAULT_BURST": "1000",
        }
        for dotted, value in overrides.items():
            env["VIDEOAPI_" + dotted.upper().replace(".", "__")] = (
                value if isinstance(value, str) else toml_value(value)
            )
        return load_settings(environ=env)

    return make


def toml_value(value: Any) -> str:
    """Render a value the way an operator writes it in a VIDEOAPI_* variable (a TOML value)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


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


def create_key(settings: Settings, name: str = "test") -> str:
    async def make() -> str:
        services = await build_services(settings, None)
        try:
            return (await services.keys.create(name))[1]
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
    upgrade(settings.database_url)
    key = create_key(settings)
    with TestClient(create_app(settings), base_url="http://testserver.local") as client:
        yield Api(client, key, settings)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run `videoapi ...` on an isolated install under tmp_path; returns its output."""
    from click.testing import CliRunner

    from videoapi.cli import main

    monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VIDEOAPI_SERVER__ENVIRONMENT", "test")
    runner = CliRunner()

    def run(*args: str, ok: bool = True, input: str | None = None) -> str:
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    """The embedded shape: SQLite, local store, in-process broker and worker threads."""
    with running_app(make_settings()) as api:
        yield api


# ---- real services --------------------------------------------------------------------------


@contextmanager
def empty_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its async URL), dropped when the block ends."""
    require_port("PostgreSQL", 5432)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
        yield f"postgresql+asyncpg://{params.get('user', 'postgres')}@{params['host']}:{params['port']}/{name}"
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated; dropped at the end."""
    with empty_pg_database("videoapi_test") as url:
        upgrade(url)
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied before the test."""
    dsn = pg_database.replace("postgresql+asyncpg://", "postgresql://")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        cur.execute(f"TRUNCATE {cur.fetchone()[0]}")
    conn.close()
    return pg_database


@pytest.fixture
def redis_url() -> str:
    require_port("Redis", 6379)
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """host:port of an in-process S3-compatible server (moto, from PyPI) speaking the real S3 protocol."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def rabbitmq_url() -> str:
    require_port("RabbitMQ", 5672)
    return RABBITMQ_URL
