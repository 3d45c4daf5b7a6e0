"""The redundancy program end to end: the live server, a real Celery worker on Redis (database 7),
the panel's button, HTTP Range downloads from the origin webseed, the tracker, and Chromium.

One instance for the module: four videos imported, one with a corrupted origin piece; views come
from the watch page, the strategies from the panel. The tests that change copies come last.
"""

import base64
import hashlib
import re
import sqlite3
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import pytest
import redis

from tests.browser import chromium, new_peer_context, open_test_page
from tests.live import LiveInstance
from tests.redundancy_helpers import (
    BROKER_URL,
    OBSERVER_ADDRESS,
    BrokeredInstance,
    Panel,
    Worker,
    http_get,
    import_script,
    start_worker,
    wait_for,
)
from tracker.core import bdecode, bencode

pytestmark = pytest.mark.e2e
VIDEOS = [("Most viewed", 11), ("Second", 12), ("Trending", 13), ("Corrupt", 14)]


@dataclass
class Scenario:
    live: LiveInstance
    worker: Worker
    panel: Panel
    videos: dict[str, dict]  # name -> the API's video

    def file(self, name: str) -> dict:
        return self.videos[name]["files"][0]

    def origin_path(self, name: str) -> Path:
        return (
            self.live.data_dir / "media" / "web-videos" / self.file(name)["fileUrl"].split("/")[-1]
        )

    def copy_url(self, name: str) -> str:
        return f"{self.live.url}/static/redundancy/{self.origin_path(name).name}"

    def orm(self, code: str) -> str:
        return self.live.manage(
            "shell",
            "-c",
            f"from instance.models import *\nfrom instance.redundancy.models import *\n{code}",
        )

    def copy_rows(self, *, verification: bool = True) -> list[tuple]:
        """The copies' rows; without the re-verification's record (each check moves it on)."""
        with sqlite3.connect(self.live.data_dir / "db.sqlite3") as db:
            columns = [row[1] for row in db.execute("PRAGMA table_info(instance_redundancycopy)")]
            if not verification:
                columns = [c for c in columns if c not in ("verified_at", "verify_cursor")]
            return db.execute(
                f"SELECT {', '.join(columns)} FROM instance_redundancycopy ORDER BY id"
            ).fetchall()

    def cursors(self) -> dict[str, int]:
        """Published copy -> the piece its next re-verification starts at."""
        output = self.orm(
            "for c in RedundancyCopy.objects.published().select_related('video_file__video'):\n"
            "    print(f'cursor\\t{c.video_file.video.name}\\t{c.verify_cursor}')"
        )
        rows = [line.split("\t")[1:] for line in output.splitlines() if line.startswith("cursor\t")]
        return {name: int(cursor) for name, cursor in rows}


def webseeds(scenario: Scenario, name: str) -> dict[str, list[str]]:
    """The video's webseeds as the torrent, the magnet and the API list them."""
    api = httpx.get(f"{scenario.live.url}/api/v1/videos/{scenario.videos[name]['uuid']}").json()
    video_file = api["files"][0]
    torrent = bdecode(httpx.get(video_file["torrentUrl"]).content)
    url_list = torrent[b"url-list"]
    return {
        "torrent": [u.decode() for u in ([url_list] if isinstance(url_list, bytes) else url_list)],
        "magnet": [
            urllib.parse.unquote(u) for u in re.findall(r"ws=([^&]+)", video_file["magnetUri"])
        ],
    }


