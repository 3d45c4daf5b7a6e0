"""What the panel shows: videos with search, paging and the P2P state in effect; swarm counts
(never an address or a peer id); the audit log."""

import html
import re
import time
from urllib.parse import quote_from_bytes

import orjson
import pytest

from adminpanel.models import AuditEntry
from instance.models import InstanceSettings, P2PSetting, Video
from tests.tracker_helpers import add_video, peer_id
from tracker.core import KindCounts, web_json
from tracker.service import service
from tracker.swarm_history import history

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_history(fresh_tracker):
    history.clear()
    yield
    history.clear()


def http_announce(client, info_hash: bytes, n: int, ip: str, left: int) -> None:
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id(n))}"
        f"&port=6881&uploaded=0&downloaded=0&left={left}"
    )
    assert b"failure" not in client.get(f"/tracker/announce?{query}", REMOTE_ADDR=ip).content


def row_of(page: str, video: Video) -> str:
    match = re.search(rf'<tr data-video="{video.uuid}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {video.name}"
    return html.unescape(match.group(1))


def test_the_video_list_pages_and_searches_by_name_or_uuid(admin_client):
    for n in range(30):
        add_video(f"clip {n:02}")
    add_video("concert")
    first = admin_client.get("/admin-panel/videos/").content.decode()
    assert first.count("<tr data-video=") == 25 and "Page 1 of 2" in first
    second = admin_client.get("/admin-panel/videos/?page=2").content.decode()
    assert second.count("<tr data-video=") == 6
    found = admin_client.get("/admin-panel/videos/?q=CONCERT").content.decode()
    assert found.count("<tr data-video=") == 1 and ">concert</a>" in found
    concert = Video.objects.get(name="concert")
    by_uuid = admin_client.get(f"/admin-panel/videos/?q={str(concert.uuid)[:13]}")
    assert by_uuid.content.decode().count("<tr data-video=") == 1
    searched_pages = admin_client.get("/admin-panel/videos/?q=clip").content.decode()
    assert 'href="?q=clip&amp;page=2"' in searched_pages


def test_the_state_in_effect_is_shown_with_where_it_comes_from(admin_client):
    for name, choice in [("inherits", "inherit"), ("forced-on", "on"), ("forced-off", "off")]:
        add_video(name, p2p=choice)
    row = InstanceSettings.load()
    row.p2p_enabled = False
    row.save()
    page = admin_client.get("/admin-panel/videos/").content.decode()
    states = {
        name: re.search(
            r'data-p2p-effective="(on|off)"', row_of(page, Video.objects.get(name=name))
        ).group(1)
        for name in ("inherits", "forced-on", "forced-off")
    }
    assert states == {"inherits": "off", "forced-on": "on", "forced-off": "off"}
    assert "from the instance" in row_of(page, Video.objects.get(name="inherits"))
    assert "from the instance" not in row_of(page, Video.objects.get(name="forced-off"))
    overview = admin_client.get("/admin-panel/").content.decode()
    assert "P2P is in effect for 1 of 3 videos" in overview
    detail = admin_client.get(f"/admin-panel/videos/{Video.objects.get(name='inherits').uuid}/")
    assert 'data-p2p-effective="off"' in detail.content.decode()


def test_the_swarm_overview_counts_peers_by_kind_and_never_shows_an_address_or_id(
    admin_client, client
):
    busy = add_video("busy")
    add_video("quiet")
    http_announce(client, busy, 1, "10.9.8.1", left=0)
    http_announce(client, busy, 2, "10.9.8.2", left=5)
    http_announce(client, busy, 3, "10.9.8.3", left=5)
    web_announce = {
        "action": "announce",
        "event": "completed",
        "info_hash": busy.decode("latin-1"),
        "peer_id": peer_id(4).decode(),
        "left": 0,
        "offers": [],
    }
    with service.lock:  # a web peer: the tracker knows only its connection
        result = service.core.receive_web(
            object(), None, orjson.dumps(web_announce), service.now(), service.rng
        )
    assert "failure reason" not in web_json(result.messages[0][1])
    page = admin_client.get("/admin-panel/").content.decode()
    cells = re.findall(r'<td class="num">(\d+)</td>', row_of(page, Video.objects.get(name="busy")))
    assert cells == ["1", "0", "1", "2"]  # web seeders, web leechers, HTTP seeders, leechers
    totals = re.search(r'<p id="tracker-totals">(.*?)</p>', page, re.S).group(1)
    assert " ".join(totals.split()) == (
        "In this server process: 1 swarm, 1 web and 3 HTTP peers, 1 open socket with peers, "
        "0 offers awaiting an answer."
    )
    assert f'data-video="{Video.objects.get(name="quiet").uuid}"' not in page
    video_page = admin_client.get(f"/admin-panel/videos/{Video.objects.get(name='busy').uuid}/")
    assert '<td class="num" id="http-leechers">2</td>' in video_page.content.decode()
    for shown in (page, video_page.content.decode()):
        assert "10.9.8." not in shown
        assert all(peer_id(n).decode() not in shown for n in range(1, 5))
        assert all(peer_id(n).hex() not in shown for n in range(1, 5))


def test_the_chart_shows_the_last_hour_from_samples_and_the_counts_now(admin_client):
    info_hash = add_video("charted")
    now = time.time()
    history.record(now - 30 * 60, {info_hash: KindCounts(0, 3, 0, 1)})
    history.record(now - 2 * 3600, {info_hash: KindCounts(9, 9, 9, 9)})  # older than an hour
    page = admin_client.get("/admin-panel/").content.decode()
    labels = re.findall(r"<title>(.*?)</title>", row_of(page, Video.objects.get(name="charted")))
    assert labels == ["31 min ago: 3 web, 1 HTTP", "now: 0 web, 0 HTTP"]


def test_the_audit_log_shows_who_what_when_old_and_new_newest_first(admin_client):
    add_video("audited")
    video = Video.objects.get(name="audited")
    admin_client.post(f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": "off"})
    admin_client.post("/admin-panel/limits", {"max_peers_per_reply": 9, "announce_interval": 120})
    for url in ("/admin-panel/audit/", "/admin-panel/"):
        page = admin_client.get(url).content.decode()
        rows = re.findall(r"<tr>\s*<td><time datetime=.*?</tr>", html.unescape(page), re.S)
        assert len(rows) == 2
        assert "max peers per reply" in rows[0] and "<td>20</td>" in rows[0]
        assert f'video "audited" ({video.uuid}): P2P' in rows[1]
        assert "<td>inherit</td>" in rows[1] and "<td>off</td>" in rows[1]
        assert "<td>admin</td>" in rows[1]
    assert AuditEntry.objects.about_video(video.uuid).count() == 1
    video_page = admin_client.get(f"/admin-panel/videos/{video.uuid}/").content.decode()
    assert "max peers per reply" not in video_page and "<td>off</td>" in video_page


def test_a_video_page_of_an_unknown_video_is_404(admin_client):
    response = admin_client.get("/admin-panel/videos/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert P2PSetting.OFF not in response.content.decode()
