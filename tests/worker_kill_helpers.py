"""Parts of the worker-supervision live tests: an origin gate that holds the redundancy
download mid-task, and finding the Celery worker's processes of a live `manage.py serve`."""

import contextlib
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path


class GatedOrigin:
    """A TCP relay to the live server that holds every connection until `open()`.

    The instance's public URL points here, so the worker's Range request for the origin file
    hangs: the download task is running (its copy claimed, `downloading`) when the test kills."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.gate = threading.Event()
        self.held: list[int] = []  # client ports of the connections that came in
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, address = self.listener.accept()
                self.held.append(address[1])
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        self.gate.wait()
        with contextlib.suppress(OSError), client:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with upstream:
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join(30)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in out.split()]


def group(leader: int) -> list[int]:
    out = subprocess.run(["pgrep", "-g", str(leader)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def worker_main(serve_pid: int) -> int | None:
    """The Celery worker's main process that `serve` started."""
    return next((pid for pid in children(serve_pid) if " celery " in cmdline(pid)), None)


def process_with_connection(client_port: int, candidates: list[int]) -> int | None:
    """Which of `candidates` owns the loopback TCP socket whose local port is `client_port`."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == client_port:
            inode = fields[9]
    for pid in candidates:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
    return None


class SiteProbe:
    """Asks the site for its video list every 0.1 s on a thread, recording every answer."""

    def __init__(self, url: str):
        self.url = url
        self.answers: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/videos", timeout=2) as response:
                    self.answers.append(str(response.status))
            except Exception as error:  # any failure is what the test reports
                self.answers.append(repr(error))
            time.sleep(0.1)

    def stop(self) -> list[str]:
        self.stopped.set()
        self.thread.join(5)
        return self.answers
