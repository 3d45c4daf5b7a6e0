"""Request limits of the HTTP tracker: 429 with a bencoded reason, blocks, trusted proxies."""

from ipaddress import ip_network
from urllib.parse import quote_from_bytes

import bencode
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from instance.asgi import application
from tests.tracker_helpers import add_video, peer_id, set_tracker_limits
from tests.tracker_http_client import SHELLS, shell_client
from tracker.alarms import dispatcher
from tracker.core.guard import REFUSED_BLOCKED, REFUSED_RATE, REFUSED_VIDEOS
from tracker.models import Alarm
from tracker.service import service
from tracker.sources import hashed, node_token

pytestmark = pytest.mark.django_db(transaction=True)
decode = bencode.Bencode(encoding=None).decode


@pytest.fixture(params=SHELLS)
def client(request, client):
    """Every test runs through both adapters of the HTTP tracker (tests/tracker_http_client.py)."""
    return shell_client(request.param, client)


SPY = "127.61.23.45"
VIEWER = "127.42.1.2"


@pytest.fixture(autouse=True)
def fresh_limits(fresh_tracker):
    yield
    assert dispatcher.wait_idle()


def get(client, path: str, info_hashes, ip: str, **headers):
    params = [("info_hash", quote_from_bytes(h)) for h in info_hashes]
    if path == "announce":
        params += [("peer_id", quote_from_bytes(peer_id(7))), ("port", 6881), ("left", 0)]
    query = "&".join(f"{key}={value}" for key, value in params)
    response = client.get(f"/tracker/{path}?{query}", REMOTE_ADDR=ip, **headers)
    return response.status_code, decode(response.content)


def test_an_address_over_its_request_limit_gets_429_with_a_bencoded_reason(client):
    set_tracker_limits(max_http_requests_per_address=10, breaches_before_block=50)
    info_hash = add_video("limit")
    replies = [get(client, "announce", [info_hash], SPY)[0] for _ in range(10)]
    assert replies == [200] * 10
    assert get(client, "scrape", [info_hash], SPY) == (
        429,
        {b"failure reason": REFUSED_RATE.encode()},
    )
    assert get(client, "announce", [info_hash], VIEWER)[0] == 200


def test_announcing_one_video_again_and_again_is_limited_per_address_and_video(client):
    set_tracker_limits(max_http_announces_per_video=3, breaches_before_block=50)
    first, second = add_video("first"), add_video("second")
    assert [get(client, "announce", [first], SPY)[0] for _ in range(3)] == [200] * 3
    assert get(client, "announce", [first], SPY)[0] == 429
    assert get(client, "announce", [second], SPY)[0] == 200
    assert get(client, "announce", [first], VIEWER)[0] == 200


def test_too_many_videos_are_refused_then_the_address_is_blocked_everywhere(client):
    set_tracker_limits(
        max_videos_per_address=3, max_videos_at_once=3, alarm_videos=3, breaches_before_block=2
    )
    videos = [add_video(f"video {n}") for n in range(6)]
    assert [get(client, "announce", [v], SPY)[0] for v in videos[:3]] == [200] * 3
    assert get(client, "announce", [videos[3]], SPY) == (
        429,
        {b"failure reason": REFUSED_VIDEOS.encode()},
    )
    assert get(client, "scrape", [videos[4]], SPY)[0] == 403  # the second breach blocks
    assert get(client, "announce", [videos[0]], SPY) == (
        403,
        {b"failure reason": REFUSED_BLOCKED.encode()},
    )
    assert get(client, "announce", [videos[0]], VIEWER)[0] == 200
    assert dispatcher.wait_idle()
    stored = {(a.kind, a.source_hash, a.network) for a in Alarm.objects.all()}
    assert stored == {
        ("videos", hashed(SPY), "127.61.0.0/16"),
        ("blocked", hashed(SPY), "127.61.0.0/16"),
    }


async def test_an_address_blocked_over_http_cannot_open_a_socket_either(client):
    await sync_to_async(set_tracker_limits)(
        max_videos_per_address=1, max_videos_at_once=1, alarm_videos=1, breaches_before_block=1
    )
    first, second = await sync_to_async(add_video)("a"), await sync_to_async(add_video)("b")
    await sync_to_async(get)(client, "announce", [first], SPY)
    status, reply = await sync_to_async(get)(client, "announce", [second], SPY)
    assert status == 403
    socket = WebsocketCommunicator(application, "/tracker/socket")
    socket.scope["client"] = (SPY, 4242)
    connected, _ = await socket.connect()
    assert not connected
    other = WebsocketCommunicator(application, "/tracker/socket")
    other.scope["client"] = (VIEWER, 4242)
    assert (await other.connect())[0]
    await other.disconnect()


def test_forwarded_for_counts_the_client_behind_a_trusted_proxy(client, settings):
    set_tracker_limits(max_http_announces_per_video=2, breaches_before_block=50)
    info_hash = add_video("proxied")
    settings.TRUSTED_PROXIES = []
    # Not from a trusted proxy: the header is ignored, the direct address is counted.
    forwarded = {"HTTP_X_FORWARDED_FOR": "127.42.9.9"}
    assert get(client, "announce", [info_hash], SPY, **forwarded)[0] == 200
    assert get(client, "announce", [info_hash], SPY, **forwarded)[0] == 200
    assert get(client, "announce", [info_hash], SPY, **forwarded)[0] == 429
    settings.TRUSTED_PROXIES = [ip_network("127.61.0.0/16")]
    clients = [f"127.42.9.{n}" for n in range(1, 4)]
    for address in clients:  # three viewers behind the same proxy: each has its own budget
        header = {"HTTP_X_FORWARDED_FOR": f"192.0.2.1, {address}"}
        assert get(client, "announce", [info_hash], SPY, **header)[0] == 200
    header = {"HTTP_X_FORWARDED_FOR": "127.42.9.1"}
    assert get(client, "announce", [info_hash], SPY, **header)[0] == 200
    assert get(client, "announce", [info_hash], SPY, **header)[0] == 429


def test_an_exempt_network_is_never_limited(client, settings):
    set_tracker_limits(
        max_videos_per_address=1, max_videos_at_once=1, alarm_videos=1, breaches_before_block=1
    )
    settings.TRACKER_EXEMPT_NETWORKS = [ip_network("127.61.0.0/16")]
    statuses = {get(client, "announce", [add_video(f"mirror {n}")], SPY)[0] for n in range(5)}
    assert statuses == {200}
    assert len(service.core.guard) == 0  # not even counted


def test_the_instances_own_seeders_are_exempt_with_their_token_only(client):
    set_tracker_limits(max_videos_per_address=1, max_videos_at_once=1, alarm_videos=1)
    node = {"HTTP_X_PEERVEIL_NODE": node_token()}
    videos = [add_video(f"copy {n}") for n in range(4)]
    assert [get(client, "announce", [v], SPY, **node)[0] for v in videos] == [200] * 4
    forged = {"HTTP_X_PEERVEIL_NODE": "0" * 64}
    assert [get(client, "announce", [v], SPY, **forged)[0] for v in videos[:2]] == [200, 429]
