"""Re-verification of published copies: each check hashes a window of each copy's pieces, every
piece within PASS_CHECKS checks, and a copy corrupted on disk is unpublished (out of the webseeds,
its file deleted, "stopped" sent to the tracker) and failed, to be downloaded again later.

The copies are real: a demo video imported with its torrent, copied byte for byte, published by
lifecycle.publish. The tracker they announce to is a small recording HTTP server on loopback (the
live test runs them against the real tracker)."""

import datetime
import io
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from instance.models import Video
from instance.redundancy import check, lifecycle, verify
from instance.redundancy.download import Pieces
from instance.redundancy.models import (
    FAILED_COPY_RETRY_AFTER,
    CopyState,
    RedundancyCopy,
    RedundancyStrategy,
)
from instance.redundancy.tasks import check_redundancy
from tests.test_redundancy_pages import webseeds_everywhere
from tracker.core import bencode

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redundancy_root")]


class RecordingTracker(ThreadingHTTPServer):
    """Answers every announce with an interval and keeps each one's event."""

    def __init__(self):
        self.events: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(handler):
                query = parse_qs(urlsplit(handler.path).query)
                self.events.append(query.get("event", [""])[0])
                body = bencode({b"interval": 120, b"peers": b""})
                handler.send_response(200)
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def tracker(settings):
    server = RecordingTracker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PUBLIC_URL = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def video(demo_video_path) -> Video:
    call_command("import_video", str(demo_video_path), "--name", "Clip", stdout=io.StringIO())
    video = Video.objects.get(name="Clip")
    # Wanted by most-views, so that the check's strategy part keeps the copy.
    Video.objects.filter(pk=video.pk).update(views=5)
    RedundancyStrategy.objects.filter(name="most-views").update(enabled=True)
    return video


def published_copy(video: Video, seed: int) -> RedundancyCopy:
    """A copy as a finished download publishes it: the origin's bytes at its final path."""
    video_file = video.files.get()
    copy = RedundancyCopy.objects.create(
        video_file=video_file, strategy="most-views", state=CopyState.VERIFYING, claim="c" * 32
    )
    copy.path.write_bytes(video_file.file.read())
    copy = RedundancyCopy.objects.select_related("video_file__video").get(pk=copy.pk)
    assert lifecycle.publish(copy, "c" * 32, rng=random.Random(seed))
    copy.refresh_from_db()
    return copy


def pieces_of(copy: RedundancyCopy) -> Pieces:
    return Pieces.from_torrent(open(copy.video_file.torrent.path, "rb").read())


def corrupt_piece(copy: RedundancyCopy, index: int) -> None:
    start = index * copy.video_file.piece_length
    with copy.path.open("r+b") as stored:
        stored.seek(start + 100)
        byte = stored.read(1)
        stored.seek(start + 100)
        stored.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("piece_count", [1, 7, 63, 64, 65, 1000, 4099])
