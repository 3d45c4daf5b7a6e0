"""Query strings of HTTP tracker requests, decoded to raw bytes in the core."""

import random
from urllib.parse import quote_from_bytes, unquote_to_bytes

import pytest

from tracker.core import ProtocolError
from tracker.core.http_query import MAX_QUERY_BYTES, first_values, parse_query, unquote


@pytest.mark.parametrize(
    "value",
    [b"%41%42", b"%4", b"%zz", b"%", b"abc", b"%00%ff%FF", b"a\\b%41", b"%5Cx41", b"%5C", b"+%2B"],
)
def test_percent_decoding_matches_urllib_on_edge_cases(value):
    assert unquote(value) == unquote_to_bytes(value)


def test_percent_decoding_matches_urllib_on_random_input():
    rng = random.Random(8)
    alphabet = b"%0123456789abcdefABCDEFxz\\+\xff"
    for _ in range(20000):
        value = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        assert unquote(value) == unquote_to_bytes(value), value
    for _ in range(2000):
        raw = rng.randbytes(20)
        assert unquote(quote_from_bytes(raw).encode()) == raw


def test_an_announce_reads_the_first_value_and_a_scrape_every_value():
    query = b"info_hash=%41%41&info_hash=BB&peer_id=x+y&&flag"
    assert first_values(query) == {b"info_hash": b"AA", b"peer_id": b"x+y", b"flag": b""}
    assert parse_query(query)[b"info_hash"] == [b"AA", b"BB"]


def test_an_overlong_query_is_refused_before_it_is_read():
    with pytest.raises(ProtocolError, match="request too large"):
        first_values(b"a" * (MAX_QUERY_BYTES + 1))
