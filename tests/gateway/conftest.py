"""Gateway fixtures: keys with options, a queue without workers, a webhook receiver, a real HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import uvicorn

from tests.conftest import Api, free_port, run_async, running_app
from videoapi.app import create_app
from videoapi.composition import build_services
from videoapi.db.migrate import upgrade
from videoapi.settings import Settings


def make_key(settings: Settings, name: str = "gw", **options: Any) -> str:
    """A key with gateway options (scopes, allow_ips, rate_per_s, burst, max_priority, max_active_tasks)."""

    async def make() -> str:
        services = await build_services(settings, None)
        try:
            return (await services.keys.create(name, **options))[1]
        finally:
            await services.close()

    return run_async(make())


@pytest.fixture
def queued_api(
    make_settings: Callable[..., Settings], pg_url: str, redis_url: str
) -> Callable[..., AbstractContextManager[Api]]:
    """An API on PostgreSQL with a Redis broker and no workers: created tasks stay queued."""

    def make(**overrides: Any) -> AbstractContextManager[Api]:
        settings = make_settings(
            **{
                "database.url": pg_url,
                "queue.broker": "redis",
                "queue.url": redis_url,
                "queue.namespace": f"t{uuid.uuid4().hex[:10]}",
                "server.embedded_workers": False,
                **overrides,
            }
        )
        return running_app(settings)

    return make


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every request and answers scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.port = free_port()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout_s: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} webhook requests after {timeout_s} s, wanted {count}")
            time.sleep(0.05)
        return self.requests

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread, configured like `videoapi serve`): a real client address."""
    upgrade(settings.database_url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
