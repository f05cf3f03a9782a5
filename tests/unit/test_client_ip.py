"""Who the client is: the socket peer unless a trusted proxy says otherwise; IPv6 per /64."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from entrypoints.http.client_ip import client_ip
from picpaygo_core.networks import client_network

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
PROXY = "10.0.0.2"
STRANGER = "203.0.113.5"
CLIENT = "198.51.100.7"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def test_without_forwarded_for_the_client_is_the_peer() -> None:
    assert client_ip(STRANGER, None, PROXIES) == STRANGER


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip(STRANGER, CLIENT, PROXIES) == STRANGER


def test_forwarded_for_is_ignored_when_no_proxy_is_trusted() -> None:
    assert client_ip(PROXY, CLIENT, ()) == PROXY


def test_forwarded_for_from_a_trusted_proxy_names_the_client() -> None:
    assert client_ip(PROXY, CLIENT, PROXIES) == CLIENT


def test_a_trusted_ipv6_proxy_is_honoured() -> None:
    assert client_ip("fd00::1", CLIENT, PROXIES) == CLIENT


def test_a_chain_is_read_from_the_right_skipping_trusted_proxies() -> None:
    forwarded_for = f"{STRANGER}, {CLIENT}, 10.1.1.1, 10.2.2.2"

    assert client_ip(PROXY, forwarded_for, PROXIES) == CLIENT


def test_a_spoofed_address_on_the_left_of_the_chain_is_not_believed() -> None:
    forwarded_for = f"1.2.3.4, {CLIENT}"

    assert client_ip(PROXY, forwarded_for, PROXIES) == CLIENT


def test_a_chain_of_only_trusted_proxies_names_its_first_hop() -> None:
    assert client_ip(PROXY, "10.9.9.9, 10.1.1.1", PROXIES) == "10.9.9.9"


@pytest.mark.parametrize(
    "forwarded_for",
    [
        "garbage",
        f"{CLIENT}, garbage",
        f"{CLIENT},",
        "",
        " , ",
        "[2001:db8::1]:443",
        f"{CLIENT}:8080",
        "unknown",
        "\x00\xff",
    ],
)
def test_garbage_where_the_client_should_be_means_the_peer(forwarded_for: str) -> None:
    assert client_ip(PROXY, forwarded_for, PROXIES) == PROXY


def test_no_peer_at_all_is_unknown() -> None:
    assert client_ip(None, CLIENT, PROXIES) == "unknown"


def test_a_trusted_proxy_seen_through_a_dual_stack_socket_is_honoured() -> None:
    assert client_ip(f"::ffff:{PROXY}", CLIENT, PROXIES) == CLIENT


@given(forwarded_for=st.one_of(st.none(), st.text(), st.lists(st.ip_addresses().map(str))))
def test_for_any_forwarded_for_from_an_untrusted_peer_the_client_is_the_peer(
    forwarded_for: str | list[str] | None,
) -> None:
    header = ", ".join(forwarded_for) if isinstance(forwarded_for, list) else forwarded_for

    assert client_ip(STRANGER, header, PROXIES) == STRANGER


@given(
    forwarded_for=st.one_of(
        st.text(),
        st.lists(st.one_of(st.ip_addresses().map(str), st.text(max_size=8))).map(", ".join),
    )
)
def test_from_a_trusted_proxy_the_client_is_the_peer_or_an_address_from_the_header(
    forwarded_for: str,
) -> None:
    found = client_ip(PROXY, forwarded_for, PROXIES)

    hops = [hop.strip() for hop in forwarded_for.split(",")]
    assert found == PROXY or (_is_ip(found) and found in hops)


def test_an_ipv4_client_is_its_own_network() -> None:
    assert client_network(CLIENT) == CLIENT


def test_an_ipv6_client_is_counted_per_64_network() -> None:
    assert client_network("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"


def test_two_addresses_in_one_64_share_a_network() -> None:
    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::9")


def test_neighbouring_64_networks_are_counted_apart() -> None:
    assert client_network("2001:db8:1:2::1") != client_network("2001:db8:1:3::1")


def test_how_an_ipv6_address_is_written_does_not_change_its_network() -> None:
    assert client_network("2001:0DB8:0001:0002:0000:0000:0000:0001") == client_network(
        "2001:db8:1:2::1"
    )


def test_an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_address() -> None:
    assert client_network(f"::ffff:{CLIENT}") == CLIENT


@pytest.mark.parametrize(("address", "network"), [("testclient", "testclient"), ("  ", "unknown")])
def test_an_unparseable_address_is_kept_verbatim(address: str, network: str) -> None:
    assert client_network(address) == network


@given(address=st.ip_addresses(v=6), host_bits=st.integers(0, 2**64 - 1))
def test_any_two_ipv6_addresses_sharing_64_bits_of_prefix_share_a_network(
    address: ipaddress.IPv6Address, host_bits: int
) -> None:
    neighbour = ipaddress.IPv6Address((int(address) >> 64 << 64) | host_bits)
    assume(address.ipv4_mapped is None and neighbour.ipv4_mapped is None)

    assert client_network(str(address)) == client_network(str(neighbour))
