"""The default run's set-up: `manage.py serve` (server, worker and beat on the embedded filesystem
broker) makes a copy on its own, from beat's periodic check."""

import httpx
import pytest

from tests.live import LiveInstance
from tests.redundancy_helpers import http_get, import_script, wait_for

pytestmark = pytest.mark.e2e


class BeatInstance(LiveInstance):
    """`manage.py serve` as `make run` starts it (filesystem broker), checking every second."""

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(PEERVEIL_REDUNDANCY_CHECK_INTERVAL="1", **extra)


def test_with_the_embedded_broker_beat_runs_the_check_and_publishes_the_copy(tmp_path):
    live = BeatInstance(tmp_path)
    live.manage("migrate", "--noinput")
    live.manage(
        "shell",
        "-c",
        import_script([("Watched", 21)])
        + "from instance.models import *\n"
        + "from instance.redundancy.models import *\n"
        + "Video.objects.get().record_view()\n"
        + "RedundancyStrategy.objects.filter(name='most-views').update(enabled=True)\n",
    )
    live.start()  # the server, and a worker with beat on the filesystem broker
    try:
        video = httpx.get(f"{live.url}/api/v1/videos").json()["data"][0]
        name = video["files"][0]["fileUrl"].split("/")[-1]
        copy_url = f"{live.url}/static/redundancy/{name}"

        def magnet() -> str:
            return httpx.get(f"{live.url}/api/v1/videos/{video['uuid']}").json()["files"][0][
                "magnetUri"
            ]

        wait_for(lambda: f"ws={copy_url}" in magnet(), 30, "the copy published by beat's check")
        origin = (tmp_path / "media" / "web-videos" / name).read_bytes()
        assert http_get(copy_url)[2] == origin
        assert "Connected to instance.broker:Transport://" in live.log()  # filesystem, journalled
    finally:
        live.stop()
