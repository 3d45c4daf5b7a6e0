"""Request limits of the WebSocket tracker: refusals, blocks that close sockets, alarms stored."""

from ipaddress import ip_network

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from instance.asgi import application
from tests.tracker_helpers import add_video, make_info_hash, peer_id, set_tracker_limits, wire
from tracker.alarms import dispatcher
from tracker.consumers import CLOSE_POLICY_VIOLATION
from tracker.core.guard import REFUSED_BLOCKED, REFUSED_RATE, REFUSED_VIDEOS
from tracker.models import Alarm
from tracker.service import service
from tracker.sources import hashed

pytestmark = pytest.mark.django_db(transaction=True)

SPY = "127.61.23.45"
VIEWER = "127.42.1.2"


@pytest.fixture(autouse=True)
def alarms_delivered(fresh_tracker):
    yield
    assert dispatcher.wait_idle()


set_limits = sync_to_async(set_tracker_limits)


async def open_socket(address: str, port: int = 5000) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/tracker/socket")
    communicator.scope["client"] = (address, port)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def refused(address: str) -> bool:
    communicator = WebsocketCommunicator(application, "/tracker/socket")
    communicator.scope["client"] = (address, 6000)
    connected, _ = await communicator.connect()
    return not connected


async def announce(socket, info_hash: bytes, n: int = 1) -> dict:
    message = {
        "action": "announce",
        "event": "started",
        "info_hash": wire(info_hash),
        "peer_id": wire(peer_id(n)),
        "numwant": 0,
        "left": 0,
        "offers": [],
    }
    await socket.send_to(text_data=orjson.dumps(message).decode())
    return orjson.loads(await socket.receive_from(timeout=2))


async def test_a_socket_over_the_limit_per_address_is_refused_before_the_upgrade():
    await set_limits(max_sockets_per_address=2, alarm_sockets=2, breaches_before_block=50)
    sockets = [await open_socket(SPY, port) for port in (1, 2)]
    assert await refused(SPY)
    viewer = await open_socket(VIEWER)
    await sockets[0].disconnect()
    assert not await refused(SPY)  # a closed socket frees its place
    for socket in [sockets[1], viewer]:
        await socket.disconnect()
    assert await sync_to_async(dispatcher.wait_idle)()
    alarm = await Alarm.objects.aget()
    assert (alarm.kind, alarm.source_hash, alarm.network) == (
        "sockets",
        hashed(SPY),
        "127.61.0.0/16",
    )


async def test_too_many_videos_get_a_failure_reason_and_join_no_swarm():
    await set_limits(
        max_videos_per_address=2, max_videos_at_once=2, alarm_videos=2, breaches_before_block=50
    )
    videos = [await sync_to_async(add_video)(f"video {n}") for n in range(3)]
    spy = await open_socket(SPY)
    assert "failure reason" not in await announce(spy, videos[0])
    assert "failure reason" not in await announce(spy, videos[1])
    assert await announce(spy, videos[2]) == {
        "action": "announce",
        "failure reason": REFUSED_VIDEOS,
        "info_hash": wire(videos[2]),
    }
    assert service.stats()["web_peers"] == 2
    await spy.disconnect()


async def test_a_flood_is_refused_then_blocks_the_address_and_closes_all_its_sockets():
    await set_limits(max_messages_per_socket=10, breaches_before_block=3)
    info_hash = await sync_to_async(add_video)("flooded")
    flooding, idle = await open_socket(SPY, 1), await open_socket(SPY, 2)
    viewer = await open_socket(VIEWER)
    replies = [await announce(flooding, info_hash) for _ in range(12)]
    assert [r.get("failure reason") for r in replies[10:]] == [REFUSED_RATE, REFUSED_RATE]
    assert (await announce(flooding, info_hash))["failure reason"] == REFUSED_BLOCKED
    for socket in (flooding, idle):
        assert await socket.receive_output(timeout=2) == {
            "type": "websocket.close",
            "code": CLOSE_POLICY_VIOLATION,
        }
    assert await refused(SPY)
    assert "failure reason" not in await announce(viewer, info_hash, n=2)
    await viewer.disconnect()
    assert await sync_to_async(dispatcher.wait_idle)()
    assert await Alarm.objects.filter(kind="blocked", source_hash=hashed(SPY)).aexists()


async def test_a_socket_without_a_client_address_still_counts_as_one_source():
    await set_limits(max_sockets_per_address=1, alarm_sockets=1, breaches_before_block=50)
    first = WebsocketCommunicator(application, "/tracker/socket")
    assert (await first.connect())[0]
    second = WebsocketCommunicator(application, "/tracker/socket")
    assert not (await second.connect())[0]
    await first.disconnect()


async def test_probing_unknown_infohashes_rings_an_alarm_and_takes_no_video_slot():
    spy = await open_socket(SPY)
    reasons = [
        (await announce(spy, make_info_hash(f"never published {label}")))["failure reason"]
        for label in ("x", "y", "z")
    ]
    # More than the 2 new videos at once of the defaults: unknown ones take no slot.
    assert reasons == ["Unknown infoHash"] * 3
    # The alarm thread stores the alarm while the test writes a video: wait until it is
    # stored, or the two writes race for the test database's lock (a shared in-memory
    # SQLite answers the loser "locked" at once, without a busy timeout).
    assert await sync_to_async(dispatcher.wait_idle)()
    published = await sync_to_async(add_video)("published after the probes")
    assert "failure reason" not in await announce(spy, published)
    await spy.disconnect()
    assert await sync_to_async(dispatcher.wait_idle)()
    kinds = [a.kind async for a in Alarm.objects.all()]
    assert kinds == ["unknown-videos"]


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_sockets(settings):
    await set_limits(max_sockets_per_address=1, alarm_sockets=1, breaches_before_block=50)
    settings.TRUSTED_PROXIES = [ip_network("127.61.0.0/16")]

    opened = []

    async def through_proxy(client: str) -> bool:
        socket = WebsocketCommunicator(
            application, "/tracker/socket", headers=[(b"x-forwarded-for", client.encode())]
        )
        socket.scope["client"] = (SPY, 7000)
        connected, _ = await socket.connect()
        if connected:
            opened.append(socket)
        return connected

    assert await through_proxy("127.42.9.1")
    assert await through_proxy("127.42.9.2")
    assert not await through_proxy("127.42.9.1")
    settings.TRUSTED_PROXIES = []  # the same header from an untrusted peer counts the peer
    assert await through_proxy("127.42.9.3")
    assert not await through_proxy("127.42.9.4")
    for socket in opened:
        await socket.disconnect()
