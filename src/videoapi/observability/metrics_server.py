"""A /metrics listener of its own (a worker's `--metrics-port`, the API's `metrics.listen`), with the
same bearer token as the API's /metrics when `metrics.token` is set.

prometheus_client's `start_http_server` serves anyone who can reach its port; a worker bound to
`server.host` in production would then show its queues, routes and hosts to the internet.
"""

from __future__ import annotations

import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def serve_metrics(host: str, port: int, registry: CollectorRegistry, token: str = "") -> ThreadingHTTPServer:
    """Serve `registry` at GET /metrics on host:port from a daemon thread; stop it with `shutdown()`."""
    expected = f"Bearer {token}".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"not found\n", "text/plain")
            elif token and not hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected):
                self._answer(401, b"/metrics needs the metrics bearer token (metrics.token)\n", "text/plain")
            else:
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="metrics"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would flood stderr; the API logs its own requests

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
