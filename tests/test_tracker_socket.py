"""The WebSocket shell at /tracker/socket, driven by Channels' WebsocketCommunicator."""

import asyncio

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from adminpanel.switches import set_video_p2p
from instance.asgi import application
from instance.models import InstanceSettings, P2PSetting, Video
from tests.tracker_helpers import add_video, peer_id, wire
from tracker.core import P2P_DISABLED
from tracker.service import service

pytestmark = pytest.mark.django_db(transaction=True)

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" + "a=candidate:x\r\n" * 20


@pytest.fixture(autouse=True)
def _fresh_tracker(fresh_tracker):
    return fresh_tracker


async def connect(path="/tracker/socket"):
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def send(communicator, message) -> None:
    await communicator.send_to(text_data=orjson.dumps(message).decode())


async def receive(communicator) -> dict:
    return orjson.loads(await communicator.receive_from(timeout=2))


def announce(info_hash, pid, *, event="started", offers=0, left=100, offer_tag=b"o"):
    message = {
        "action": "announce",
        "info_hash": wire(info_hash),
        "peer_id": wire(pid),
        "numwant": offers,
        "uploaded": 0,
        "downloaded": 0,
        "left": left,
        "offers": [
            {
                "offer": {"type": "offer", "sdp": SDP},
                "offer_id": wire(offer_tag + bytes([n]) * (20 - len(offer_tag))),
            }
            for n in range(offers)
        ],
    }
    if event:
        message["event"] = event
    return message


async def join(info_hash, pid, path="/tracker/socket"):
    communicator = await connect(path)
    await send(communicator, announce(info_hash, pid, event="completed", left=0))
    reply = await receive(communicator)
    assert reply["action"] == "announce" and "failure reason" not in reply
    return communicator


async def test_announce_gets_counts_and_offers_reach_another_peer_and_answers_return():
    info_hash = await sync_to_async(add_video)("relay")
    seeder = await join(info_hash, peer_id(1))
    leecher = await connect("/tracker/socket?client=2")
    await send(leecher, announce(info_hash, peer_id(2), offers=3, left=None))
    reply = await receive(leecher)
    assert reply == {
        "action": "announce",
        "interval": 120,
        "info_hash": wire(info_hash),
        "complete": 1,
        "incomplete": 1,
    }
    offer = await receive(seeder)
    assert offer["peer_id"] == wire(peer_id(2)) and offer["info_hash"] == wire(info_hash)
    assert offer["offer"] == {"type": "offer", "sdp": SDP}
    assert await seeder.receive_nothing(timeout=0.2)  # one offer per other peer, not three
    await send(
        seeder,
        {
            "action": "announce",
            "info_hash": wire(info_hash),
            "peer_id": wire(peer_id(1)),
            "to_peer_id": wire(peer_id(2)),
            "offer_id": offer["offer_id"],
            "answer": {"type": "answer", "sdp": "v=0 answer"},
        },
    )
    answer = await receive(leecher)
    assert answer == {
        "action": "announce",
        "answer": {"type": "answer", "sdp": "v=0 answer"},
        "offer_id": offer["offer_id"],
        "peer_id": wire(peer_id(1)),
        "info_hash": wire(info_hash),
    }
    assert await seeder.receive_nothing(timeout=0.2)  # the answerer gets no reply
    await seeder.disconnect()
    await leecher.disconnect()


async def test_an_answer_to_an_offer_never_forwarded_to_the_answerer_is_refused():
    info_hash = await sync_to_async(add_video)("forged-answer")
    victim = await join(info_hash, peer_id(1))
    stranger = await join(info_hash, peer_id(2))
    await send(
        stranger,
        {
            "action": "announce",
            "info_hash": wire(info_hash),
            "peer_id": wire(peer_id(2)),
            "to_peer_id": wire(peer_id(1)),
            "offer_id": wire(b"z" * 20),
            "answer": {"type": "answer", "sdp": "v=0"},
        },
    )
    reply = await receive(stranger)
    assert reply["action"] == "announce" and reply["info_hash"] == wire(info_hash)
    assert "failure reason" in reply
    assert await victim.receive_nothing(timeout=0.2)


async def test_another_socket_cannot_announce_or_stop_as_a_peer_id_it_does_not_own():
    info_hash = await sync_to_async(add_video)("spoof")
    owner = await join(info_hash, peer_id(1))
    spoofer = await connect()
    await send(spoofer, announce(info_hash, peer_id(1), event="stopped"))
    reply = await receive(spoofer)
    assert "failure reason" in reply and reply["info_hash"] == wire(info_hash)
    await send(owner, announce(info_hash, peer_id(1), event=None, left=0))
    still_there = await receive(owner)
    assert still_there["complete"] == 1 and "failure reason" not in still_there


