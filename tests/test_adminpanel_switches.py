"""The panel's P2P switches and tracker limits: stored, audited, and applied to the tracker."""

from urllib.parse import quote_from_bytes

import bencode
import pytest

from adminpanel.models import AuditEntry
from instance.models import InstanceSettings, P2PSetting, Video
from tests.tracker_helpers import add_video, peer_id
from tracker.core import P2P_DISABLED
from tracker.service import service

pytestmark = pytest.mark.django_db
decode = bencode.Bencode(encoding=None).decode


@pytest.fixture(autouse=True)
def _fresh_tracker(fresh_tracker):
    return fresh_tracker


def http_announce(client, info_hash: bytes, n: int, ip: str = "10.0.0.1") -> dict:
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id(n))}"
        "&port=6881&uploaded=0&downloaded=0&left=10"
    )
    response = client.get(f"/tracker/announce?{query}", REMOTE_ADDR=ip)
    assert response.status_code == 200
    return decode(response.content)


def test_switching_the_instance_off_empties_inheriting_swarms_at_once_and_is_audited(
    admin_client, client, django_capture_on_commit_callbacks
):
    inheriting = add_video("inherits")
    forced_on = add_video("forced-on", p2p=P2PSetting.ON)
    http_announce(client, inheriting, 1)
    http_announce(client, forced_on, 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin-panel/p2p", {"p2p_requires_consent": "on"})
    assert response.status_code == 302
    # Emptied by the save signal, before any further message reaches the tracker.
    assert set(service.swarm_counts()) == {forced_on}
    assert http_announce(client, inheriting, 1)[b"failure reason"] == P2P_DISABLED.encode()
    assert b"failure reason" not in http_announce(client, forced_on, 2)
    (entry,) = AuditEntry.objects.all()
    assert (entry.actor, entry.subject, entry.setting) == ("admin", "instance", "P2P enabled")
    assert (entry.old_value, entry.new_value) == ("on", "off")
    assert client.get("/api/v1/videos").json()["data"][1]["p2pEnabled"] is False


def test_switching_a_video_off_then_back_to_inherit_refuses_then_admits_announces(
    admin_client, client, django_capture_on_commit_callbacks
):
    info_hash = add_video("switched")
    video = Video.objects.get(name="switched")
    http_announce(client, info_hash, 1)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": "off"})
    assert service.swarm_counts() == {}
    assert http_announce(client, info_hash, 1)[b"failure reason"] == P2P_DISABLED.encode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": "inherit"})
    reply = http_announce(client, info_hash, 1)
    assert b"failure reason" not in reply and reply[b"incomplete"] == 1
    changes = [(e.old_value, e.new_value) for e in AuditEntry.objects.order_by("id")]
    assert changes == [("inherit", "off"), ("off", "inherit")]
    assert all(e.subject == f'video "switched" ({video.uuid})' for e in AuditEntry.objects.all())


def test_a_switch_from_the_video_list_returns_to_the_same_search_and_page(admin_client):
    add_video("listed")
    video = Video.objects.get(name="listed")
    back = "/admin-panel/videos/?q=list&page=1"
    response = admin_client.post(
        f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": "on", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    video.refresh_from_db()
    assert video.p2p == P2PSetting.ON


def test_a_switch_never_redirects_to_another_site(admin_client):
    add_video("offsite")
    video = Video.objects.get(name="offsite")
    response = admin_client.post(
        f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": "on", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"/admin-panel/videos/{video.uuid}/"


def test_an_unknown_p2p_choice_changes_nothing(admin_client):
    add_video("bad-choice")
    video = Video.objects.get(name="bad-choice")
    admin_client.post(f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": "sometimes"})
    video.refresh_from_db()
    assert video.p2p == P2PSetting.INHERIT and not AuditEntry.objects.exists()


def test_saving_unchanged_values_writes_no_audit_entry(admin_client):
    admin_client.post("/admin-panel/limits", {"max_peers_per_reply": 20, "announce_interval": 120})
    assert not AuditEntry.objects.exists()
    assert "Nothing changed." in admin_client.get("/admin-panel/").content.decode()


def test_tracker_limits_are_stored_audited_and_reach_the_tracker(admin_client, client):
    info_hash = add_video("limits")
    response = admin_client.post(
        "/admin-panel/limits", {"max_peers_per_reply": "7", "announce_interval": "300"}
    )
    assert response.status_code == 302
    row = InstanceSettings.load()
    assert (row.max_peers_per_reply, row.announce_interval) == (7, 300)
    reply = http_announce(client, info_hash, 1)
    assert (reply[b"interval"], reply[b"min interval"]) == (300, 150)
    assert service.policy.config.max_peers_per_reply == 7
    changes = {(e.setting, e.old_value, e.new_value) for e in AuditEntry.objects.all()}
    assert changes == {("max peers per reply", "20", "7"), ("announce interval", "120", "300")}


@pytest.mark.parametrize(
    ("peers", "interval", "message"),
    [
        ("51", "120", "Peers per reply must be a whole number from 1 to 50."),
        ("0", "120", "Peers per reply must be a whole number from 1 to 50."),
        ("many", "120", "Peers per reply must be a whole number from 1 to 50."),
        ("20", "29", "The announce interval must be a whole number from 30 to 3600."),
        ("20", "3601", "The announce interval must be a whole number from 30 to 3600."),
        ("20", "", "The announce interval must be a whole number from 30 to 3600."),
    ],
)
def test_limits_out_of_range_are_refused_with_a_clear_message(
    admin_client, peers, interval, message
):
    response = admin_client.post(
        "/admin-panel/limits", {"max_peers_per_reply": peers, "announce_interval": interval}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    row = InstanceSettings.load()
    assert (row.max_peers_per_reply, row.announce_interval) == (20, 120)
    assert not AuditEntry.objects.exists()


def test_the_limit_defaults_come_from_the_environment_settings(admin_client, settings):
    settings.TRACKER_MAX_PEERS_PER_REPLY = 12
    settings.TRACKER_ANNOUNCE_INTERVAL = 90
    page = admin_client.get("/admin-panel/").content.decode()
    assert 'name="max_peers_per_reply" value="12"' in page
    assert 'name="announce_interval" value="90"' in page
