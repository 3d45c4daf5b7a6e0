import random

import orjson
import pytest

from tracker.core import HARD_MAX_PEERS, ProtocolError, TrackerConfig, wire_id
from tracker.core.message_types import WebAnnounce, WebAnswer, WebOffer, WebScrape
from tracker.core.web_parser import parse_web_message

CONFIG = TrackerConfig()
INFO_HASH = bytes(range(230, 250))  # bytes above 0x7f: must survive the latin-1 round trip
PEER_ID = b"-WW0208-" + b"\x00\x01\x7f\x80\xff" + b"abcdefg"
OTHER_PEER_ID = b"-WW0208-zyxwvutsrqpo"
OFFER_ID = bytes(range(20))  # control characters included, as browsers send


def offer_item(n: int = 0) -> dict:
    return {
        "offer": {"type": "offer", "sdp": f"v=0 sdp {n}"},
        "offer_id": wire_id(bytes([n]) * 20),
    }


def announce(**fields) -> dict:
    message = {
        "action": "announce",
        "info_hash": wire_id(INFO_HASH),
        "peer_id": wire_id(PEER_ID),
        "numwant": 5,
        "uploaded": 0,
        "downloaded": 0,
        "left": 100,
        "event": "started",
        "offers": [offer_item(n) for n in range(5)],
    }
    message.update(fields)
    return {k: v for k, v in message.items() if v is not DROP}


def answer(**fields) -> dict:
    message = {
        "action": "announce",
        "info_hash": wire_id(INFO_HASH),
        "peer_id": wire_id(PEER_ID),
        "to_peer_id": wire_id(OTHER_PEER_ID),
        "offer_id": wire_id(OFFER_ID),
        "answer": {"type": "answer", "sdp": "v=0 answer"},
    }
    message.update(fields)
    return {k: v for k, v in message.items() if v is not DROP}


DROP = object()


def parse(message) -> object:
    raw = message if isinstance(message, str | bytes) else orjson.dumps(message)
    return parse_web_message(raw, CONFIG)


def test_started_announce_is_parsed_with_its_offers():
    message = parse(announce())
    assert isinstance(message, WebAnnounce)
    assert message.info_hash == INFO_HASH
    assert message.peer_id == PEER_ID
    assert message.event == "started"
    assert message.left == 100
    assert message.numwant == 5
    assert message.offers[0] == WebOffer(
        offer_id=b"\x00" * 20, offer={"type": "offer", "sdp": "v=0 sdp 0"}
    )
    assert len(message.offers) == 5


def test_text_and_bytes_frames_parse_the_same():
    raw = orjson.dumps(announce())
    assert parse_web_message(raw, CONFIG) == parse_web_message(raw.decode(), CONFIG)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"event": DROP}, None),  # periodic announce: no event key
        ({"event": None}, None),
        ({"event": ""}, None),
        ({"event": "update"}, None),  # the reference server's name for periodic
        ({"event": "completed"}, "completed"),
        ({"event": "stopped"}, "stopped"),
    ],
)
def test_event_is_normalised(fields, expected):
    assert parse(announce(**fields)).event == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"left": None}, None),  # webtorrent before it has the metadata
        ({"left": DROP}, None),
        ({"left": 0}, 0),
        ({"left": 2**63 - 1}, 2**63 - 1),
    ],
)
def test_left_may_be_null_or_missing_meaning_unknown(fields, expected):
    assert parse(announce(**fields)).left == expected


@pytest.mark.parametrize(
    ("numwant", "expected"),
    [(5, 5), (0, 0), (-3, 0), (1000, HARD_MAX_PEERS), (DROP, CONFIG.max_peers_per_reply)],
)
def test_numwant_is_clamped_not_refused(numwant, expected):
    assert parse(announce(numwant=numwant)).numwant == expected


def test_offer_is_rebuilt_without_extra_fields():
    item = {"offer": {"type": "offer", "sdp": "x", "evil": "y"}, "offer_id": wire_id(OFFER_ID)}
    assert parse(announce(offers=[item])).offers[0].offer == {"type": "offer", "sdp": "x"}


def test_missing_offers_means_none_and_counters_default_to_zero():
    message = parse(announce(offers=DROP, uploaded=DROP, downloaded=DROP))
    assert message.offers == ()
    assert (message.uploaded, message.downloaded) == (0, 0)


def test_answer_is_recognised_by_its_answer_key():
    message = parse(answer())
    assert message == WebAnswer(
        info_hash=INFO_HASH,
        peer_id=PEER_ID,
        to_peer_id=OTHER_PEER_ID,
        offer_id=OFFER_ID,
        answer={"type": "answer", "sdp": "v=0 answer"},
    )


@pytest.mark.parametrize(
    ("info_hash", "expected"),
    [
        (wire_id(INFO_HASH), (INFO_HASH,)),
        ([wire_id(INFO_HASH)], (INFO_HASH,)),
        ([wire_id(INFO_HASH), wire_id(b"b" * 20), wire_id(INFO_HASH)], (INFO_HASH, b"b" * 20)),
    ],
)
def test_scrape_takes_one_or_many_info_hashes_and_drops_duplicates(info_hash, expected):
    assert parse({"action": "scrape", "info_hash": info_hash}) == WebScrape(expected)


