"""A live instance for end-to-end tests: the real server process, on a free port, own data."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class LiveInstance:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)  # PEERVEIL_* for this instance
    host: str = "127.0.0.1"
    # Runs the server inside something, e.g. ["ip", "netns", "exec", "NAME"] (tests/netns.py).
    wrap: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_tracker(self) -> str:
        return f"ws://{self.host}:{self.port}/tracker/socket"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PEERVEIL_DATA_DIR=str(self.data_dir),
            PEERVEIL_PORT=str(self.port),
            PEERVEIL_HOST=self.host,
            PEERVEIL_PUBLIC_URL=self.url,
            PEERVEIL_ADMIN_PASSWORD="live-admin-password",
            PEERVEIL_TRACKER_TEST_PAGE="1",
            # No STUN server unless a test asks for one (free_udp_port()): instances running
            # at once would all want UDP 3478, and the loopback tests need none.
            PEERVEIL_STUN_PORT="0",
            DJANGO_SETTINGS_MODULE="instance.settings",
        )
        env.update(self.settings)
        env.update(extra)
        return env

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def start(self, *serve_args: str, timeout: float = 60) -> None:
        self.log_path = self.data_dir / "serve.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*self.wrap, sys.executable, "manage.py", "serve", *serve_args],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log()}")
            if self.answers(f"{self.url}/api/v1/videos"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not come up:\n{self.log()}")

    def run_python(self, code: str) -> str:
        """Run `code` where the server runs (inside `wrap`); returns its output."""
        result = subprocess.run(
            [*self.wrap, sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(f"python -c failed:\n{result.stderr}")
        return result.stdout

    def answers(self, url: str) -> bool:
        """Whether `url` answers, asked from where the server runs."""
        if self.wrap:
            try:
                self.run_python(
                    f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"
                )
            except RuntimeError:
                return False
            return True
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def remove_hls(instance: LiveInstance, uuids: list[str]) -> None:
    """Takes the HLS of these videos away (files and rows), which leaves each as a video
    imported before the instance made HLS: its page plays the MP4 over webtorrent."""
    instance.manage(
        "shell",
        "-c",
        "import shutil; from instance.models import StreamingPlaylist as P\n"
        f"for p in P.objects.filter(video__uuid__in={list(uuids)!r}):\n"
        "    shutil.rmtree(p.folder); p.delete()",
    )
