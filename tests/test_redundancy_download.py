"""Making a copy in this process, from the live instance's webseed: slices that continue with
their claim, network errors that keep it, and a run that lost its claim publishing nothing."""

import socket
import urllib.request

import pytest

from instance.models import Video, VideoFile
from instance.redundancy import download, lifecycle
from instance.redundancy.models import CopyState, RedundancyCopy
from tests.conftest import get_json
from tracker.core import bdecode

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


@pytest.fixture
def copy(live_instance, settings, tmp_path) -> RedundancyCopy:
    """A queued copy of a file of this test's catalogue whose origin is a live demo video."""
    settings.PUBLIC_URL = live_instance.url
    settings.REDUNDANCY_ROOT = tmp_path / "redundancy"
    listed = get_json(f"{live_instance.url}/api/v1/videos")["data"][0]["files"][0]
    metainfo = urllib.request.urlopen(listed["torrentUrl"], timeout=10).read()
    torrent_path = settings.MEDIA_ROOT / "torrents" / listed["torrentUrl"].rsplit("/", 1)[1]
    torrent_path.parent.mkdir(parents=True)
    torrent_path.write_bytes(metainfo)
    video_file = VideoFile.objects.create(
        video=Video.objects.create(name="Live demo", duration=1),
        resolution=listed["resolution"]["id"],
        width=640,
        size=listed["size"],
        file=f"web-videos/{listed['fileUrl'].rsplit('/', 1)[1]}",
        torrent=f"torrents/{torrent_path.name}",
        info_hash=listed["infoHash"],
        piece_length=bdecode(metainfo)[b"info"][b"piece length"],
    )
    copy = RedundancyCopy.objects.create(video_file=video_file, strategy="most-views")
    yield copy
    # Leave the live tracker's swarm as it was for the other tests ("stopped").
    copy.refresh_from_db()
    lifecycle.drop(copy, "test over")


def origin_bytes(copy: RedundancyCopy) -> bytes:
    return urllib.request.urlopen(copy.video_file.file_url, timeout=10).read()


@pytest.fixture
def small_slices(monkeypatch, copy):
    # Four pieces a request and slices that end after one request: many slices, as a large file.
    monkeypatch.setattr(download, "CHUNK_BYTES", 4 * copy.video_file.piece_length)
    monkeypatch.setattr(download, "SLICE_SECONDS", 0.0)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.usefixtures("small_slices")
def test_a_download_goes_on_slice_by_slice_with_its_claim_and_publishes_the_verified_copy(copy):
    claim = download.download_slice(copy.pk)
    progress = []
    while claim:
        copy.refresh_from_db()
        assert copy.state == CopyState.DOWNLOADING and copy.claim == claim
        assert not copy.path.exists()  # nothing is at the published name before the end
        progress.append(copy.bytes_done)
        claim = download.download_slice(copy.pk, claim)
    assert len(progress) > 3 and progress == sorted(progress)
    copy.refresh_from_db()
    assert copy.state == CopyState.PUBLISHED and copy.progress == 100
    assert copy.path.read_bytes() == origin_bytes(copy) and not copy.part_path.exists()
    assert copy.url in copy.video_file.webseeds
    assert copy.peer_id.startswith("-PV0100-") and copy.next_announce_at is not None


@pytest.mark.usefixtures("small_slices")
def test_a_network_error_keeps_the_claim_and_the_retry_goes_on_where_it_stopped(copy, settings):
    claim = download.download_slice(copy.pk)
    copy.refresh_from_db()
    reached = copy.bytes_done
    origin = settings.PUBLIC_URL
    settings.PUBLIC_URL = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(download.TransientDownloadError) as error:
        download.download_slice(copy.pk, claim)
    assert error.value.claim == claim
    copy.refresh_from_db()
    assert copy.state == CopyState.DOWNLOADING and copy.bytes_done == reached
    assert copy.reason.startswith("Retrying after network error")
    settings.PUBLIC_URL = origin
    while claim:
        claim = download.download_slice(copy.pk, claim)
    copy.refresh_from_db()
    assert copy.state == CopyState.PUBLISHED and copy.path.read_bytes() == origin_bytes(copy)


@pytest.mark.usefixtures("small_slices")
def test_a_run_whose_copy_was_dropped_stops_and_publishes_nothing(copy):
    claim = download.download_slice(copy.pk)
    copy.refresh_from_db()
    assert lifecycle.drop(copy, "No longer selected.")
    assert download.download_slice(copy.pk, claim) is None
    copy.refresh_from_db()
    assert copy.state == CopyState.EXPIRED
    assert not copy.path.exists() and not copy.part_path.exists()
    # A second run for the same message does nothing either: the copy is not queued.
    assert download.download_slice(copy.pk) is None


@pytest.mark.usefixtures("small_slices")
def test_a_first_run_delivered_again_after_a_kill_takes_up_its_own_claim(copy):
    # The worker died mid-slice: the same message (same task id) comes back, unacknowledged.
    assert download.download_slice(copy.pk, run_id="task-1")
    copy.refresh_from_db()
    reached = copy.bytes_done
    assert copy.claim == download.run_claim("task-1")
    assert download.download_slice(copy.pk, run_id="another-task") is None
    claim = download.download_slice(copy.pk, run_id="task-1")
    assert claim == download.run_claim("task-1")
    copy.refresh_from_db()
    assert copy.bytes_done > reached  # resumed from the verified pieces, not from zero
    while claim:
        claim = download.download_slice(copy.pk, claim)
    copy.refresh_from_db()
    assert copy.state == CopyState.PUBLISHED and copy.path.read_bytes() == origin_bytes(copy)


class Killed(BaseException):
    """The worker's death at this point: nothing of the run's own error handling runs."""


@pytest.mark.usefixtures("small_slices")
def test_a_slice_killed_between_the_rename_and_publishing_publishes_when_delivered_again(
    copy, monkeypatch
):
    def killed(*args):
        raise Killed

    claim = download.download_slice(copy.pk)
    with monkeypatch.context() as patch:
        patch.setattr(lifecycle, "publish", killed)
        with pytest.raises(Killed):
            while True:
                last_claim, claim = claim, download.download_slice(copy.pk, claim)
    copy.refresh_from_db()
    assert copy.state == CopyState.VERIFYING and copy.path.exists()  # renamed, not published
    assert copy.url not in copy.video_file.webseeds
    # The last slice's message (a continuation, with the claim), delivered again.
    assert download.download_slice(copy.pk, last_claim) is None
    copy.refresh_from_db()
    assert copy.state == CopyState.PUBLISHED and copy.path.read_bytes() == origin_bytes(copy)
    assert not copy.part_path.exists()