def seeders(scenario: Scenario, name: str) -> int:
    info_hash = bytes.fromhex(scenario.file(name)["infoHash"])
    url = f"{scenario.live.url}/tracker/scrape?info_hash={quote_from_bytes(info_hash)}"
    # Scraped from an address of its own, exempt from the spy guard: the test watches every
    # swarm, which is what a crawler does; the redundancy node itself is not exempt.
    with httpx.Client(transport=httpx.HTTPTransport(local_address=OBSERVER_ADDRESS)) as client:
        reply = bdecode(client.get(url).content)
    assert b"files" in reply, reply
    files = reply[b"files"]
    return files[info_hash][b"complete"] if info_hash in files else 0


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    redis.Redis.from_url(BROKER_URL).flushdb()
    live = BrokeredInstance(tmp_path_factory.mktemp("redundancy"))
    live.manage("migrate", "--noinput")
    live.manage("ensure_admin")
    live.manage("shell", "-c", import_script(VIDEOS))
    live.start("--no-worker")
    worker = start_worker(live)
    try:
        listed = httpx.get(f"{live.url}/api/v1/videos").json()["data"]
        scenario = Scenario(live, worker, Panel(live), {v["name"]: v for v in listed})
        # Corrupt one piece of one origin file after its torrent was made.
        corrupt = scenario.origin_path("Corrupt")
        data = bytearray(corrupt.read_bytes())
        data[40_000:40_016] = bytes(b ^ 0xFF for b in data[40_000:40_016])
        corrupt.write_bytes(bytes(data))
        for name, views in (("Most viewed", 3), ("Second", 2), ("Trending", 1)):
            for _ in range(views):
                httpx.get(f"{live.url}/videos/watch/{scenario.videos[name]['uuid']}")
        size = {name: scenario.file(name)["size"] for name, _ in VIDEOS}
        common = {"enabled": "on", "min_lifetime_hours": "48"}
        scenario.panel.strategy(
            "most-views", size_budget=str(size["Most viewed"] + size["Second"]), **common
        )
        scenario.panel.strategy(
            "trending", size_budget=str(size["Trending"]), trending_days="1", **common
        )
        scenario.panel.strategy(
            "recently-added", size_budget=str(size["Corrupt"]), min_views="0", **common
        )
        scenario.panel.run_check(worker)
        yield scenario
    finally:
        worker.stop()
        live.stop()
        redis.Redis.from_url(BROKER_URL).flushdb()


def test_a_check_copies_what_each_strategy_selects_within_its_budget(scenario):
    copies = scenario.panel.copies()
    assert {name: (c["strategy"], c["state"]) for name, c in copies.items()} == {
        "Most viewed": ("most-views", "published"),
        "Second": ("most-views", "published"),
        "Trending": ("trending", "published"),
        "Corrupt": ("recently-added", "failed"),
    }
    assert all(c["progress"] == 100 for n, c in copies.items() if n != "Corrupt")
    page = scenario.panel.http.get("/admin-panel/redundancy/").text
    assert page.count(">Published<") == 3 and page.count(">Failed<") == 1


def test_a_published_copy_has_the_origins_bytes_with_range_and_cors(scenario):
    for name in ("Most viewed", "Second", "Trending"):
        origin = scenario.origin_path(name).read_bytes()
        status, _, body = http_get(scenario.copy_url(name))
        assert status == 200 and body == origin, name
        stored = scenario.live.data_dir / "redundancy" / scenario.origin_path(name).name
        assert stored.read_bytes() == origin
    status, headers, body = http_get(scenario.copy_url("Second"), {"Range": "bytes=100-199"})
    assert status == 206 and body == scenario.origin_path("Second").read_bytes()[100:200]
    assert headers["access-control-allow-origin"] == "*"


def test_the_magnet_torrent_and_api_list_the_copy_as_a_webseed(scenario):
    for name in ("Most viewed", "Second", "Trending"):
        origin = scenario.file(name)["fileUrl"]
        expected = [origin, scenario.copy_url(name)]
        assert webseeds(scenario, name) == {"torrent": expected, "magnet": expected}, name


def test_each_published_copy_seeds_its_swarm_on_the_tracker(scenario):
    names = ("Most viewed", "Second", "Trending", "Corrupt")

    def counts() -> list[int]:
        return [seeders(scenario, name) for name in names]

    # The first announce follows the publication from the worker (later under load: its one
    # process may still be downloading another copy).
    try:
        wait_for(lambda: counts() == [1, 1, 1, 0], 30, "the seeders")
    except AssertionError:
        notes = [line for line in scenario.worker.log().splitlines() if "redundancy:" in line]
        raise AssertionError(f"seeders {counts()}; worker: {notes}") from None


