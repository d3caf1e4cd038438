"""`wait` keeps its deadline on an event stream that only ever sends heartbeats (a server that never
announces the end): it returned never before, its `timeout_s` is kept now."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from videoapi_client import Client, VideoApiError

from tests.support.app import serve_in_thread


class HeartbeatsOnly(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.endswith("/events"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for _ in range(600):  # a minute of heartbeats, one every 0.1 s
                    self.wfile.write(b": heartbeat\n\n")
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:  # the polling after the stream: the task is still running
            body = b'{"type": "about:blank", "title": "busy", "status": 503, "code": "busy", "detail": "busy"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def heartbeats_only() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HeartbeatsOnly)
    server.daemon_threads = True
    serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_wait_keeps_its_deadline_while_the_stream_sends_only_heartbeats(heartbeats_only: str) -> None:
    with Client(heartbeats_only, "vk_test", max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(VideoApiError):
            client.wait("00000000-0000-0000-0000-000000000000", timeout_s=1.0)
        assert time.monotonic() - started < 5.0
