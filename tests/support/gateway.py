"""Gateway helpers: keys with options, a webhook receiver, the app on a real HTTP socket."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.support.app import free_port, run_async
from tests.support.waits import wait_until
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
        wait_until(
            lambda: len(self.requests) >= count,
            timeout_s=timeout_s,
            what=f"{count} webhook requests (have {len(self.requests)})",
        )
        return self.requests

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
    wait_until(lambda: server.started or not thread.is_alive(), timeout_s=20, interval_s=0.02, what="uvicorn to start")
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
