"""Who is asking: the client address behind proxies, its source key, and what may be stored."""

from datetime import date
from ipaddress import ip_network

import pytest

from tracker.core.addresses import (
    UNKNOWN_SOURCE,
    client_address,
    daily_key,
    network_prefix,
    source_hash,
    source_key,
)

PROXIES = [ip_network("10.0.0.0/8"), ip_network("2001:db8:ffff::/48")]


@pytest.mark.parametrize(
    ("direct", "forwarded", "client"),
    [
        # Not a trusted proxy: whatever it writes in X-Forwarded-For is ignored.
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),
        # A trusted proxy: the right-most address that is not one of ours.
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),
        ("10.1.2.3", "192.0.2.66, 203.0.113.9, 10.9.9.9", "203.0.113.9"),
        # The client wrote the left part itself; it proves nothing.
        ("10.1.2.3", "1.2.3.4,203.0.113.9", "203.0.113.9"),
        ("10.1.2.3", None, "10.1.2.3"),
        ("10.1.2.3", "10.4.4.4", "10.4.4.4"),
        ("10.1.2.3", "203.0.113.9, garbage", "10.1.2.3"),
        ("10.1.2.3", "garbage, 203.0.113.9", "203.0.113.9"),
        ("::ffff:198.51.100.7", None, "198.51.100.7"),
        ("2001:db8:ffff::1", "2001:db8:1:2::3", "2001:db8:1:2::3"),
        # A Unix socket has no address: the proxy in front of it is what connects.
        (None, "203.0.113.9", "203.0.113.9"),
        (None, None, None),
    ],
)
def test_the_client_address_is_read_from_forwarded_for_only_behind_trusted_proxies(
    direct, forwarded, client
):
    assert client_address(direct, forwarded, PROXIES) == client


def test_without_trusted_proxies_forwarded_for_is_always_ignored():
    assert client_address("127.0.0.1", "203.0.113.9", []) == "127.0.0.1"


def test_an_ipv6_source_is_its_slash_64_and_an_unknown_one_is_a_single_source():
    assert source_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert source_key("198.51.100.7") == "198.51.100.7"
    assert source_key(None) == source_key("not an address") == UNKNOWN_SOURCE


def test_only_a_coarse_network_of_a_source_is_shown():
    assert network_prefix("198.51.100.7") == "198.51.0.0/16"
    assert network_prefix("2001:db8:1:2::/64") == "2001:db8::/32"
    assert network_prefix(UNKNOWN_SOURCE) == UNKNOWN_SOURCE


def test_the_hash_of_a_source_changes_every_day_and_with_the_secret():
    today, tomorrow = date(2026, 11, 24), date(2026, 11, 25)
    first = source_hash(daily_key("secret", today), "198.51.100.7")
    assert first == source_hash(daily_key("secret", today), "198.51.100.7")
    assert len(first) == 16 and int(first, 16) >= 0
    assert first != source_hash(daily_key("secret", tomorrow), "198.51.100.7")
    assert first != source_hash(daily_key("other secret", today), "198.51.100.7")
    assert first != source_hash(daily_key("secret", today), "198.51.100.8")
    assert "198.51" not in first