def test_chromium_downloads_the_whole_video_from_the_copy_webseed_alone(scenario):
    # The stored torrent's info with the copy as its only source: no tracker, no origin.
    served = bdecode(httpx.get(scenario.file("Most viewed")["torrentUrl"]).content)
    torrent = bencode({b"info": served[b"info"], b"url-list": [scenario.copy_url("Most viewed")]})
    origin_sha1 = hashlib.sha1(scenario.origin_path("Most viewed").read_bytes()).hexdigest()
    with chromium() as browser:
        page = open_test_page(
            new_peer_context(browser, scenario.live.url), f"{scenario.live.url}/tracker/test-page"
        )
        got = page.page.evaluate(
            """([torrent]) => window.download(
                Uint8Array.from(atob(torrent), (c) => c.charCodeAt(0)), [], {timeoutMs: 30000})""",
            [base64.b64encode(torrent).decode()],
        )
    assert got["sha1"] == origin_sha1 and got["length"] == scenario.file("Most viewed")["size"]
    assert got["wireTypes"] and set(got["wireTypes"]) == {"webSeed"}


def test_a_corrupt_origin_piece_fails_the_copy_which_stays_unpublished(scenario):
    copy = scenario.panel.copies()["Corrupt"]
    assert copy["state"] == "failed" and copy["url"] is None
    assert re.fullmatch(
        r"Piece 2 of \d+ does not match the torrent's SHA-1: the origin file is corrupt or was "
        r"changed\.",
        copy["reason"],
    )
    assert http_get(scenario.copy_url("Corrupt"))[0] == 404
    origin = scenario.file("Corrupt")["fileUrl"]
    assert webseeds(scenario, "Corrupt") == {"torrent": [origin], "magnet": [origin]}
    stored = {p.name for p in (scenario.live.data_dir / "redundancy").iterdir()}
    assert not any(name.startswith(scenario.origin_path("Corrupt").name) for name in stored)


