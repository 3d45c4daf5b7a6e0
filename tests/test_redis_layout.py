"""How a relayed offer or answer crosses to another process (tracker/redis_layout.py): fields
that split back exactly whatever bytes the ids hold, and the recipient's text frame as the
sender built it."""

import orjson

from tracker.core import (
    RelayedAnswer,
    RelayedOffer,
    RemoteAnswer,
    RemoteConnection,
    RemoteOffer,
    encode_web,
)
from tracker.redis_layout import ANSWER, FIELD_END, OFFER, RECORD_END, relayed

# Ids are any 20 bytes: these hold both separators, and the SDP every control character.
AWKWARD = bytes([0, 1, 2, 0x7F, 0xFF]) * 4
SDP = "v=0\r\n" + "".join(map(chr, range(32))) + "é\u2028"


class Sender:
    relay_id = 42


def test_an_offer_record_splits_into_its_fields_and_carries_the_recipients_text():
    offer = RelayedOffer(AWKWARD, AWKWARD[::-1], bytes(20), {"type": "offer", "sdp": SDP})
    record = relayed("abcdef012345", RemoteConnection("fedcba543210", 7), RemoteOffer(
        AWKWARD, Sender(), offer))  # fmt: skip
    assert record[0] == OFFER and RECORD_END not in record
    to, target, process, number, info_hash, peer_id, offer_id, text = record[1:].split(FIELD_END, 7)
    assert (int(to), bytes.fromhex(target.decode()), process, int(number)) == (
        7, AWKWARD, b"abcdef012345", 42)  # fmt: skip
    assert [bytes.fromhex(f.decode()) for f in (info_hash, peer_id, offer_id)] == list(offer[:3])
    assert text.decode() == encode_web(offer)
    assert orjson.loads(text)["offer"]["sdp"] == SDP


def test_an_answer_record_splits_into_its_fields_and_carries_the_recipients_text():
    answer = RelayedAnswer(AWKWARD, bytes(20), AWKWARD, {"type": "answer", "sdp": SDP})
    record = relayed("abcdef012345", RemoteConnection("fedcba543210", 9), RemoteAnswer(
        AWKWARD[::-1], answer))  # fmt: skip
    assert record[0] == ANSWER and RECORD_END not in record
    to, target, info_hash, peer_id, offer_id, text = record[1:].split(FIELD_END, 5)
    assert (int(to), bytes.fromhex(target.decode())) == (9, AWKWARD[::-1])
    assert [bytes.fromhex(f.decode()) for f in (info_hash, peer_id, offer_id)] == list(answer[:3])
    assert text.decode() == encode_web(answer)