def test_every_piece_is_verified_within_pass_checks_reading_a_window_each_check(piece_count):
    passes = verify.PASS_CHECKS
    cursor, seen = random.Random(piece_count).randrange(piece_count), []
    for _ in range(passes):
        indices = verify.window(piece_count, cursor)
        assert len(indices) == -(-piece_count // passes)  # 1/PASS_CHECKS of the pieces
        seen += indices
        cursor = (indices[-1] + 1) % piece_count
    assert set(seen) == set(range(piece_count))


def test_publication_counts_as_a_verification_and_starts_the_cursor_at_a_random_piece(
    video, tracker
):
    copy = published_copy(video, seed=3)
    assert copy.verified_at == copy.published_at
    starts = {published_copy_cursor(video, seed) for seed in range(8)}
    assert len(starts) > 3 and all(0 <= s < copy.piece_count for s in starts)
    assert tracker.events[0] == "started"


def published_copy_cursor(video: Video, seed: int) -> int:
    RedundancyCopy.objects.all().delete()
    return published_copy(video, seed).verify_cursor


def test_an_intact_copy_stays_published_across_many_checks(video, tracker):
    copy = published_copy(video, seed=1)
    start, pieces = copy.verify_cursor, pieces_of(copy)
    checks = 3 * len(pieces.hashes)  # three passes: one piece a check for this small file
    now = timezone.now()
    read = 0
    for number in range(checks):
        now += datetime.timedelta(minutes=10)
        result = verify.reverify_published(now)
        assert result.verified == [copy.pk] and not result.unpublished, number
        read += result.bytes_read
    copy.refresh_from_db()
    assert copy.state == CopyState.PUBLISHED and copy.verified_at == now
    assert copy.path.read_bytes() == video.files.get().file.read()
    # Every piece was read once a pass, and the cursor is back where it started.
    assert read == 3 * pieces.length
    assert copy.verify_cursor == start
    assert copy.url in video.files.get().webseeds
    assert tracker.events == ["started"]


def test_a_copy_corrupted_in_one_piece_is_unpublished_by_the_check_that_reads_it(
    video, tracker, client, admin_client
):
    copy = published_copy(video, seed=2)
    count = len(pieces_of(copy).hashes)
    # The piece just before the cursor: the last one the coming pass reaches.
    bad = (copy.verify_cursor - 1) % count
    corrupt_piece(copy, bad)
    origin = video.files.get().file_url
    for _ in range(count - 1):
        check_redundancy()
        copy.refresh_from_db()
        assert copy.state == CopyState.PUBLISHED and copy.path.exists()
    # The PASS_CHECKS bound: for this file, one piece a check, the pass's last check.
    assert count <= verify.PASS_CHECKS
    check_redundancy()
    copy.refresh_from_db()
    assert copy.state == CopyState.FAILED and copy.unpublished_corrupt
    assert re.fullmatch(
        rf"Piece {bad} of {count} no longer matches the torrent's SHA-1: the copy was corrupted "
        r"on disk after its publication\. Unpublished; downloaded again after 24 h\.",
        copy.reason,
    )
    assert not copy.path.exists() and list(copy.path.parent.iterdir()) == []
    assert webseeds_everywhere(client, video) == {
        "torrent": [origin],
        "magnet": [origin],
        "api": [origin],
    }
    assert client.get(f"/static/redundancy/{copy.filename}").status_code == 404
    assert tracker.events == ["started", "stopped"]
    # The panel tells why.
    page = admin_client.get("/admin-panel/redundancy/").content.decode()
    row = re.search(rf'<tr data-copy="{copy.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "Failed" in row and "Unpublished: corrupt" in row and f"Piece {bad} of" in row
    listed = admin_client.get("/admin-panel/redundancy/copies.json").json()["copies"][0]
    assert listed["unpublishedCorrupt"] and listed["url"] is None
    # Tried again like a failed download: not before its wait is over, then from the origin.
    assert not check.run_check().queued
    later = timezone.now() + FAILED_COPY_RETRY_AFTER
    assert check.run_check(later).queued == [copy.pk]
    copy.refresh_from_db()
    assert copy.state == CopyState.QUEUED and copy.verified_at is None
    assert not copy.unpublished_corrupt


def test_a_copy_whose_file_was_truncated_or_deleted_is_unpublished_at_the_next_check(
    video, tracker
):
    copy = published_copy(video, seed=4)
    with copy.path.open("r+b") as stored:
        stored.truncate(copy.video_file.size - 1)
    result = verify.reverify_published()
    assert result.unpublished == [copy.pk] and result.bytes_read == 0
    copy.refresh_from_db()
    assert copy.state == CopyState.FAILED and "bytes on disk, not" in copy.reason
    assert not copy.path.exists()

    RedundancyCopy.objects.all().delete()
    copy = published_copy(video, seed=5)
    copy.path.unlink()
    assert verify.reverify_published().unpublished == [copy.pk]
    copy.refresh_from_db()
    assert copy.reason.startswith("The published file is gone")


def test_the_panel_shows_when_a_copy_was_last_verified(video, tracker, admin_client):
    copy = published_copy(video, seed=6)
    checked = timezone.now() + datetime.timedelta(hours=3)
    verify.reverify_published(checked)
    page = admin_client.get("/admin-panel/redundancy/").content.decode()
    assert "Last verified" in page
    row = re.search(rf'<tr data-copy="{copy.pk}">(.*?)</tr>', page, re.S).group(1)
    shown = timezone.localtime(checked).strftime("%Y-%m-%d %H:%M")
    assert re.search(rf"data-verified>{shown}<", row)
    assert "Unpublished" not in row
    listed = admin_client.get("/admin-panel/redundancy/copies.json").json()["copies"][0]
    assert listed["verifiedAt"] == checked.isoformat()
