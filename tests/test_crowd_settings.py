"""The crowd threshold as admins set it and viewers read it: the instance's N beside the P2P
switch, a video's own, what the tracker loads, the watch page's line and its JSON, the FAQ, and
the spy's-cost card on the overview."""

import html
import io
import json
import re

import pytest
from django.core.management import call_command

from adminpanel.models import AuditEntry
from instance.models import InstanceSettings, Video
from tests.tracker_helpers import add_video, make_info_hash
from tracker.access import TrackerPolicy
from tracker.service import service

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh(fresh_tracker):
    return fresh_tracker


@pytest.fixture
def video(demo_video_path) -> Video:
    out = io.StringIO()
    call_command("import_video", str(demo_video_path), "--name", "Crowd clip", stdout=out)
    return Video.objects.get(uuid=out.getvalue().split()[0])


def player_config(response) -> dict:
    page = response.content.decode()
    start = page.index('<script id="player-config" type="application/json">')
    start = page.index(">", start) + 1
    return json.loads(page[start : page.index("</script>", start)])


def test_existing_instances_keep_no_threshold_and_the_tracker_loads_none():
    assert InstanceSettings.load().p2p_min_viewers == 1
    add_video("plain")
    assert TrackerPolicy().refresh().min_viewers == {}


def test_the_tracker_loads_the_instance_threshold_and_a_videos_own_for_every_swarm():
    row = InstanceSettings.load()
    row.p2p_min_viewers = 5
    row.save()
    add_video("inherits")
    add_video("own")
    Video.objects.filter(name="own").update(p2p_min_viewers=2)
    add_video("none")
    Video.objects.filter(name="none").update(p2p_min_viewers=1)
    loaded = TrackerPolicy().refresh().min_viewers
    assert loaded == {make_info_hash("inherits"): 5, make_info_hash("own"): 2}


def test_the_instance_threshold_is_set_beside_the_p2p_switch_and_audited(admin_client):
    response = admin_client.post(
        "/admin-panel/p2p",
        {"p2p_enabled": "on", "p2p_requires_consent": "on", "p2p_min_viewers": 7},
    )
    assert response.status_code == 302
    assert InstanceSettings.load().p2p_min_viewers == 7
    entry = AuditEntry.objects.get(setting="P2P only from N viewers")
    assert (entry.old_value, entry.new_value) == ("1", "7")


@pytest.mark.parametrize("value", ["0", "1001", "many", "-3"])
def test_an_instance_threshold_out_of_bounds_is_refused_clearly_and_changes_nothing(
    admin_client, value
):
    response = admin_client.post(
        "/admin-panel/p2p", {"p2p_enabled": "on", "p2p_min_viewers": value}
    )
    assert response.status_code == 400
    assert "P2P only from N viewers must be a whole number from 1 to 1000." in html.unescape(
        response.content.decode()
    )
    assert InstanceSettings.load().p2p_min_viewers == 1
    assert not AuditEntry.objects.exists()


def test_a_videos_own_threshold_is_set_on_its_page_and_reaches_the_tracker(admin_client):
    add_video("mine")
    video = Video.objects.get(name="mine")
    page = admin_client.get(f"/admin-panel/videos/{video.uuid}/").content.decode()
    assert 'id="video-min-viewers"' in page and "the instance's (1)" in page
    response = admin_client.post(
        f"/admin-panel/videos/{video.uuid}/min-viewers", {"min_viewers": 4}
    )
    assert response.status_code == 302
    video.refresh_from_db()
    assert video.p2p_min_viewers == 4
    assert service.core._threshold(make_info_hash("mine")) == 4
    entry = AuditEntry.objects.get(setting="P2P only from N viewers")
    assert (entry.old_value, entry.new_value) == ("inherit", "4")
    # Empty: the instance's again.
    admin_client.post(f"/admin-panel/videos/{video.uuid}/min-viewers", {"min_viewers": ""})
    video.refresh_from_db()
    assert video.p2p_min_viewers is None
    assert service.core._threshold(make_info_hash("mine")) == 1
    bad = admin_client.post(f"/admin-panel/videos/{video.uuid}/min-viewers", {"min_viewers": "0"})
    assert bad.status_code == 400
    assert "N must be a whole number from 1 to 1000" in html.unescape(bad.content.decode())
    video.refresh_from_db()
    assert video.p2p_min_viewers is None