async def test_a_closed_socket_leaves_every_swarm_it_was_in():
    first = await sync_to_async(add_video)("close-a")
    second = await sync_to_async(add_video)("close-b")
    tab = await connect()
    for info_hash in (first, second):
        await send(tab, announce(info_hash, peer_id(1)))
        await receive(tab)
    observer = await connect()
    await send(observer, {"action": "scrape", "info_hash": [wire(first), wire(second)]})
    before = await receive(observer)
    assert before["files"][wire(first)]["incomplete"] == 1
    await tab.disconnect(code=1001)  # a closed tab sends no "stopped"
    await asyncio.sleep(0.05)
    await send(observer, {"action": "scrape", "info_hash": [wire(first), wire(second)]})
    after = await receive(observer)
    for info_hash in (first, second):
        assert after["files"][wire(info_hash)] == {"complete": 0, "incomplete": 0, "downloaded": 0}


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("unknown", "Unknown infoHash"),
        ("video-off", "P2P is disabled for this video"),
        ("instance-off", "P2P is disabled for this video"),
    ],
)
async def test_infohashes_outside_the_catalogue_or_with_p2p_off_are_refused(setup, reason):
    def prepare():
        if setup == "unknown":
            return b"u" * 20
        if setup == "video-off":
            return add_video("off", p2p=P2PSetting.OFF)
        row = InstanceSettings.load()
        row.p2p_enabled = False
        row.save()
        return add_video("inherit")

    info_hash = await sync_to_async(prepare)()
    client = await connect()
    await send(client, announce(info_hash, peer_id(1)))
    assert await receive(client) == {
        "action": "announce",
        "failure reason": reason,
        "info_hash": wire(info_hash),
    }
    assert service.stats()["web_peers"] == 0


async def test_switching_p2p_off_empties_the_swarm_and_tells_its_sockets_at_once():
    info_hash = await sync_to_async(add_video)("switch")
    peer = await join(info_hash, peer_id(1))

    def switch_off():
        set_video_p2p(Video.objects.get(name="switch"), P2PSetting.OFF, "test")

    await sync_to_async(switch_off)()
    assert service.stats()["web_peers"] == 0  # the swarm is emptied at once
    told = await receive(peer)  # without a message of its own
    assert told == {
        "action": "announce",
        "failure reason": P2P_DISABLED,
        "info_hash": wire(info_hash),
    }
    await send(peer, announce(info_hash, peer_id(1), event=None, left=0))
    assert (await receive(peer))["failure reason"] == P2P_DISABLED


async def test_a_video_saved_elsewhere_is_refused_from_the_next_message_of_its_peers():
    info_hash = await sync_to_async(add_video)("saved elsewhere")
    peer = await join(info_hash, peer_id(1))

    def save_off():  # not through the switches: the save signal only marks the policy stale
        video = Video.objects.get(name="saved elsewhere")
        video.p2p = P2PSetting.OFF
        video.save()

    await sync_to_async(save_off)()
    await send(peer, announce(info_hash, peer_id(1), event=None, left=0))
    assert (await receive(peer))["failure reason"] == P2P_DISABLED
    assert service.stats()["web_peers"] == 0


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        '{"action": "announce"}',
        '{"action": "dance", "info_hash": "aaaaaaaaaaaaaaaaaaaa"}',
        '{"action": "scrape"}',
        '{"action": "announce", "info_hash": "\\u0100aaaaaaaaaaaaaaaaaaa", "peer_id": "x"}',
        "x" * (70 * 1024),
    ],
)
async def test_malformed_frames_get_a_failure_reason_and_leave_other_peers_alone(frame):
    info_hash = await sync_to_async(add_video)("malformed")
    honest = await join(info_hash, peer_id(1))
    attacker = await connect()
    await attacker.send_to(text_data=frame)
    reply = await receive(attacker)
    assert reply["action"] in {"announce", "scrape"} and "failure reason" in reply
    assert "info_hash" in reply
    await send(attacker, announce(info_hash, peer_id(2), offers=1))
    assert "failure reason" not in await receive(attacker)  # the socket still works
    assert (await receive(honest))["peer_id"] == wire(peer_id(2))


async def test_offers_with_null_entries_are_refused_without_harm():
    info_hash = await sync_to_async(add_video)("null-offer")
    honest = await join(info_hash, peer_id(1))
    attacker = await connect()
    message = announce(info_hash, peer_id(2))
    message["offers"] = [None]
    await send(attacker, message)
    assert "failure reason" in await receive(attacker)
    assert await honest.receive_nothing(timeout=0.2)


async def test_a_silent_socket_is_closed_after_the_idle_timeout():
    info_hash = await sync_to_async(add_video)("idle")
    quiet = await join(info_hash, peer_id(1))
    (consumer,) = service.sockets
    consumer.last_message_at -= service.core.config.idle_connection_timeout + 1
    await service.sweep()
    closed = await quiet.receive_output(timeout=1)
    assert closed["type"] == "websocket.close"
    assert service.stats()["web_peers"] == 0 and not service.sockets


@pytest.mark.parametrize("path", ["/tracker/socket/", "/tracker/other", "/"])
async def test_an_upgrade_anywhere_but_the_tracker_socket_is_refused(path):
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect()
    assert not connected
    assert not service.sockets


async def test_the_tracker_socket_takes_any_query_string():
    communicator = await connect("/tracker/socket?client=3")
    assert len(service.sockets) == 1
    await communicator.disconnect()