TOO_MANY_OFFERS = [offer_item(n) for n in range(CONFIG.max_offers_per_announce + 1)]
OVERSIZE = announce(offers=[{**offer_item(), "offer": {"type": "offer", "sdp": "x" * 70000}}])

BAD_MESSAGES = [
    # (label, message, reason)
    ("invalid JSON", b"{not json", "invalid JSON"),
    ("truncated JSON", '{"action": "announce"', "invalid JSON"),
    ("invalid UTF-8", b'{"action": "\xff"}', "invalid JSON"),
    ("empty frame", b"", "invalid JSON"),
    ("list", [announce()], "message is not a JSON object"),
    ("string", '"announce"', "message is not a JSON object"),
    ("number", 7, "message is not a JSON object"),
    ("null", None, "message is not a JSON object"),
    ("missing action", announce(action=DROP), "invalid action"),
    ("unknown action", announce(action="connect"), "invalid action"),
    ("numeric action", announce(action=1), "invalid action"),
    ("missing info_hash", announce(info_hash=DROP), "invalid info_hash"),
    ("hex info_hash", announce(info_hash=INFO_HASH.hex()), "invalid info_hash"),
    ("short info_hash", announce(info_hash="a" * 19), "invalid info_hash"),
    ("long info_hash", announce(info_hash="a" * 21), "invalid info_hash"),
    ("non-latin-1 info_hash", announce(info_hash="a" * 19 + "\u0100"), "invalid info_hash"),
    ("emoji info_hash", announce(info_hash="a" * 19 + "\U0001f600"), "invalid info_hash"),
    ("list info_hash", announce(info_hash=[wire_id(INFO_HASH)]), "invalid info_hash"),
    ("missing peer_id", announce(peer_id=DROP), "invalid peer_id"),
    ("non-latin-1 peer_id", announce(peer_id="\u20ac" * 20), "invalid peer_id"),
    ("int peer_id", announce(peer_id=12345678901234567890), "invalid peer_id"),
    ("short peer_id", announce(peer_id="-WW0208-"), "invalid peer_id"),
    ("bool uploaded", announce(uploaded=True), "invalid uploaded"),
    ("bool left", announce(left=False), "invalid left"),
    ("string left", announce(left="100"), "invalid left"),
    ("float downloaded", announce(downloaded=1.0), "invalid downloaded"),
    ("negative left", announce(left=-1), "invalid left"),
    ("huge uploaded", announce(uploaded=2**63), "invalid uploaded"),
    ("huge downloaded", announce(downloaded=2**64 - 1), "invalid downloaded"),
    ("bool numwant", announce(numwant=True), "invalid numwant"),
    ("string numwant", announce(numwant="5"), "invalid numwant"),
    ("huge numwant", announce(numwant=-(2**63)), "invalid numwant"),
    ("unknown event", announce(event="paused"), "unknown event"),
    ("numeric event", announce(event=3), "invalid event"),
    ("null offers", announce(offers=None), "invalid offers"),
    ("object offers", announce(offers={"0": offer_item()}), "invalid offers"),
    ("offers [null]", announce(offers=[None]), "invalid offer"),
    ("offers [1]", announce(offers=[1]), "invalid offer"),
    ("offers [[]]", announce(offers=[[]]), "invalid offer"),
    ("too many offers", announce(offers=TOO_MANY_OFFERS), "too many offers"),
    ("offer without id", announce(offers=[{"offer": offer_item()["offer"]}]), "invalid offer_id"),
    (
        "offer id too short",
        announce(offers=[{**offer_item(), "offer_id": "x"}]),
        "invalid offer_id",
    ),
    ("offer null", announce(offers=[{**offer_item(), "offer": None}]), "invalid offer"),
    (
        "offer sdp int",
        announce(offers=[{**offer_item(), "offer": {"type": "offer", "sdp": 1}}]),
        "invalid offer",
    ),
    (
        "offer of type answer",
        announce(offers=[{**offer_item(), "offer": {"type": "answer", "sdp": "x"}}]),
        "invalid offer",
    ),
    ("oversize message", OVERSIZE, "message too large"),
    ("answer null", answer(answer=None), "invalid answer"),
    ("answer string", answer(answer="sdp"), "invalid answer"),
    ("answer of type offer", answer(answer={"type": "offer", "sdp": "x"}), "invalid answer"),
    ("answer without sdp", answer(answer={"type": "answer"}), "invalid answer"),
    ("answer without to_peer_id", answer(to_peer_id=DROP), "invalid to_peer_id"),
    ("answer with bad to_peer_id", answer(to_peer_id="\u0394" * 20), "invalid to_peer_id"),
    ("answer without offer_id", answer(offer_id=DROP), "invalid offer_id"),
    ("answer with bad peer_id", answer(peer_id=None), "invalid peer_id"),
    ("scrape without info_hash", {"action": "scrape"}, "full scrape is not allowed"),
    ("scrape with null", {"action": "scrape", "info_hash": None}, "full scrape is not allowed"),
    ("scrape with empty list", {"action": "scrape", "info_hash": []}, "full scrape is not allowed"),
    ("scrape with empty str", {"action": "scrape", "info_hash": ""}, "invalid info_hash"),
    ("scrape with number", {"action": "scrape", "info_hash": 5}, "invalid info_hash"),
    ("scrape with object", {"action": "scrape", "info_hash": {"a": 1}}, "invalid info_hash"),
    ("scrape with [null]", {"action": "scrape", "info_hash": [None]}, "invalid info_hash"),
    ("scrape with bad id", {"action": "scrape", "info_hash": ["a" * 20, "b"]}, "invalid info_hash"),
    (
        "scrape with too many",
        {"action": "scrape", "info_hash": [wire_id(bytes([n]) * 20) for n in range(51)]},
        "too many info_hashes",
    ),
]


