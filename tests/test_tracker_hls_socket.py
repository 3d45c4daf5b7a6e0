"""HLS swarms through the WebSocket shell at /tracker/socket: p2p-media-loader's messages as it
sends them, the catalogue's renditions as the policy, the switches of the panel and the `p2p`
command, and the spy guard counting a video's renditions as one video."""

import asyncio
import io

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command

from adminpanel.switches import set_instance_p2p, set_video_p2p
from instance.asgi import application
from instance.models import P2PSetting
from tests.test_core_hls_swarms import hls_swarm, pm_announce, pm_answer, pm_peer_id
from tests.tracker_helpers import add_hls_video, set_tracker_limits, wire
from tracker.alarms import dispatcher
from tracker.core import P2P_DISABLED, UNKNOWN_INFOHASH
from tracker.models import Alarm, PolicyVersion
from tracker.service import service

pytestmark = pytest.mark.django_db(transaction=True)

VIEWER = "127.42.7.1"
OTHER_VIEWER = "127.42.7.2"


@pytest.fixture(autouse=True)
def _fresh_tracker(fresh_tracker):
    yield fresh_tracker
    assert dispatcher.wait_idle()


async def connect(address: str = VIEWER) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/tracker/socket")
    communicator.scope["client"] = (address, 5000)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def send(communicator, message: dict) -> None:
    await communicator.send_to(text_data=orjson.dumps(message).decode())


async def receive(communicator) -> dict:
    return orjson.loads(await communicator.receive_from(timeout=2))


async def test_two_players_share_each_rendition_swarm_over_one_socket_each():
    _, swarms = await sync_to_async(add_hls_video)("hls relay")
    first, second = await connect(VIEWER), await connect(OTHER_VIEWER)
    first_ids = {swarm: pm_peer_id(n) for n, swarm in enumerate(swarms)}
    second_ids = {swarm: pm_peer_id(10 + n) for n, swarm in enumerate(swarms)}
    for swarm in swarms:
        await send(first, pm_announce(swarm, first_ids[swarm], seed=1))
        reply = await receive(first)
        assert reply == {
            "action": "announce",
            "interval": 120,
            "info_hash": wire(swarm),
            "complete": 0,
            "incomplete": 1,  # no `left`: a leecher
        }
    for swarm in swarms:
        await send(second, pm_announce(swarm, second_ids[swarm], seed=2))
        assert (await receive(second))["incomplete"] == 2
        offer = await receive(first)
        assert (offer["info_hash"], offer["peer_id"]) == (wire(swarm), second_ids[swarm])
        await send(first, pm_answer(swarm, first_ids[swarm], second_ids[swarm], offer["offer_id"]))
        answer = await receive(second)
        assert (answer["peer_id"], answer["offer_id"]) == (first_ids[swarm], offer["offer_id"])
    assert service.stats()["web_peers"] == 4 and service.stats()["connections"] == 2
    await first.disconnect(code=1001)  # hls.destroy() closes the socket without "stopped"
    await asyncio.sleep(0.05)
    assert service.stats()["web_peers"] == 2
    await second.disconnect()


@pytest.mark.parametrize("setup", ["unknown", "video-off"])
async def test_an_unknown_or_switched_off_hls_swarm_is_refused_with_the_usual_reason(setup):
    def prepare() -> tuple[bytes, str]:
        if setup == "unknown":
            # A swarm of a video uuid this instance never published.
            return hls_swarm("00000000-0000-4000-8000-000000000000", 0), UNKNOWN_INFOHASH
        _, swarms = add_hls_video("hls off", p2p=P2PSetting.OFF)
        return swarms[1], P2P_DISABLED

    swarm, reason = await sync_to_async(prepare)()
    player = await connect()
    await send(player, pm_announce(swarm, pm_peer_id(1)))
    assert await receive(player) == {
        "action": "announce",
        "failure reason": reason,
        "info_hash": wire(swarm),
    }
    assert service.stats()["web_peers"] == 0
    await player.disconnect()


def switch_with_panel(video) -> None:
    set_video_p2p(video, P2PSetting.OFF, "test")


def switch_with_command(video) -> None:
    call_command("p2p", "off", "--video", str(video.uuid), stdout=io.StringIO())


def switch_instance_off(video) -> None:
    set_instance_p2p(False, "test")  # the video inherits it


@pytest.mark.parametrize(
    "switch_off", [switch_with_panel, switch_with_command, switch_instance_off]
)
async def test_switching_a_video_off_empties_its_hls_swarms_and_tells_the_player_at_once(
    switch_off,
):
    video, swarms = await sync_to_async(add_hls_video)("hls switch")
    player = await connect()
    for n, swarm in enumerate(swarms):
        await send(player, pm_announce(swarm, pm_peer_id(n)))
        assert "failure reason" not in await receive(player)
    await sync_to_async(switch_off)(video)
    assert service.stats()["web_peers"] == 0  # emptied at once
    told = [await receive(player) for _ in swarms]  # without a message of its own
    assert sorted(m["info_hash"] for m in told) == sorted(wire(swarm) for swarm in swarms)
    assert {m["failure reason"] for m in told} == {P2P_DISABLED}
    await send(player, pm_announce(swarms[0], pm_peer_id(0), event=None))
    assert (await receive(player))["failure reason"] == P2P_DISABLED
    await player.disconnect()


async def test_a_viewer_switching_renditions_and_its_torrent_counts_as_one_video():
    # The strictest limits the panel allows: one video per address, an alarm at the second.
    await sync_to_async(set_tracker_limits)(
        max_videos_per_address=1, max_videos_at_once=1, alarm_videos=2
    )
    video, swarms = await sync_to_async(add_hls_video)("hls abr")
    torrent = bytes.fromhex(await sync_to_async(lambda: video.files.get().info_hash)())
    _, other_swarms = await sync_to_async(add_hls_video)("hls other")
    player = await connect()
    for n, swarm in enumerate([*swarms, torrent, swarms[0]]):
        await send(player, pm_announce(swarm, pm_peer_id(n)))
        assert "failure reason" not in await receive(player)
    # Another video is another video: refused and alarmed.
    await send(player, pm_announce(other_swarms[0], pm_peer_id(9)))
    assert "failure reason" in await receive(player)
    assert dispatcher.wait_idle()
    kinds = await sync_to_async(lambda: list(Alarm.objects.values_list("kind", flat=True)))()
    assert kinds == ["videos"]
    await player.disconnect()


def test_hls_renditions_written_or_deleted_elsewhere_move_the_policy_version():
    # build_hls runs in its own process: the servers learn of its swarms through the version.
    before = PolicyVersion.current()
    video, swarms = add_hls_video("hls built elsewhere")
    assert PolicyVersion.current() > before
    policy = service.policy.current
    assert all(policy.videos[swarm] == video.pk and policy.p2p[swarm] for swarm in swarms)
    before = PolicyVersion.current()
    video.hls_playlist.delete()
    assert PolicyVersion.current() > before
    service.reload()
    assert not set(swarms) & set(service.policy.current.p2p)
