"""fetch_url(): SSRF defences on every hop, size and time limits, clean failures."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import serve_in_thread
from videoapi.errors import FetchError
from videoapi.media.fetch import fetch_url, is_forbidden_address
from videoapi.settings import LimitSettings

BODY = bytes(range(256)) * 400  # 100 KiB


def local_limits(**overrides: Any) -> LimitSettings:
    """Limits that let fetches reach the test server on 127.0.0.1, and nothing else private."""
    return LimitSettings(fetch_allow_cidrs=["127.0.0.1/32"], **overrides)


# ---- address classification ------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.251",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.0.8",
        "198.18.0.1",  # benchmarking
        "::1",
        "::",
        "fd00::1",  # unique local
        "fc00::1",
        "fe80::1",  # link-local
        "fec0::1",  # site-local
        "ff02::1",  # multicast
        "2001:db8::1",  # documentation
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 around 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address), [])


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2002:808:808::1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(address), [])


def test_allow_list_opens_a_private_network_and_nothing_else() -> None:
    allow = [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("fd00:1::/32")]

    assert not is_forbidden_address(ipaddress.ip_address("10.1.2.3"), allow)
    assert not is_forbidden_address(ipaddress.ip_address("fd00:1::5"), allow)
    assert is_forbidden_address(ipaddress.ip_address("10.2.0.1"), allow)
    assert is_forbidden_address(ipaddress.ip_address("169.254.169.254"), allow)


# ---- a real local HTTP server ----------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    hosts: list[str]

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))  # type: ignore[attr-defined]
        port = self.server.server_address[1]
        routes: dict[str, Any] = {
            "/file": lambda: self.send_body(200, BODY),
            "/missing": lambda: self.send_body(404, b"not here"),
            "/redirect-relative": lambda: self.redirect("/file"),
            "/redirect-metadata": lambda: self.redirect("http://169.254.169.254/latest/meta-data"),
            "/redirect-other-loopback": lambda: self.redirect(f"http://127.0.0.2:{port}/file"),
            "/redirect-file-scheme": lambda: self.redirect("file:///etc/passwd"),
            "/loop": lambda: self.redirect("/loop"),
            "/declared-big": lambda: self.send_body(200, BODY, length=10 * 1024 * 1024),
            "/chunked-big": self.send_chunked,
            "/stall": self.stall,
        }
        routes[self.path]()

    def send_body(self, status: int, body: bytes, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_chunked(self) -> None:
        # No Content-Length: the limit has to be enforced while streaming.
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for _ in range(40):
                self.wfile.write(BODY)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def stall(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY[:100])
        self.wfile.flush()
        time.sleep(3)  # stays: a stalled server is the behaviour under test

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.hosts = []  # type: ignore[attr-defined]
    serve_in_thread(httpd)
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


async def fetch_error(target: str, dest: Path, limits: LimitSettings) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetch_url(target, dest, limits=limits)
    assert not dest.exists(), "a failed fetch must not leave a partial file"
    return info.value


@pytest.mark.anyio
async def test_default_limits_refuse_loopback_and_metadata_addresses(
    tmp_path: Path, server: ThreadingHTTPServer
) -> None:
    for target in (url(server, "/file"), "http://169.254.169.254/latest/meta-data", "http://[::1]:9/x"):
        error = await fetch_error(target, tmp_path / "in.bin", LimitSettings())
        assert error.code == "url_forbidden", target
        assert "private or reserved" in error.detail
    assert server.hosts == []  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_allowed_network_is_fetched_to_the_destination(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    dest = tmp_path / "in.bin"

    result = await fetch_url(url(server, "/file"), dest, limits=local_limits())

    assert dest.read_bytes() == BODY
    assert result.size_bytes == len(BODY)
    assert result.content_type == "video/mp4"
    assert result.final_url == url(server, "/file")


@pytest.mark.anyio
async def test_relative_redirect_is_followed(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    dest = tmp_path / "in.bin"

    result = await fetch_url(url(server, "/redirect-relative"), dest, limits=local_limits())

    assert result.final_url == url(server, "/file")
    assert dest.read_bytes() == BODY


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/redirect-metadata", "/redirect-other-loopback", "/redirect-file-scheme"])
async def test_redirect_to_a_forbidden_target_is_refused(
    tmp_path: Path, server: ThreadingHTTPServer, path: str
) -> None:
    error = await fetch_error(url(server, path), tmp_path / "in.bin", local_limits())

    assert error.code == "url_forbidden"


@pytest.mark.anyio
async def test_redirect_loop_stops_after_the_limit(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    limits = local_limits(fetch_max_redirects=3)

    error = await fetch_error(url(server, "/loop"), tmp_path / "in.bin", limits)

    assert error.code == "fetch_failed"
    assert len(server.hosts) == 4  # type: ignore[attr-defined]


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/declared-big", "/chunked-big"])
async def test_body_over_the_size_limit_is_refused(tmp_path: Path, server: ThreadingHTTPServer, path: str) -> None:
    limits = local_limits(max_upload_bytes=1024 * 1024)

    error = await fetch_error(url(server, path), tmp_path / "in.bin", limits)

    assert (error.code, error.status) == ("input_too_large", 413)


@pytest.mark.anyio
async def test_stalled_server_hits_the_fetch_timeout(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    limits = local_limits(fetch_timeout_s=0.5)

    started = time.monotonic()
    error = await fetch_error(url(server, "/stall"), tmp_path / "in.bin", limits)

    assert error.code == "fetch_timeout"
    assert time.monotonic() - started < 2


@pytest.mark.anyio
async def test_non_2xx_answer_is_fetch_failed_naming_the_status(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    error = await fetch_error(url(server, "/missing"), tmp_path / "in.bin", local_limits())

    assert error.code == "fetch_failed"
    assert "404" in error.detail


@pytest.mark.anyio
async def test_closed_port_is_fetch_failed(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    error = await fetch_error(f"http://127.0.0.1:{port}/x", tmp_path / "in.bin", local_limits())

    assert error.code == "fetch_failed"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "target",
    ["ftp://example.com/a.mp4", "file:///etc/passwd", "gopher://example.com/", "http://user:pw@example.com/a.mp4"],
)
async def test_other_schemes_and_credentials_are_refused(tmp_path: Path, target: str) -> None:
    error = await fetch_error(target, tmp_path / "in.bin", LimitSettings())

    assert error.code == "url_forbidden"


@pytest.mark.anyio
async def test_request_goes_to_the_checked_address_with_the_original_host(
    tmp_path: Path, server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the name first resolves to an allowed address, then to a forbidden one.
    # The fetch must connect to the address it checked and never resolve the name again.
    port = server.server_address[1]
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1"])

    async def fake_getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "media.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return await real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    dest = tmp_path / "in.bin"

    result = await fetch_url(f"http://media.example:{port}/file", dest, limits=local_limits())

    assert dest.read_bytes() == BODY
    assert result.final_url == f"http://media.example:{port}/file"
    assert server.hosts == [f"media.example:{port}"]  # type: ignore[attr-defined]
