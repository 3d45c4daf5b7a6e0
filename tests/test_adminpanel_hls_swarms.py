"""The panel's swarm overview with HLS: a video's counts sum its torrent's and its renditions'
swarms, and its page shows each swarm's."""

import html
import re
import time

import orjson
import pytest

from tests.test_adminpanel_pages import http_announce, row_of
from tests.test_core_hls_swarms import pm_announce, pm_peer_id
from tests.tracker_helpers import add_hls_video
from tracker.core import KindCounts, web_json
from tracker.service import service
from tracker.swarm_history import history

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_history(fresh_tracker):
    history.clear()
    yield
    history.clear()


def web_join(swarm: bytes, n: int, connection: object) -> None:
    """A p2p-media-loader peer in a rendition's swarm (a leecher: it sends no `left`)."""
    with service.lock:
        result = service.core.receive_web(
            connection,
            None,
            orjson.dumps(pm_announce(swarm, pm_peer_id(n), seed=n)),
            service.now(),
            service.rng,
        )
    assert "failure reason" not in web_json(result.messages[0][1])


def swarm_cells(page: str) -> dict[str, list[str]]:
    table = re.search(r'<table id="video-swarm-parts">(.*?)</table>', page, re.S).group(1)
    return {
        html.unescape(label): cells
        for label, cells in (
            (m.group(1), re.findall(r'<td class="num">(\d+)</td>', m.group(2)))
            for m in re.finditer(r'<tr data-swarm="([^"]+)">(.*?)</tr>', table, re.S)
        )
    }


def test_a_video_sums_its_torrent_and_its_hls_swarms_and_its_page_shows_each(admin_client, client):
    video, (high, low) = add_hls_video("hls busy")
    torrent = video.files.get().info_hash_bytes
    http_announce(client, torrent, 1, "10.9.8.1", left=0)
    tab, other_tab = object(), object()
    web_join(high, 2, tab)
    web_join(low, 3, tab)  # the same page, after a level switch: a peer id per swarm
    web_join(low, 4, other_tab)
    overview = admin_client.get("/admin-panel/").content.decode()
    cells = re.findall(r'<td class="num">(\d+)</td>', row_of(overview, video))
    assert cells == ["0", "3", "1", "0"]  # web seeders, web leechers, HTTP seeders, leechers
    page = admin_client.get(f"/admin-panel/videos/{video.uuid}/").content.decode()
    assert '<td class="num" id="web-leechers">3</td>' in page
    assert swarm_cells(page) == {
        "torrent": ["0", "0", "1", "0"],
        "HLS 720p": ["0", "1", "0", "0"],
        "HLS 480p": ["0", "2", "0", "0"],
    }
    for n in range(1, 5):
        assert pm_peer_id(n) not in overview and pm_peer_id(n) not in page
    assert "10.9.8." not in overview + page


def test_a_video_with_peers_only_in_an_hls_swarm_is_listed_with_its_history(admin_client):
    video, (high, _) = add_hls_video("hls charted")
    history.record(time.time() - 10 * 60, {high: KindCounts(0, 4, 0, 0)})
    overview = admin_client.get("/admin-panel/").content.decode()
    labels = re.findall(r"<title>(.*?)</title>", row_of(overview, video))
    assert labels == ["11 min ago: 4 web, 0 HTTP", "now: 0 web, 0 HTTP"]


def test_the_video_page_lists_the_renditions_swarms_beside_the_files(admin_client):
    video, (high, low) = add_hls_video("hls files")
    page = admin_client.get(f"/admin-panel/videos/{video.uuid}/").content.decode()
    for label, swarm in (("HLS 720p", high), ("HLS 480p", low)):
        assert f"<td>{label}</td>" in page and f"<code>{swarm.decode()}</code>" in page
    assert list(swarm_cells(page)) == ["torrent", "HLS 720p", "HLS 480p"]
