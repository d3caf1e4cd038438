"""The caller's address: the socket peer, or, behind trusted proxies, the rightmost untrusted X-Forwarded-For hop."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from videoapi.media.fetch import IPAddress, IPNetwork


def parse_networks(cidrs: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _in(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _parse(value: str) -> IPAddress | None:
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def client_ip(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> IPAddress | None:
    """Where the request came from.

    X-Forwarded-For is only read when the socket peer is a trusted proxy; then the hops are read
    from the right (the nearest proxy first) and the first one that is not itself a trusted proxy
    is the client. Anything a client wrote further left is ignored: it could be forged.
    """
    ip = _parse(peer) if peer else None
    if ip is None or not trusted or not _in(ip, trusted):
        return ip
    hops = [h for value in forwarded_for for h in value.split(",")]
    for hop in reversed(hops):
        hop_ip = _parse(hop)
        if hop_ip is None:
            return ip  # garbage in the chain: stop at the last address we could trust
        if not _in(hop_ip, trusted):
            return hop_ip
        ip = hop_ip
    return ip


def allowed(ip: IPAddress | None, allow: Sequence[str]) -> bool:
    if ip is None:
        return False
    return _in(ip, parse_networks(allow))