def test_running_the_same_check_again_changes_nothing_but_verifies_a_piece_of_each_copy(scenario):
    rows = scenario.copy_rows(verification=False)
    cursors = scenario.cursors()
    files = {
        p.name: p.stat().st_mtime_ns for p in (scenario.live.data_dir / "redundancy").iterdir()
    }
    downloads = scenario.worker.downloads_received()
    scenario.panel.run_check(scenario.worker)
    assert scenario.copy_rows(verification=False) == rows
    # These files have fewer than PASS_CHECKS pieces: one piece a check, the next one.
    assert set(cursors) == {"Most viewed", "Second", "Trending"}
    count = {name: -(-scenario.file(name)["size"] // 16384) for name in cursors}
    assert scenario.cursors() == {
        name: (cursor + 1) % count[name] for name, cursor in cursors.items()
    }
    assert {
        p.name: p.stat().st_mtime_ns for p in (scenario.live.data_dir / "redundancy").iterdir()
    } == files
    assert scenario.worker.downloads_received() == downloads


def test_a_download_left_by_a_killed_worker_resumes_and_is_never_published_partial(scenario):
    # What a worker killed mid-download leaves: the row downloading with an old heartbeat, and a
    # part file of verified pieces ending in a torn one.
    copy = scenario.live.data_dir / "redundancy" / scenario.origin_path("Second").name
    part = copy.with_name(copy.name + ".part")
    origin = scenario.origin_path("Second").read_bytes()
    scenario.orm(
        "import datetime; from django.utils import timezone\n"
        "RedundancyCopy.objects.filter(video_file__video__name='Second').update("
        "state='downloading', claim='k' * 32, bytes_done=65536, published_at=None, "
        "heartbeat=timezone.now() - datetime.timedelta(hours=1))"
    )
    copy.unlink()
    part.write_bytes(origin[: 5 * 16384] + b"torn piece")
    assert http_get(scenario.copy_url("Second"))[0] == 404
    assert scenario.copy_url("Second") not in webseeds(scenario, "Second")["magnet"]
    scenario.panel.run_check(scenario.worker)
    assert scenario.panel.copies()["Second"]["state"] == "published"
    # It went on from the five verified pieces; the torn one was fetched again.
    assert re.search(r"copy \d+ resumes at 81920 of \d+ bytes", scenario.worker.log())
    assert http_get(scenario.copy_url("Second"))[2] == origin
    assert not part.exists()


def test_an_expired_copy_is_removed_from_disk_and_from_the_webseeds(scenario):
    stored = scenario.live.data_dir / "redundancy" / scenario.origin_path("Trending").name
    # The trending budget shrinks: the copy no longer fits but is kept for its minimum lifetime.
    # (Recently added, which would take it over, is switched off.)
    scenario.panel.strategy(
        "trending", enabled="on", size_budget="1KB", min_lifetime_hours="48", trending_days="1"
    )
    scenario.panel.strategy(
        "recently-added", size_budget="10GB", min_lifetime_hours="48", min_views="0"
    )
    scenario.panel.run_check(scenario.worker)
    assert scenario.panel.copies()["Trending"]["state"] == "published" and stored.exists()
    scenario.orm(
        "from django.utils import timezone\n"
        "RedundancyCopy.objects.filter(video_file__video__name='Trending')"
        ".update(expires_at=timezone.now())"
    )
    scenario.panel.run_check(scenario.worker)
    copy = scenario.panel.copies()["Trending"]
    assert copy["state"] == "expired" and copy["reason"].startswith("Lifetime over")
    assert not stored.exists()
    assert http_get(scenario.copy_url("Trending"))[0] == 404
    origin = scenario.file("Trending")["fileUrl"]
    assert webseeds(scenario, "Trending") == {"torrent": [origin], "magnet": [origin]}
    # It sent "stopped": the swarm no longer counts it.
    assert seeders(scenario, "Trending") == 0


def test_a_network_error_is_retried_with_backoff_and_a_failed_copy_a_day_later(scenario):
    # The origin is repaired and the failed copy's day has passed; recently-added takes it again.
    corrupt = scenario.origin_path("Corrupt")
    data = bytearray(corrupt.read_bytes())
    data[40_000:40_016] = bytes(b ^ 0xFF for b in data[40_000:40_016])
    corrupt.write_bytes(bytes(data))
    scenario.orm(
        "import datetime; from django.utils import timezone\n"
        "RedundancyCopy.objects.filter(video_file__video__name='Corrupt')"
        ".update(state_changed=timezone.now() - datetime.timedelta(days=1))\n"
        "RedundancyStrategy.objects.filter(name='recently-added').update(enabled=True)"
    )
    # The origin is down while the worker downloads: it retries, with backoff, until it is back.
    scenario.live.stop()
    try:
        scenario.orm(
            "from instance.redundancy.tasks import check_redundancy; check_redundancy.delay()"
        )
        wait_for(
            lambda: re.search(r"download_copy\[[^\]]+\] retry: Retry in", scenario.worker.log()),
            20,
            "a retry",
        )
    finally:
        scenario.live.start("--no-worker")
    wait_for(
        lambda: scenario.panel.copies()["Corrupt"]["state"] == "published", 40, "the retried copy"
    )
    assert http_get(scenario.copy_url("Corrupt"))[2] == corrupt.read_bytes()


def test_a_copy_corrupted_on_disk_stops_being_served_after_the_next_check(scenario):
    name = "Most viewed"
    stored = scenario.live.data_dir / "redundancy" / scenario.origin_path(name).name
    assert http_get(scenario.copy_url(name))[0] == 200
    # The server was restarted by the test before (the tracker forgot its swarms) and this worker
    # runs no beat: the copy announces "started" again now, as its next periodic announce would.
    scenario.orm(
        "from instance.redundancy import seeding\n"
        f"RedundancyCopy.objects.filter(video_file__video__name={name!r})"
        ".update(next_announce_at=None)\n"
        "seeding.announce_due()"
    )
    assert seeders(scenario, name) == 1
    # One byte of the piece the next check verifies (16 KiB pieces for these small files).
    piece = scenario.cursors()[name]
    data = bytearray(stored.read_bytes())
    data[piece * 16384 + 7] ^= 0xFF
    stored.write_bytes(bytes(data))
    assert http_get(scenario.copy_url(name))[0] == 200  # served until a check reads it
    scenario.panel.run_check(scenario.worker)
    assert http_get(scenario.copy_url(name))[0] == 404
    copy = scenario.panel.copies()[name]
    assert copy["state"] == "failed" and copy["unpublishedCorrupt"] and copy["url"] is None
    assert copy["reason"].startswith(f"Piece {piece} of ") and "corrupted on disk" in copy["reason"]
    origin = scenario.file(name)["fileUrl"]
    assert webseeds(scenario, name) == {"torrent": [origin], "magnet": [origin]}
    assert not stored.exists()
    assert seeders(scenario, name) == 0  # it sent "stopped"
    page = scenario.panel.http.get("/admin-panel/redundancy/").text
    assert "Unpublished: corrupt" in page
