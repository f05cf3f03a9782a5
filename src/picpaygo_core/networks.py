"""Client networks: the unit that free credits are granted to."""

from __future__ import annotations

import functools
import ipaddress

IPV6_PREFIX = 64
# Recent clients' networks, remembered: every request asks, and parsing is not free.
REMEMBERED_ADDRESSES = 4096


@functools.lru_cache(maxsize=REMEMBERED_ADDRESSES)
def client_network(address: str) -> str:
    """The network a client address belongs to, as a stable key.

    An IPv4 client is its own network; an IPv6 client is counted per /64, since one
    subscriber usually holds a whole /64 and could otherwise mint free credits at will.
    IPv4-mapped IPv6 addresses count as their IPv4 address. An unparseable address
    (a test client, a Unix socket) is kept verbatim.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip() or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)
