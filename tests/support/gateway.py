"""Gateway helpers: keys with options, a webhook receiver, the app on a real HTTP socket."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.support.app import free_port, migrate, run_async, serve_in_thread
from tests.support.waits import wait_until
from videoapi.app import create_app
from videoapi.composition import build_services
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
        self.thread = serve_in_thread(self.server)

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


class HostileReceiver:
    """A webhook endpoint on 127.0.0.1 that answers 200 and then never finishes its body.

    `endless`: sends `burst_bytes` as fast as the client reads, then one byte every `drip_s`
    (so a per-read timeout never fires); `drip`: one byte every `drip_s` from the start.
    """

    def __init__(self, mode: str, drip_s: float = 0.5, burst_bytes: int = 64 * 1024 * 1024) -> None:
        self.requests: list[float] = []
        self.sent_bytes = 0
        self.port = free_port()
        self._closing = threading.Event()
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)  # the request (headers and a small JSON body)
                receiver.requests.append(time.monotonic())
                try:
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
                    if mode == "endless":
                        chunk = b"x" * 65536
                        for _ in range(burst_bytes // len(chunk)):
                            self.request.sendall(chunk)
                            receiver.sent_bytes += len(chunk)
                    while not receiver._closing.wait(drip_s):
                        self.request.sendall(b"x")
                        receiver.sent_bytes += 1
                except OSError:
                    return  # the client hung up: what a bounded reader does

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = serve_in_thread(self.server)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serve(settings: Settings, port: int | None = None) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread, configured like `videoapi serve`): a real client address.

    `port`: a port picked beforehand (`free_port()`), for settings whose `server.public_url` names it.
    """
    migrate(settings.database_url)
    port = port or free_port()
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
