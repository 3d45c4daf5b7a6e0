import pytest

from tracker.core import HARD_MAX_PEERS, ProtocolError, TrackerConfig
from tracker.core.http_parser import parse_http_announce, parse_http_scrape
from tracker.core.message_types import HttpAnnounce, HttpScrape

CONFIG = TrackerConfig()
INFO_HASH = bytes(range(200, 220))  # raw binary, not UTF-8
PEER_ID = b"-lt2011-\xff\xfe" + b"0123456789"


def params(**fields) -> dict[bytes, bytes]:
    query = {
        b"info_hash": INFO_HASH,
        b"peer_id": PEER_ID,
        b"port": b"6881",
        b"uploaded": b"0",
        b"downloaded": b"0",
        b"left": b"1000",
    }
    for key, value in fields.items():
        if value is None:
            query.pop(key.encode(), None)
        else:
            query[key.encode()] = value
    return query


def test_minimal_announce_is_parsed_with_bep23_compact_by_default():
    assert parse_http_announce(params(), "192.0.2.7") == HttpAnnounce(
        info_hash=INFO_HASH,
        peer_id=PEER_ID,
        ip="192.0.2.7",
        port=6881,
        uploaded=0,
        downloaded=0,
        left=1000,
        event=None,
        numwant=None,
        compact=True,
        no_peer_id=False,
    )


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({"compact": b"0"}, "compact", False),
        ({"compact": b"1"}, "compact", True),
        ({"compact": b""}, "compact", True),
        ({"no_peer_id": b"1"}, "no_peer_id", True),
        ({"no_peer_id": b"0"}, "no_peer_id", False),
        ({"event": b"started"}, "event", "started"),
        ({"event": b"completed"}, "event", "completed"),
        ({"event": b"stopped"}, "event", "stopped"),
        ({"event": b""}, "event", None),
        ({"numwant": b"10"}, "numwant", 10),
        ({"numwant": b"0"}, "numwant", 0),
        ({"numwant": b"500"}, "numwant", HARD_MAX_PEERS),
        ({"uploaded": None, "downloaded": None}, "uploaded", 0),
        ({"left": b"0"}, "left", 0),
        ({"port": b"65535"}, "port", 65535),
        ({"port": b"00080"}, "port", 80),
        ({"ip": b"203.0.113.9"}, "ip", "192.0.2.7"),  # a client-supplied ip is ignored
    ],
)
def test_announce_fields_are_decoded(fields, attribute, expected):
    assert getattr(parse_http_announce(params(**fields), "192.0.2.7"), attribute) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # dual-stack socket reporting an IPv4 client
        ("2001:DB8::1", "2001:db8::1"),
    ],
)
def test_client_address_is_normalised(ip, expected):
    assert parse_http_announce(params(), ip).ip == expected


@pytest.mark.parametrize(
    ("fields", "ip", "reason"),
    [
        ({"info_hash": None}, "192.0.2.7", "invalid info_hash"),
        ({"info_hash": INFO_HASH[:19]}, "192.0.2.7", "invalid info_hash"),
        ({"info_hash": INFO_HASH.hex().encode()}, "192.0.2.7", "invalid info_hash"),
        ({"peer_id": None}, "192.0.2.7", "invalid peer_id"),
        ({"peer_id": PEER_ID + b"x"}, "192.0.2.7", "invalid peer_id"),
        ({"port": None}, "192.0.2.7", "missing port"),
        ({"port": b"0"}, "192.0.2.7", "invalid port"),
        ({"port": b"65536"}, "192.0.2.7", "invalid port"),
        ({"port": b"-1"}, "192.0.2.7", "invalid port"),
        ({"port": b"+80"}, "192.0.2.7", "invalid port"),
        ({"port": b" 80"}, "192.0.2.7", "invalid port"),
        ({"port": b"8_0"}, "192.0.2.7", "invalid port"),
        ({"port": b"1e3"}, "192.0.2.7", "invalid port"),
        ({"port": "٨٠".encode()}, "192.0.2.7", "invalid port"),  # Arabic-Indic digits
        ({"left": None}, "192.0.2.7", "missing left"),
        ({"left": b"-5"}, "192.0.2.7", "invalid left"),
        ({"left": b"9" * 20}, "192.0.2.7", "invalid left"),
        ({"left": b"9223372036854775808"}, "192.0.2.7", "invalid left"),  # 2**63
        ({"uploaded": b""}, "192.0.2.7", "invalid uploaded"),
        ({"downloaded": b"1.5"}, "192.0.2.7", "invalid downloaded"),
        ({"numwant": b"-1"}, "192.0.2.7", "invalid numwant"),
        ({"event": b"paused"}, "192.0.2.7", "invalid event"),
        ({"event": b"STARTED"}, "192.0.2.7", "invalid event"),
        ({}, "not an ip", "invalid ip"),
        ({}, "fe80::1%eth0", "invalid ip"),
    ],
)
def test_bad_announce_is_refused_with_a_clear_reason(fields, ip, reason):
    with pytest.raises(ProtocolError) as caught:
        parse_http_announce(params(**fields), ip)
    assert caught.value.reason == reason


def test_announce_failure_names_the_info_hash_when_it_was_valid():
    with pytest.raises(ProtocolError) as caught:
        parse_http_announce(params(port=b"0"), "192.0.2.7")
    assert caught.value.info_hash == INFO_HASH


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([INFO_HASH], (INFO_HASH,)),
        ([INFO_HASH, b"b" * 20, INFO_HASH], (INFO_HASH, b"b" * 20)),
    ],
)
def test_scrape_takes_repeated_info_hashes_and_drops_duplicates(values, expected):
    assert parse_http_scrape({b"info_hash": values}) == HttpScrape(expected)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "full scrape is not allowed"),
        ({b"info_hash": []}, "full scrape is not allowed"),
        ({b"info_hash": [INFO_HASH[:10]]}, "invalid info_hash"),
        ({b"info_hash": [INFO_HASH, b""]}, "invalid info_hash"),
        ({b"info_hash": [bytes([n]) * 20 for n in range(51)]}, "too many info_hashes"),
    ],
)
def test_bad_scrape_is_refused(query, reason):
    with pytest.raises(ProtocolError) as caught:
        parse_http_scrape(query)
    assert caught.value.reason == reason
    assert caught.value.action == "scrape"


def test_scrape_limit_follows_the_config():
    with pytest.raises(ProtocolError, match="too many"):
        parse_http_scrape(
            {b"info_hash": [b"a" * 20, b"b" * 20]}, TrackerConfig(max_scrape_infohashes=1)
        )