@pytest.mark.parametrize(
    ("message", "reason"),
    [pytest.param(message, reason, id=label) for label, message, reason in BAD_MESSAGES],
)
def test_bad_message_is_refused_with_a_clear_reason(message, reason):
    with pytest.raises(ProtocolError) as caught:
        parse(message)
    assert caught.value.reason == reason


def test_failure_names_the_info_hash_when_it_was_valid():
    with pytest.raises(ProtocolError) as caught:
        parse(announce(peer_id="short"))
    assert caught.value.info_hash == INFO_HASH
    assert caught.value.action == "announce"


def test_failure_has_no_info_hash_when_the_info_hash_itself_is_bad():
    with pytest.raises(ProtocolError) as caught:
        parse(announce(info_hash="short"))
    assert caught.value.info_hash is None


def test_scrape_failures_keep_the_scrape_action():
    with pytest.raises(ProtocolError) as caught:
        parse({"action": "scrape"})
    assert caught.value.action == "scrape"


def test_message_size_is_measured_in_utf8_bytes_not_characters():
    # 40,000 "é" are 40,000 characters but 80,000 bytes on the wire.
    message = orjson.dumps(announce(offers=[], pad="é" * 40000)).decode()
    assert len(message) < CONFIG.max_message_bytes
    with pytest.raises(ProtocolError, match="message too large"):
        parse_web_message(message, CONFIG)
    small = orjson.dumps(announce(offers=[], pad="é" * 20000)).decode()
    assert isinstance(parse_web_message(small, CONFIG), WebAnnounce)


def test_a_message_exactly_at_the_limit_is_accepted():
    base = orjson.dumps(announce(pad=""))
    raw = orjson.dumps(announce(pad="x" * (CONFIG.max_message_bytes - len(base))))
    assert len(raw) == CONFIG.max_message_bytes
    assert isinstance(parse_web_message(raw, CONFIG), WebAnnounce)
    with pytest.raises(ProtocolError):
        parse_web_message(raw + b" ", CONFIG)


@pytest.mark.parametrize("raw", [None, 5, ["a"], {"action": "announce"}, bytearray(b"{}")])
def test_non_text_input_is_a_protocol_error_too(raw):
    with pytest.raises(ProtocolError):
        parse_web_message(raw, CONFIG)


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(10 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 5, 2**63 - 1, 2**63, -(2**63), 2**64 - 1])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e300])
    if kind == 4:
        return "".join(chr(rng.choice([0, 0x41, 0xE9, 0xFF, 0x100, 0x20AC])) for _ in range(20))
    if kind == 5:
        return rng.choice(["", "offer", "answer", "started", "stopped", "completed", "scrape"])
    if kind == 6:
        return wire_id(bytes(rng.randrange(256) for _ in range(rng.choice([19, 20, 21]))))
    if kind == 7:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["action", "info_hash", "peer_id", "offers", "offer", "offer_id", "sdp", "type", "x"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def mutate(rng: random.Random, message: dict) -> dict:
    message = dict(message)
    for _ in range(rng.randrange(1, 3)):
        key = rng.choice([*message, "answer"])
        if rng.random() < 0.2:
            message.pop(key, None)
        else:
            message[key] = random_json(rng)
    if rng.random() < 0.3 and isinstance(message.get("offers"), list) and message["offers"]:
        offers = list(message["offers"])
        offers[rng.randrange(len(offers))] = random_json(rng)
        message["offers"] = offers
    return message


def test_fuzzed_messages_only_ever_raise_protocol_error():
    rng = random.Random(1)
    outcomes = {"accepted": 0, "refused": 0}
    templates = [announce(), answer(), {"action": "scrape", "info_hash": wire_id(INFO_HASH)}]
    for _ in range(5000):
        choice = rng.random()
        if choice < 0.6:
            raw = orjson.dumps(mutate(rng, rng.choice(templates)))
        elif choice < 0.8:
            raw = orjson.dumps(random_json(rng))
        else:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        if rng.random() < 0.5:
            raw = raw.decode("utf-8", "surrogateescape")
        try:
            parse_web_message(raw, CONFIG)
        except ProtocolError:
            outcomes["refused"] += 1
        else:
            outcomes["accepted"] += 1
    # Both paths were exercised; anything other than ProtocolError would have failed the test.
    assert min(outcomes.values()) > 100
