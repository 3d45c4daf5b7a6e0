"""A Celery worker killed during a redundancy check: `manage.py serve` (as `make run` starts it,
on the embedded filesystem broker) keeps the site up, restarts the worker, and the check's copy is
published whole after the restart.

The origin webseed is reached through a gate (the instance's public URL), so the download task is
certainly running, its copy claimed, when the test sends SIGKILL."""

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.live import LiveInstance
from tests.redundancy_helpers import BROKER_URL, Panel, http_get, import_script, wait_for
from tests.worker_kill_helpers import (
    GatedOrigin,
    SiteProbe,
    children,
    cmdline,
    group,
    process_with_connection,
    worker_main,
)

pytestmark = pytest.mark.e2e
STUCK_AFTER = 6  # PEERVEIL_WORKER_STUCK_AFTER for these instances: a stuck pool is seen fast


def start_instance(tmp_path, **settings: str) -> tuple[LiveInstance, GatedOrigin]:
    live = LiveInstance(tmp_path)
    origin = GatedOrigin(live.port)
    live.settings = {
        "PEERVEIL_PUBLIC_URL": origin.url,  # the worker downloads through the gate
        "PEERVEIL_REDUNDANCY_CHECK_INTERVAL": "1",
        "PEERVEIL_WORKER_STUCK_AFTER": str(STUCK_AFTER),
        **settings,
    }
    live.manage("migrate", "--noinput")
    live.manage("ensure_admin")
    live.manage(
        "shell",
        "-c",
        import_script([("Watched", 31)])
        + "from instance.models import *\n"
        + "from instance.redundancy.models import *\n"
        + "Video.objects.get().record_view()\n"
        + "RedundancyStrategy.objects.filter(name='most-views').update(enabled=True)\n",
    )
    live.start()
    return live, origin


def kill_during_download(tmp_path, pick_victim, **settings: str) -> str:
    """Start the instance, let beat's check start the download, SIGKILL `pick_victim(...)`, let
    the origin answer, wait for the copy. Returns the instance's log."""
    live, origin = start_instance(tmp_path, **settings)
    probe = SiteProbe(live.url)
    try:
        wait_for(lambda: origin.held, 20, "the download to reach the origin")
        main = worker_main(live.process.pid)

        def victim_found():
            # Any held connection may be the download's: the check's announces come here too.
            return next(filter(None, (pick_victim(main, port) for port in origin.held)), None)

        victim = wait_for(victim_found, 10, "the worker process holding the download")
        panel = Panel(live)
        assert [copy["state"] for copy in panel.copies().values()] == ["downloading"]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        origin.open()
        video = httpx.get(f"{live.url}/api/v1/videos").json()["data"][0]
        name = video["files"][0]["fileUrl"].split("/")[-1]
        copy_url = f"{origin.url}/static/redundancy/{name}"

        def published() -> bool:
            api = httpx.get(f"{live.url}/api/v1/videos/{video['uuid']}").json()
            return f"ws={copy_url}" in api["files"][0]["magnetUri"]

        wait_for(published, 40, "the copy published after the worker's restart")
        recovered_in = time.monotonic() - killed_at
        answers = probe.stop()
        # The site answered every request, throughout.
        assert answers and set(answers) == {"200"}, answers
        assert live.process.poll() is None
        # The copy is whole and consistent: published, its bytes the origin's, no part left.
        origin_bytes = (tmp_path / "media" / "web-videos" / name).read_bytes()
        assert http_get(f"{live.url}/static/redundancy/{name}")[2] == origin_bytes
        assert (tmp_path / "redundancy" / name).read_bytes() == origin_bytes
        assert sorted(path.name for path in (tmp_path / "redundancy").iterdir()) == [name]
        (copy,) = panel.copies().values()
        assert (copy["state"], copy["bytesDone"], copy["size"]) == (
            "published",
            len(origin_bytes),
            len(origin_bytes),
        )
        print(f"copy published {recovered_in:.1f} s after the SIGKILL, {len(answers)} answers")
        return live.log()
    finally:
        probe.stop()
        live.stop()
        origin.close()


