"""The client's IP address (``client_ip``): the socket peer's, or what a trusted proxy says."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from entrypoints.settings import Network

MAX_FORWARDED_HOPS = 20


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> str:
    """The client's IP address; ``peer`` is the socket peer's.

    ``X-Forwarded-For`` counts only when the socket peer is a trusted proxy; then the
    chain is read from the right, skipping trusted proxies, and the first address that
    is not one of ours is the client. Anyone else could mint free credits by sending
    the header, so it is ignored for them.
    """
    peer = peer or "unknown"
    if not forwarded_for or not _is_trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")][-MAX_FORWARDED_HOPS:]
    for hop in reversed(hops):
        if not _is_address(hop):
            return peer
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops and _is_address(hops[0]) else peer


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # an IPv4 proxy seen through a dual-stack socket
    return any(ip in client_network for client_network in trusted_proxies)
