"""How a relayed offer or answer crosses to another process (tracker/redis_layout.py): fixed
fields that come back exactly whatever bytes the ids hold, the recipient's text frame as the
sender built it, and records read one by one (a malformed one, not the rest)."""

import orjson
import pytest

from tracker.core import (
    RelayedAnswer,
    RelayedOffer,
    RemoteAnswer,
    RemoteConnection,
    RemoteOffer,
    encode_web,
)
from tracker.redis_layout import ANSWER, GUARD, OFFER, RECORD_HEAD, guard_record, records, relayed

# Ids are any 20 bytes (a pseudonym too): these hold zero and every high bit, and the SDP every
# control character.
AWKWARD = bytes([0, 1, 2, 0x7F, 0xFF]) * 4
SDP = "v=0\r\n" + "".join(map(chr, range(32))) + "é\u2028"


class Sender:
    relay_id = 42


def offer_record() -> tuple[RelayedOffer, bytes]:
    offer = RelayedOffer(AWKWARD, AWKWARD[::-1], bytes(20), {"type": "offer", "sdp": SDP})
    record = relayed("abcdef012345", RemoteConnection("fedcba543210", 7), RemoteOffer(
        AWKWARD, Sender(), offer))  # fmt: skip
    return offer, record


def test_an_offer_record_gives_back_its_fields_and_carries_the_recipients_text():
    offer, record = offer_record()
    [(kind, fields, text)] = records(record)
    assert kind == OFFER
    to, target, process, number, info_hash, peer_id, offer_id = fields
    assert (to, target, process, number) == (7, AWKWARD, b"abcdef012345", 42)
    assert [info_hash, peer_id, offer_id] == list(offer[:3])
    assert text.decode() == encode_web(offer)
    assert orjson.loads(text)["offer"]["sdp"] == SDP


def test_an_answer_record_gives_back_its_fields_and_carries_the_recipients_text():
    answer = RelayedAnswer(AWKWARD, bytes(20), AWKWARD, {"type": "answer", "sdp": SDP})
    record = relayed("abcdef012345", RemoteConnection("fedcba543210", 9), RemoteAnswer(
        AWKWARD[::-1], answer))  # fmt: skip
    [(kind, fields, text)] = records(record)
    assert kind == ANSWER
    to, target, info_hash, peer_id, offer_id = fields
    assert (to, target) == (9, AWKWARD[::-1])
    assert [info_hash, peer_id, offer_id] == list(answer[:3])
    assert text.decode() == encode_web(answer)


def test_records_of_one_payload_come_back_in_order_and_a_short_one_does_not_hide_the_rest():
    _, offer = offer_record()
    counted = guard_record(b'{"f":"abcdef012345","e":["m1"]}')
    short = RECORD_HEAD.pack(OFFER, 3) + b"abc"
    read = list(records(offer + short + counted + offer))
    assert [kind for kind, _, _ in read] == [OFFER, OFFER, GUARD, OFFER]
    assert read[1][1] is None  # too short for an offer's fields
    assert orjson.loads(read[2][2])["e"] == ["m1"]
    assert read[3] == read[0]


def test_a_record_longer_than_its_payload_ends_the_payload():
    _, offer = offer_record()
    with pytest.raises(ValueError):
        list(records(offer + offer[:-1]))
