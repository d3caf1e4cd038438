"""The API process fetches URL assets itself: a bounded number at once per caller and overall, and a
caller past the bound is told so at once (429 with Retry-After) instead of holding a connection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.app import assert_problem, serve_in_thread
from tests.support.gateway import make_key, serve
from tests.support.waits import wait_until
from videoapi.settings import Settings


class Held:
    """A media server that answers nothing until released; counts the requests it holds."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.holding = 0
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                held.holding += 1
                held.release.wait(20)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        serve_in_thread(self.server)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/clip.mp4"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def held() -> Iterator[Held]:
    server = Held()
    yield server
    server.close()


def test_a_caller_past_its_url_fetch_bound_gets_429_and_others_still_fetch(
    make_settings: Callable[..., Settings], held: Held
) -> None:
    settings = make_settings(
        **{
            "limits.fetch_allow_cidrs": ["127.0.0.0/8"],
            "limits.max_media_reads_per_owner": 2,
            "limits.max_media_reads": 3,
        }
    )
    with serve(settings) as base:
        keys = [make_key(settings, name) for name in ("a", "b", "c")]

        def register(key: str) -> httpx.Response:
            return httpx.post(
                f"{base}/v1/video/assets",
                json={"url": held.url},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )

        with ThreadPoolExecutor(4) as pool:
            first = [pool.submit(register, keys[0]) for _ in range(2)]
            wait_until(lambda: held.holding == 2, timeout_s=10, what="two fetches of caller a held")

            over_own = register(keys[0])  # answered at once: the held fetches have not finished
            body = assert_problem(over_own, 429, "too_many_concurrent")
            assert over_own.headers["Retry-After"] == "5" and "2 URL asset fetches" in body["detail"]
            detect = httpx.post(
                f"{base}/v1/video/watermark/detect",
                json={"input": {"url": held.url}},
                headers={"Authorization": f"Bearer {keys[0]}"},
                timeout=30,
            )
            assert_problem(detect, 429, "too_many_concurrent")  # watermark reads share the bound

            other = pool.submit(register, keys[1])  # another caller is not held back by a's bound
            wait_until(lambda: held.holding == 3, timeout_s=10, what="caller b's fetch reaching the server")
            assert_problem(register(keys[2]), 429, "too_many_concurrent")  # the process-wide bound

            held.release.set()
            for done in [*first, other]:
                assert_problem(done.result(), 422, "fetch_failed")  # the server said 404

        # The slots were given back: the caller can fetch again.
        assert_problem(register(keys[0]), 422, "fetch_failed")
