"""Fetch a URL input to a local file, with SSRF defences and size and time limits.

Every hop (the URL and each redirect) is checked: http or https only, no credentials in the URL,
and every address the host resolves to must be globally routable unless an allowed network
(`limits.fetch_allow_cidrs`) holds it. The request then goes to the checked address itself, with
the original Host header and TLS server name, so a second DNS answer cannot point it elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from pathlib import Path

import anyio
import httpx
import msgspec

from videoapi.errors import FetchError
from videoapi.settings import LimitSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_USER_AGENT = "videoapi-fetch/1"

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64 well-known and local-use).
_NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# Not routable on the internet, yet not flagged by every Python version's ipaddress tables.
_EXTRA_SPECIAL = (ipaddress.IPv4Network("192.0.0.0/24"), ipaddress.IPv4Network("192.88.99.0/24"))


class FetchResult(msgspec.Struct, frozen=True, kw_only=True):
    size_bytes: int
    content_type: str | None
    final_url: str
    """The URL the body came from, after redirects."""


async def fetch_url(url: str, dest: Path, *, limits: LimitSettings) -> FetchResult:
    """Download `url` into `dest`; raise FetchError and leave no file behind on any failure.

    Codes: url_forbidden (scheme, credentials or address refused), input_too_large (413),
    fetch_timeout, fetch_failed (unreachable, non-2xx answer, too many redirects).
    """
    allow = [ipaddress.ip_network(cidr, strict=False) for cidr in limits.fetch_allow_cidrs]
    try:
        async with asyncio.timeout(limits.fetch_timeout_s):
            return await _fetch(url, dest, limits, allow)
    except TimeoutError:
        _discard(dest)
        raise FetchError(
            f"Fetching the URL took longer than {limits.fetch_timeout_s:g} s.", code="fetch_timeout"
        ) from None
    except BaseException:
        _discard(dest)
        raise


async def check_target(
    url: str, allow_cidrs: Sequence[str] = (), allow_ports: Sequence[int] = ()
) -> tuple[httpx.URL, IPAddress]:
    """Apply the same checks to a URL the server calls itself (webhooks): the URL and the address to connect to.

    `allow_ports` (empty: any) limits the port, explicit or the scheme's default, so a target cannot
    point the server at an internal service that happens to be reachable on a public address.
    Raises FetchError `url_forbidden` (scheme, credentials, port, a refused address) or `fetch_failed`
    (the name does not resolve). Connect to the returned address, not the name, so that a second
    DNS answer cannot point the request elsewhere.
    """
    allow = [ipaddress.ip_network(cidr, strict=False) for cidr in allow_cidrs]
    parsed = _parse_url(url)
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    if allow_ports and port not in allow_ports:
        allowed = ", ".join(str(p) for p in allow_ports)
        raise FetchError(f"This target may use port {allowed} only, not {port}.", code="url_forbidden")
    return parsed, await _resolve_checked(parsed, allow)


def _discard(dest: Path) -> None:
    # Synchronous on purpose: one local unlink is quick, and an await here could be cut short
    # by a second cancellation, leaving the partial file behind.
    dest.unlink(missing_ok=True)


def is_forbidden_address(ip: IPAddress, allow: Sequence[IPNetwork] = ()) -> bool:
    """True unless `ip` is globally routable unicast, or inside one of the `allow` networks."""
    if any(ip.version == net.version and ip in net for net in allow):
        return False
    return any(_is_special(candidate) for candidate in (ip, *_embedded_ipv4(ip)))


def _is_special(ip: IPAddress) -> bool:
    # is_global alone misses multicast (and, depending on the Python version, some embeddings).
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or any(ip.version == net.version and ip in net for net in _EXTRA_SPECIAL)
    )


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to: mapped, 6to4, Teredo and NAT64 forms."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    found = [addr for addr in (ip.ipv4_mapped, ip.sixtofour) if addr is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in prefix for prefix in _NAT64_PREFIXES):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


async def _fetch(url: str, dest: Path, limits: LimitSettings, allow: Sequence[IPNetwork]) -> FetchResult:
    current = _parse_url(url)
    # trust_env=False: an HTTP proxy from the environment would resolve names itself.
    timeout = httpx.Timeout(limits.fetch_timeout_s)
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as client:
        for _hop in range(limits.fetch_max_redirects + 1):
            ip = await _resolve_checked(current, allow)
            host = current.raw_host.decode("ascii")
            request_url = current.copy_with(host=str(ip), fragment=None)
            headers = {
                "Host": current.netloc.decode("ascii"),
                "User-Agent": _USER_AGENT,
                # The byte limit applies to what we store; a compressed body could expand past it.
                "Accept-Encoding": "identity",
            }
            extensions = {"sni_hostname": host} if current.scheme == "https" else {}
            try:
                async with client.stream("GET", request_url, headers=headers, extensions=extensions) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECT_STATUSES and location:
                        current = _parse_url(current.join(location))
                        continue
                    if not response.is_success:
                        raise FetchError(f"The URL answered HTTP {response.status_code}.", code="fetch_failed")
                    size_bytes = await _save_body(response, dest, limits.max_upload_bytes)
                    return FetchResult(
                        size_bytes=size_bytes,
                        content_type=response.headers.get("content-type"),
                        final_url=str(current),
                    )
            except httpx.TimeoutException:
                raise TimeoutError from None
            except httpx.HTTPError:
                raise FetchError("The URL could not be reached.", code="fetch_failed") from None
    raise FetchError(f"The URL redirected more than {limits.fetch_max_redirects} times.", code="fetch_failed")


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise FetchError("The URL is not valid.", code="url_forbidden") from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise FetchError("Only http and https URLs are accepted.", code="url_forbidden")
    if parsed.userinfo:
        raise FetchError("URLs with credentials are not accepted.", code="url_forbidden")
    if not parsed.host:
        raise FetchError("The URL has no host.", code="url_forbidden")
    return parsed


async def _resolve_checked(url: httpx.URL, allow: Sequence[IPNetwork]) -> IPAddress:
    """Resolve the URL's host; refuse it if any address is forbidden; return the first."""
    port = url.port or _DEFAULT_PORTS[url.scheme]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(url.raw_host.decode("ascii"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError("The URL's host name could not be resolved.", code="fetch_failed") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    # One bad address is enough: the connection might use any of them.
    if not addresses or any(is_forbidden_address(addr, allow) for addr in addresses):
        raise FetchError("The URL resolves to a private or reserved address.", code="url_forbidden")
    return addresses[0]


async def _save_body(response: httpx.Response, dest: Path, max_bytes: int) -> int:
    too_large = FetchError(
        f"The file at the URL is larger than the limit of {max_bytes} bytes.", code="input_too_large", status=413
    )
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    size_bytes = 0
    async with await anyio.open_file(dest, "wb") as fh:
        async for chunk in response.aiter_raw():
            size_bytes += len(chunk)
            if size_bytes > max_bytes:
                raise too_large
            await fh.write(chunk)
    return size_bytes
