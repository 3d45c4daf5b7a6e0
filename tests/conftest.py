import json
import urllib.request
from pathlib import Path

import pytest

from tests.live import LiveInstance


@pytest.fixture(autouse=True)
def _media_in_tmp(request, tmp_path):
    """Database tests write media files to a temporary folder, never to var/."""
    if "settings" in request.fixturenames or request.node.get_closest_marker("django_db"):
        settings = request.getfixturevalue("settings")
        # HLS_ROOT lies inside MEDIA_ROOT, and is derived from it only once, when the settings
        # load: it moves with it here.
        hls_inside_media = Path(settings.HLS_ROOT).relative_to(settings.MEDIA_ROOT)
        settings.MEDIA_ROOT = tmp_path / "media"
        settings.HLS_ROOT = settings.MEDIA_ROOT / hls_inside_media
        settings.PUBLIC_URL = "http://testserver"


@pytest.fixture
def redundancy_root(settings, tmp_path):
    """A redundancy folder of the test's own (PEERVEIL_REDUNDANCY_ROOT)."""
    settings.REDUNDANCY_ROOT = tmp_path / "redundancy"
    settings.REDUNDANCY_ROOT.mkdir()
    return settings.REDUNDANCY_ROOT


@pytest.fixture
def fresh_tracker():
    """The process-wide tracker starts empty and is emptied again after the test."""
    from tracker.service import service

    service.reset()
    yield service
    service.reset()


@pytest.fixture(scope="session")
def demo_video_path(tmp_path_factory) -> Path:
    from instance.demo_media import generate_demo_video

    return generate_demo_video(tmp_path_factory.mktemp("demo") / "clip.mp4", seconds=3, seed=7)


@pytest.fixture(scope="session")
def live_instance(tmp_path_factory):
    """The real server (`manage.py serve`, as `make run` starts it) with the demo videos."""
    # Every browser of the session connects from 127.0.0.1 and opens video after video within
    # seconds, which the spy guard rightly refuses after 2 at once: that address is exempt
    # here. The guard is tested live from other addresses (libtorrent's 127.0.0.2-5, the
    # privacy tests' own instances).
    exempt = {"PEERVEIL_TRACKER_EXEMPT_NETWORKS": "127.0.0.1/32"}
    instance = LiveInstance(tmp_path_factory.mktemp("live"), settings=exempt)
    instance.manage("migrate", "--noinput")
    instance.manage("create_demo_content")
    instance.manage("ensure_admin")  # user "admin", password "live-admin-password"
    instance.start("--no-worker")
    yield instance
    instance.stop()


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(autouse=True)
def _alarms_stay_in_their_test():
    """The alarm thread outlives a test and writes a locked database again until it can: an
    alarm a test raised and did not wait for must not land in a later test's database."""
    yield
    from tracker.alarms import dispatcher

    dispatcher.discard_pending()