def test_a_killed_worker_main_process_is_restarted_and_its_download_completes(tmp_path):
    log = kill_during_download(tmp_path, lambda main, port: main)
    assert "the Celery worker stopped (signal 9): restarting it in 1 s" in log
    # The download's message, held by the killed process, came back from its journal (with the
    # duplicate a later check may have sent while the copy was still unclaimed).
    assert re.search(r"broker: [12] unacknowledged message\(s\) of a stopped worker put back", log)


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_a_killed_pool_process_is_replaced_and_its_download_completes(tmp_path, broker):
    def pool_process(main: int, port: int) -> int | None:
        return process_with_connection(port, children(main))

    settings = {}
    if broker == "redis":
        redis.Redis.from_url(BROKER_URL).flushdb()
        settings = {"PEERVEIL_CELERY_BROKER_URL": BROKER_URL}
    log = kill_during_download(tmp_path, pool_process, **settings)
    assert "exited with 'signal 9 (SIGKILL)'" in log
    # Either the worker gave the task back (WorkerLostError, after worker_lost_wait) and a new
    # pool process ran it, or its pool stayed stuck and `serve` killed and restarted it.
    assert "WorkerLostError" in log or "its pool is stuck" in log
    if broker == "redis":
        redis.Redis.from_url(BROKER_URL).flushdb()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_pool_process_killed_or_frozen_leaves_no_worker_that_never_runs_tasks(tmp_path, signum):
    # Measured (celery 5.7, billiard 4.3, prefork, concurrency 1): after a SIGKILL of the idle
    # pool process the worker most often kept receiving tasks and ran none, as long as watched
    # (20 s); sometimes a new pool process ran them. A frozen one (SIGSTOP, as a process hung in
    # a system call) never runs them, and the worker never notices.
    live, origin = start_instance(tmp_path)
    origin.open()
    probe = SiteProbe(live.url)
    heartbeat = tmp_path / "celery" / "heartbeat"
    try:
        wait_for(heartbeat.exists, 20, "a first heartbeat")
        pool = int(heartbeat.read_text())
        assert pool in children(worker_main(live.process.pid))
        os.kill(pool, signum)
        stopped_at = time.time()

        def a_task_ran_since() -> bool:
            return heartbeat.stat().st_mtime > stopped_at and int(heartbeat.read_text()) != pool

        wait_for(a_task_ran_since, 3 * STUCK_AFTER, "a task run by another pool process")
        print(f"tasks run again {time.time() - stopped_at:.1f} s after the signal")
        answers = probe.stop()
        assert answers and set(answers) == {"200"}, answers
        assert live.process.poll() is None
        if signum == signal.SIGSTOP:
            assert "its pool is stuck): killing it" in live.log()
            assert not Path(f"/proc/{pool}").exists()
    finally:
        probe.stop()
        live.stop()
        origin.close()


def test_a_worker_that_keeps_dying_is_restarted_with_a_growing_delay(tmp_path):
    live, origin = start_instance(tmp_path)
    origin.open()
    probe = SiteProbe(live.url)
    try:
        for delay in (1, 2, 4):
            main = wait_for(lambda: worker_main(live.process.pid), 20, "a worker")
            os.kill(main, signal.SIGKILL)
            line = f"the Celery worker stopped (signal 9): restarting it in {delay} s"
            wait_for(lambda line=line: line in live.log(), 10, line)
        restarted = wait_for(lambda: worker_main(live.process.pid), 10, "the fourth worker")
        assert restarted != main
        answers = probe.stop()
        assert answers and set(answers) == {"200"}, answers
    finally:
        probe.stop()
        live.stop()
        origin.close()


def test_the_server_s_end_stops_serve_and_every_process_of_the_instance(tmp_path):
    live, origin = start_instance(tmp_path)
    try:
        wait_for(lambda: "celery@" in live.log() and " ready." in live.log(), 20, "the worker")
        family = [pid for child in children(live.process.pid) for pid in group(child)]
        server = next(pid for pid in children(live.process.pid) if " uvicorn " in cmdline(pid))
        os.kill(server, signal.SIGKILL)
        assert live.process.wait(15) != 0
        assert "the server stopped" in live.log()
        wait_for(lambda: not [pid for pid in family if Path(f"/proc/{pid}").exists()], 5, "none")
    finally:
        live.stop()
        origin.close()
