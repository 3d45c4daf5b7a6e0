"""The public privacy FAQ at /about/privacy: the questions it answers and its live values."""

import html
import re

import pytest

from adminpanel.privacy_facts import instance_facts
from instance.models import InstanceSettings, P2PSetting
from tests.tracker_helpers import add_video
from tracker.service import SWEEP_SECONDS

pytestmark = pytest.mark.django_db


def facts_shown(client) -> dict[str, str]:
    """The FAQ's "what this instance does" table: fact key -> value as shown."""
    page = client.get("/about/privacy").content.decode()
    rows = re.findall(r'<tr id="fact-([\w-]+)">.*?<span class="value">(.*?)</span>', page, re.S)
    return {key: html.unescape(value) for key, value in rows}


def test_the_faq_answers_the_viewers_questions(client):
    page = client.get("/about/privacy").content.decode()
    for heading in (
        "Why P2P?",
        "What follows from it",
        "How browser (web) peers differ",
        "Compared with a platform that profiles its users",
        "What you can do",
        "What this instance does",
    ):
        assert f">{heading}</h2>" in page
    for answer in ("WebRTC", "BitTorrent", "does not prove", "change", "VPN", "Tor Browser"):
        assert answer in page


def test_a_limit_changed_in_the_panel_shows_in_the_faq_right_away(admin_client, client):
    assert facts_shown(client)["peers-per-reply"] == "20"
    admin_client.post("/admin-panel/limits", {"max_peers_per_reply": 8, "announce_interval": 300})
    facts = facts_shown(client)
    assert facts["peers-per-reply"] == "8"
    assert facts["announce-interval"] == "300 s (5 min)"
    prose = " ".join(client.get("/about/privacy").content.decode().split())
    assert "at most 8 addresses" in prose and "every 300 seconds" in prose


def test_how_long_addresses_are_kept_is_derived_from_the_interval_and_the_sweep(client):
    # Two intervals without an announce, plus one period of the tracker's sweep (15 s).
    assert SWEEP_SECONDS == 15
    assert facts_shown(client)["http-address"] == "In memory only, at most 255 s (4 min 15 s)"
    row = InstanceSettings.load()
    row.announce_interval = 600
    row.save()
    assert facts_shown(client)["http-address"] == "In memory only, at most 1215 s (20 min 15 s)"
    assert facts_shown(client)["web-address"] == "Never stored"


def test_p2p_and_consent_rows_follow_the_switches(admin_client, client):
    add_video("own choice", p2p=P2PSetting.OFF)
    assert facts_shown(client)["p2p"] == "On" and facts_shown(client)["consent"] == "Yes"
    assert "except 1 video with P2P off on its own" in client.get("/about/privacy").content.decode()
    admin_client.post("/admin-panel/p2p", {})  # both boxes unchecked
    assert facts_shown(client)["p2p"] == "Off" and facts_shown(client)["consent"] == "No"
    assert "media.peerconnection.enabled" in client.get("/about/privacy").content.decode()


def test_features_that_do_not_exist_yet_are_not_given_values(client):
    facts = facts_shown(client)
    assert facts["request-limits"] == "8 videos within 300 s (5 min)"
    assert facts["alarms"] == "On"
    assert facts["redundancy"] == "Off"


def test_stun_servers_are_named_with_who_runs_them(client, settings):
    settings.STUN_SERVER_BINARY, settings.STUN_PUBLIC = "/usr/bin/turnserver", "v.example:3478"
    assert facts_shown(client)["stun"] == "stun:v.example:3478 (STUN, this instance)"
    settings.ICE_SERVERS = [{"urls": ["stun:stun.example.org:3478"]}]
    assert facts_shown(client)["stun"] == (
        "stun:stun.example.org:3478 (STUN, a third party, chosen by this instance's admin)"
    )
    settings.ICE_SERVERS, settings.STUN_SERVER_BINARY = None, None
    assert facts_shown(client)["stun"] == "None"
    assert (
        "only with viewers your browser reaches directly"
        in client.get("/about/privacy").content.decode()
    )


def test_the_facts_are_data_that_later_features_extend():
    keys = [fact.key for fact in instance_facts()]
    assert len(keys) == len(set(keys))
    assert {"p2p", "peers-per-reply", "request-limits", "alarms", "redundancy"} <= set(keys)