def test_the_watch_page_shows_the_threshold_line_only_with_a_threshold(client, video):
    assert player_config(client.get(video.get_absolute_url()))["crowd"] is None
    assert 'id="p2p-crowd"' not in client.get(video.get_absolute_url()).content.decode()
    video.p2p_min_viewers = 3
    video.save()
    response = client.get(video.get_absolute_url())
    page = response.content.decode()
    line = re.search(r'<p id="p2p-crowd"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert line == "P2P starts when 3 people watch this video (now: 0)"
    config = player_config(response)["crowd"]
    assert config == {
        "threshold": 3,
        "viewers": 0,
        "reached": False,
        "url": f"/api/v1/videos/{video.uuid}/crowd",
    }
    assert "instance/crowd.js" in page
    assert client.get(config["url"]).json() == {"threshold": 3, "viewers": 0, "reached": False}
    # P2P off for the video: no line, the page never joins a swarm.
    video.p2p = "off"
    video.save()
    assert player_config(client.get(video.get_absolute_url()))["crowd"] is None


def test_the_crowd_json_of_an_unknown_video_is_a_404(client):
    response = client.get("/api/v1/videos/00000000-0000-0000-0000-000000000000/crowd")
    assert response.status_code == 404 and response.json()["detail"] == "Video not found"


def test_the_faq_states_n_and_why(client):
    def crowd_fact() -> tuple[str, str]:
        page = client.get("/about/privacy").content.decode()
        found = re.search(
            r'<tr id="fact-crowd">.*?<span class="value">(.*?)</span>.*?'
            r'<span class="detail">(.*?)</span>',
            page,
            re.S,
        )
        return html.unescape(found.group(1)), html.unescape(found.group(2))

    value, detail = crowd_fact()
    assert value == "1 (no threshold)" and "swarm of two" in detail
    row = InstanceSettings.load()
    row.p2p_min_viewers = 10
    row.save()
    value, detail = crowd_fact()
    assert value == "10"
    assert "Until 10 different addresses watch the same video" in detail
    assert "in a crowd it says little" in detail


def test_the_overview_shows_the_spys_cost_of_the_live_swarms(admin_client):
    add_video("watched")
    page = admin_client.get("/admin-panel/").content.decode()
    assert 'id="spy-cost"' in page and "No swarm has peers now" in page
    # Twelve HTTP peers from their own addresses in the tracker of this process.
    for n in range(12):
        query = (
            "info_hash="
            + "".join(f"%{b:02x}" for b in make_info_hash("watched"))
            + f"&peer_id=-LT2010-{n:012d}&port=6881&left=0&compact=1"
        ).encode()
        service.announce_http(query, f"10.9.0.{n + 1}", f"10.9.0.{n + 1}")
    page = admin_client.get("/admin-panel/").content.decode()
    rows = dict(
        re.findall(r'<tr data-cost="([\w-]+)"><th>.*?</th><td class="num">(\d+)</td>', page)
    )
    assert set(rows) == {
        "protected-all",
        "unprotected-all",
        "protected-largest",
        "unprotected-largest",
    }
    # 12 peers, 20 per reply: one request collects them, protected or not.
    assert rows["protected-all"] == rows["unprotected-all"] == "1"
    prose = " ".join(page.split())
    assert "1 swarm, 12" in prose
    assert "is never blocked here" in prose
    assert "2 requests, having learned 12 addresses from 1 swarm, it must wait" in prose
