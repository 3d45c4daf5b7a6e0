"""The HTTP tracker: /tracker/announce and /tracker/scrape, bencoded, through Django's test client
and through the ASGI route the served instance answers with."""

import struct
from urllib.parse import quote_from_bytes

import bencode
import orjson
import pytest

from instance.models import P2PSetting
from tests.tracker_helpers import add_video, peer_id
from tests.tracker_http_client import SHELLS, shell_client
from tracker.service import service

pytestmark = pytest.mark.django_db
# An independent bencode decoder that keeps every string as bytes, as a client sees them.
decode = bencode.Bencode(encoding=None).decode


@pytest.fixture(params=SHELLS)
def client(request, client):
    """Every test runs through both adapters of the HTTP tracker (tests/tracker_http_client.py)."""
    return shell_client(request.param, client)


@pytest.fixture(autouse=True)
def _fresh_tracker(fresh_tracker):
    return fresh_tracker


def query(**params) -> str:
    return "&".join(
        f"{key}={quote_from_bytes(value) if isinstance(value, bytes) else value}"
        for key, value in params.items()
    )


def http_announce(client, info_hash, pid, *, ip="10.0.0.1", port=6881, **extra) -> dict:
    params = dict(info_hash=info_hash, peer_id=pid, port=port, uploaded=0, downloaded=0, left=10)
    params.update(extra)
    response = client.get(f"/tracker/announce?{query(**params)}", REMOTE_ADDR=ip)
    assert response.status_code == 200
    return decode(response.content)


def compact_peers(blob: bytes) -> list[tuple[str, int]]:
    return [
        (".".join(str(b) for b in blob[i : i + 4]), struct.unpack("!H", blob[i + 4 : i + 6])[0])
        for i in range(0, len(blob), 6)
    ]


def test_compact_announce_lists_other_http_peers_with_intervals(client):
    info_hash = add_video("http")
    first = http_announce(client, info_hash, peer_id(1), ip="10.0.0.1", port=6881)
    assert first[b"interval"] == 120 and first[b"min interval"] == 60
    assert first[b"peers"] == b""
    second = http_announce(client, info_hash, peer_id(2), ip="10.0.0.2", port=6882, left=0)
    assert compact_peers(second[b"peers"]) == [("10.0.0.1", 6881)]
    assert (second[b"complete"], second[b"incomplete"]) == (1, 1)


def test_non_compact_and_ipv6_replies(client):
    info_hash = add_video("http-v6")
    http_announce(client, info_hash, peer_id(1), ip="2001:db8::1", port=7000)
    http_announce(client, info_hash, peer_id(2), ip="10.0.0.2", port=7001)
    reply = http_announce(client, info_hash, peer_id(3), ip="10.0.0.3", port=7002, compact=0)
    listed = {(p[b"ip"].decode(), p[b"port"], p[b"peer id"]) for p in reply[b"peers"]}
    assert listed == {
        ("2001:db8::1", 7000, peer_id(1)),
        ("10.0.0.2", 7001, peer_id(2)),
    }
    compact = http_announce(client, info_hash, peer_id(4), ip="10.0.0.4", port=7003)
    assert len(compact[b"peers6"]) == 18 and len(compact[b"peers"]) == 12


def test_the_peer_list_is_capped_and_sampled_at_random(client):
    info_hash = add_video("http-cap")
    for n in range(60):
        http_announce(client, info_hash, peer_id(n), ip=f"10.0.1.{n}", port=6881)
    samples = [
        frozenset(
            compact_peers(
                http_announce(client, info_hash, peer_id(99), ip="10.0.2.1", numwant=200)[b"peers"]
            )
        )
        for _ in range(5)
    ]
    assert all(len(sample) == 20 for sample in samples)
    assert len(set(samples)) > 1


@pytest.mark.parametrize(
    ("setup", "reason"),
    [("unknown", b"Unknown infoHash"), ("off", b"P2P is disabled for this video")],
)
def test_unknown_or_disabled_infohashes_get_a_failure_reason_and_are_not_stored(
    client, setup, reason
):
    info_hash = b"u" * 20 if setup == "unknown" else add_video("off", p2p=P2PSetting.OFF)
    reply = http_announce(client, info_hash, peer_id(1))
    assert reply == {b"failure reason": reason}
    assert service.stats()["http_peers"] == 0


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ("", "invalid info_hash"),
        ("info_hash=short&peer_id=xxxxxxxxxxxxxxxxxxxx&port=1&left=0", "invalid info_hash"),
        (f"info_hash={'%41' * 20}&peer_id=short&port=1&left=0", "invalid peer_id"),
        (f"info_hash={'%41' * 20}&peer_id={'%42' * 20}&port=0&left=0", "invalid port"),
        (f"info_hash={'%41' * 20}&peer_id={'%42' * 20}&port=1&left=-1", "invalid left"),
        (f"info_hash={'%41' * 20}&peer_id={'%42' * 20}&port=1&left={'9' * 40}", "invalid left"),
        (f"info_hash={'%41' * 20}&peer_id={'%42' * 20}&port=1&left=0&event=x", "invalid event"),
        ("info_hash=" + "%41" * 5000, "request too large"),
    ],
)
def test_malformed_announces_get_a_clear_failure_reason(client, params, reason):
    response = client.get(f"/tracker/announce?{params}")
    assert response.status_code == 200
    assert decode(response.content) == {b"failure reason": reason.encode()}


def test_web_peers_are_never_listed_in_http_replies(client):
    info_hash = add_video("mixed")
    service.reload()
    with service.lock:
        service.core.receive_web(
            "web-socket",
            None,
            orjson.dumps(
                {
                    "action": "announce",
                    "event": "started",
                    "info_hash": info_hash.decode("latin-1"),
                    "peer_id": peer_id(1).decode(),
                    "left": 0,
                    "offers": [],
                }
            ),
            service.now(),
            service.rng,
        )
    reply = http_announce(client, info_hash, peer_id(2))
    assert reply[b"peers"] == b"" and reply[b"complete"] == 1


def test_scrape_reports_counts_and_full_scrape_is_refused(client):
    info_hash = add_video("scrape")
    http_announce(client, info_hash, peer_id(1), left=0)
    response = client.get(f"/tracker/scrape?{query(info_hash=info_hash)}")
    files = decode(response.content)[b"files"]
    assert files == {info_hash: {b"complete": 1, b"incomplete": 0, b"downloaded": 0}}
    refused = decode(client.get("/tracker/scrape").content)
    assert refused == {b"failure reason": b"full scrape is not allowed"}
