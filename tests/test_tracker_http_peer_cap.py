"""HTTP peers per address and swarm, through both adapters of the HTTP tracker: one address
announcing 100 peer_ids keeps only the newest few in the swarm, other addresses keep theirs."""

from ipaddress import ip_network
from urllib.parse import quote_from_bytes

import bencode
import pytest

from adminpanel.privacy_facts import instance_facts
from instance.models import InstanceSettings
from tests.tracker_helpers import add_video, peer_id, set_tracker_limits
from tests.tracker_http_client import SHELLS, shell_client
from tracker.alarms import dispatcher
from tracker.core import TrackerConfig
from tracker.service import service

# Transactional: 100 announces of one video from one address ring the early-announce alarm,
# which the dispatcher thread stores on its own connection.
pytestmark = pytest.mark.django_db(transaction=True)
decode = bencode.Bencode(encoding=None).decode

SPY = "127.61.23.45"
VIEWERS = ["127.42.1.2", "127.42.1.3"]


@pytest.fixture(params=SHELLS)
def client(request, client):
    return shell_client(request.param, client)


@pytest.fixture(autouse=True)
def fresh(fresh_tracker):
    yield
    assert dispatcher.wait_idle()


def announce(client, info_hash: bytes, n: int, ip: str, **extra) -> dict:
    params = {"info_hash": quote_from_bytes(info_hash), "peer_id": quote_from_bytes(peer_id(n))}
    params.update({"port": 6881, "uploaded": 0, "downloaded": 0, "left": 10, **extra})
    query = "&".join(f"{key}={value}" for key, value in params.items())
    response = client.get(f"/tracker/announce?{query}", REMOTE_ADDR=ip)
    assert response.status_code == 200
    reply = decode(response.content)
    assert b"failure reason" not in reply
    return reply


def listed(reply: dict) -> set[tuple[str, bytes]]:
    return {(peer[b"ip"].decode(), peer[b"peer id"]) for peer in reply[b"peers"]}


def test_100_peer_ids_from_one_address_leave_only_its_4_newest_in_the_swarm(client):
    info_hash = add_video("one address, many peers")
    announce(client, info_hash, 1000, VIEWERS[0], left=0)
    replies = [announce(client, info_hash, n, SPY) for n in range(100)]
    assert [r[b"incomplete"] for r in replies[:6]] == [1, 2, 3, 4, 4, 4]
    assert {(r[b"complete"], r[b"incomplete"]) for r in replies[4:]} == {(1, 4)}
    # Another address joins and sees the newest 4 of the spy's peers and the other viewer.
    reply = announce(client, info_hash, 2000, VIEWERS[1], compact=0, numwant=50)
    assert listed(reply) == {(VIEWERS[0], peer_id(1000))} | {
        (SPY, peer_id(n)) for n in range(96, 100)
    }
    assert (reply[b"complete"], reply[b"incomplete"]) == (1, 5)
    assert service.stats()["http_peers"] == 6


def test_a_replaced_peer_announcing_again_replaces_the_next_oldest(client):
    info_hash = add_video("churn")
    for n in range(5):
        announce(client, info_hash, n, SPY)  # peer 0 is replaced by peer 4
    announce(client, info_hash, 0, SPY)  # back, as a new peer: replaces peer 1
    reply = announce(client, info_hash, 99, VIEWERS[0], compact=0, numwant=50)
    assert listed(reply) == {(SPY, peer_id(n)) for n in (0, 2, 3, 4)}


def test_the_cap_is_set_in_the_panel_and_stated_in_the_faq(client, admin_client):
    response = admin_client.post("/admin-panel/limits", {"max_http_peers_per_address": "2"})
    assert response.status_code == 302
    service.reload()
    info_hash = add_video("panel cap")
    for n in range(5):
        announce(client, info_hash, n, SPY)
    assert announce(client, info_hash, 9, VIEWERS[0])[b"incomplete"] == 3
    facts = {fact.key: fact.value for fact in instance_facts()}
    assert facts["http-peers-per-address"] == "2"
    refused = admin_client.post("/admin-panel/limits", {"max_http_peers_per_address": "0"})
    assert refused.status_code == 400
    assert "HTTP peers per address must be a whole number from 1 to 1000." in (
        refused.content.decode()
    )
    assert InstanceSettings.load().max_http_peers_per_address == 2


def test_an_exempt_network_is_not_capped(client, settings):
    settings.TRACKER_EXEMPT_NETWORKS = [ip_network("127.61.0.0/16")]
    info_hash = add_video("mirror")
    for n in range(6):
        announce(client, info_hash, n, SPY)
    assert announce(client, info_hash, 9, VIEWERS[0])[b"incomplete"] == 7


def test_the_settings_default_is_the_cores_default():
    set_tracker_limits()  # the settings row as saved, applied to the tracker
    default = TrackerConfig().max_http_peers_per_address
    assert InstanceSettings.load().max_http_peers_per_address == default == 4
    assert service.policy.config.max_http_peers_per_address == default
