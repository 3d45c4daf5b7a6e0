"""The served instance's HTTP tracker route (tracker/http_app.py) where it differs from a Django
view: methods, headers, what it passes on to Django, and its memory of client addresses."""

import time
from ipaddress import ip_network
from urllib.parse import quote_from_bytes

import bencode
import pytest

from tests.tracker_helpers import add_video, peer_id
from tests.tracker_http_client import AsgiClient
from tracker import sources
from tracker.service import service

pytestmark = pytest.mark.django_db
decode = bencode.Bencode(encoding=None).decode


@pytest.fixture(autouse=True)
def _fresh_tracker(fresh_tracker):
    return fresh_tracker


def announce_path(info_hash: bytes, n: int = 1) -> str:
    pid = quote_from_bytes(peer_id(n))
    return (
        f"/tracker/announce?info_hash={quote_from_bytes(info_hash)}&peer_id={pid}&port=6881&left=0"
    )


def test_a_tracker_reply_is_answered_before_django_as_plain_text_browsers_will_not_sniff():
    response = AsgiClient().get(announce_path(add_video("headers")), "127.0.0.5")
    assert response.status_code == 200
    assert decode(response.content)[b"complete"] == 1
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert int(response.headers["content-length"]) == len(response.content)
    # Django's middleware chain adds this to every response it makes: it was not in the way.
    assert "x-frame-options" not in response.headers


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT"])
def test_only_get_is_answered_and_other_methods_count_for_nothing(method):
    response = AsgiClient().request(method, announce_path(add_video(method)), "127.0.0.5")
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert len(service.core.guard) == 0
    assert service.stats()["http_peers"] == 0


@pytest.mark.django_db(transaction=True)  # Django's handler queries from its own thread
def test_every_other_path_is_still_served_by_django():
    add_video("catalogue")
    response = AsgiClient().get("/api/v1/videos")
    assert response.status_code == 200 and response.content.startswith(b"{")
    assert AsgiClient().get("/tracker/announce/").status_code == 404  # Django's, not ours


def test_several_forwarded_for_headers_are_one_list_behind_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = [ip_network("127.0.0.0/8")]
    info_hash = add_video("proxied")
    client = AsgiClient()
    # The client's address is in the first header, a second trusted proxy added the second:
    # read as one list, the right-most untrusted hop is the client.
    hops = [(b"x-forwarded-for", b"198.51.100.1"), (b"x-forwarded-for", b"127.0.0.2")]
    client.request("GET", announce_path(info_hash, 1), "127.0.0.9", raw_headers=hops)
    reply = decode(client.get(announce_path(info_hash, 2), "127.0.0.9").content)
    # The second peer came from the proxy itself: the first is listed at the forwarded address.
    assert reply[b"peers"][:4] == bytes([198, 51, 100, 1])


def test_a_node_header_that_is_not_ascii_is_no_token_and_no_crash():
    node = [(b"x-peerveil-node", "é".encode())]
    path = announce_path(add_video("node"))
    response = AsgiClient().request("GET", path, "127.0.0.5", raw_headers=node)
    assert response.status_code == 200
    assert len(service.core.guard) == 1  # counted like any client


def remembered(address: str) -> bool:
    return any(key[0] == address for key in sources._sources)


def test_client_addresses_are_forgotten_by_the_address_memory_within_a_minute():
    client = AsgiClient()
    client.get(announce_path(add_video("memory")), "127.0.0.77")
    assert remembered("127.0.0.77")
    sources._sources_cleared_at -= sources.ADDRESS_MEMORY_SECONDS + 1
    client.get("/tracker/scrape", "127.0.0.77")  # the very same client, again
    assert sources._sources_cleared_at > time.monotonic() - 1
    sources._sources_cleared_at -= sources.ADDRESS_MEMORY_SECONDS + 1
    service.expire()  # the sweeper, with no traffic at all
    assert not remembered("127.0.0.77")


def test_forwarded_headers_from_an_untrusted_peer_do_not_grow_the_address_memory(settings):
    settings.TRUSTED_PROXIES = []
    client = AsgiClient()
    for n in range(20):
        client.get("/tracker/scrape", "127.0.0.79", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert len(sources._sources) == 1
