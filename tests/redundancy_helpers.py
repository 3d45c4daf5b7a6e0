"""Shared parts of the redundancy live tests: the live server on a Redis broker, a Celery worker
subprocess, the staff panel over HTTP, small videos to import."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.live import ROOT, LiveInstance

BROKER_DB = 7  # a Redis database no other test or service of this machine uses
BROKER_URL = f"redis://127.0.0.1:6379/{BROKER_DB}"
PROGRESS_STATES = {"queued", "downloading", "verifying"}


def import_script(videos: list[tuple[str, int]]) -> str:
    """Python for `manage.py shell`: generate small videos and import them, in this order."""
    return f"""
import tempfile
from pathlib import Path
from instance.demo_media import generate_demo_video
from instance.video_import import import_video
folder = Path(tempfile.mkdtemp())
for name, seed in {videos!r}:
    path = folder / f"{{seed}}.mp4"
    generate_demo_video(path, seconds=2, width=320, height=180, seed=seed)
    import_video(path, name=name)
"""


# The tests' own tracker scrapes come from here (PEERVEIL_TRACKER_EXEMPT_NETWORKS).
OBSERVER_ADDRESS = "127.0.0.250"


class BrokeredInstance(LiveInstance):
    """The live server publishing to the test's Redis broker (the panel's button).

    No exempt network: the redundancy node's announces carry the node token, which is what keeps
    the spy guard from refusing one address that seeds every copied video."""

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(
            PEERVEIL_CELERY_BROKER_URL=BROKER_URL,
            PEERVEIL_TRACKER_EXEMPT_NETWORKS=f"{OBSERVER_ADDRESS}/32",
            **extra,
        )


def wait_for(predicate, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def checks_done(self) -> int:
        return len(re.findall(r"check_redundancy\[[^\]]+\] succeeded", self.log()))

    def downloads_received(self) -> int:
        return len(re.findall(r"download_copy\[[^\]]+\] received", self.log()))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_worker(live: LiveInstance) -> Worker:
    log_path = live.data_dir / "worker.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "instance",
            "worker",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--hostname",
            f"redundancy-{live.port}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],  # fmt: skip
        cwd=ROOT,
        env=live.env(),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = Worker(process, log_path)
    wait_for(lambda: "ready." in worker.log() or process.poll() is not None, 30, "the worker")
    assert process.poll() is None, worker.log()
    return worker


class Panel:
    """The staff panel over HTTP, logged in as the live instance's admin."""

    def __init__(self, live: LiveInstance):
        self.http = httpx.Client(base_url=live.url, timeout=10)
        self.http.get("/admin-panel/login/")
        login = {"username": "admin", "password": "live-admin-password"}
        assert self.post("/admin-panel/login/", login).headers["location"] == "/admin-panel/"

    def post(self, path: str, data: dict) -> httpx.Response:
        token = self.http.cookies["csrftoken"]
        return self.http.post(path, data={**data, "csrfmiddlewaretoken": token})

    def strategy(self, name: str, **fields) -> None:
        data = {f"{name}-{key}": value for key, value in fields.items()}
        assert self.post(f"/admin-panel/redundancy/{name}", data).status_code == 302

    def copies(self) -> dict[str, dict]:
        copies = self.http.get("/admin-panel/redundancy/copies.json").json()["copies"]
        return {copy["video"]: copy for copy in copies}

    def run_check(self, worker: Worker) -> None:
        """Press "Run the check now" and wait until the worker has run it and its downloads."""
        done = worker.checks_done()
        assert self.post("/admin-panel/redundancy/check", {}).status_code == 302
        wait_for(lambda: worker.checks_done() > done, 20, "the check")
        wait_for(
            lambda: not any(c["state"] in PROGRESS_STATES for c in self.copies().values()),
            30,
            "the downloads",
        )


def http_get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""
