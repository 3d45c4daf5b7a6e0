"""`manage.py serve` runs the instance's STUN server beside the web server, restarts it when it
dies and stops it with everything else; without turnserver it says so once and serves anyway."""

import os
import signal
import time

import pytest

from instance.stun import probe
from tests.live import LiveInstance, free_udp_port
from tests.stun_helpers import needs_coturn

pytestmark = pytest.mark.e2e


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.1)
    return result


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@needs_coturn
def test_serve_runs_coturn_restarts_it_when_killed_and_stops_it(tmp_path):
    port = free_udp_port()
    live = LiveInstance(tmp_path, settings={"PEERVEIL_STUN_PORT": str(port)})
    live.manage("migrate", "--noinput")
    live.start("--no-worker")
    pid_file = tmp_path / "turnserver.pid"
    try:
        wait_for(lambda: probe("127.0.0.1", port, timeout=0.2).up, 10, "STUN answered")
        first = int(pid_file.read_text())
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not probe("127.0.0.1", port, timeout=0.2).up, 5, "STUN stopped")
        # Started again after 1 s (the worker's backoff), on the same port.
        wait_for(lambda: probe("127.0.0.1", port, timeout=0.2).up, 10, "STUN came back")
        second = int(pid_file.read_text())
        assert second != first
        assert "the STUN server (turnserver) stopped (signal 9): restarting it in 1 s" in live.log()
        assert f"STUN on UDP 127.0.0.1:{port}, given to browsers as stun:127.0.0.1:{port}" in (
            live.log()
        )
    finally:
        live.stop()
    assert live.process.returncode == 0
    assert not pid_alive(second)
    assert not probe("127.0.0.1", port, timeout=0.3).up


def test_serve_without_turnserver_says_so_once_and_serves(tmp_path):
    live = LiveInstance(
        tmp_path,
        settings={
            "PEERVEIL_STUN_PORT": str(free_udp_port()),
            "PEERVEIL_TURNSERVER": str(tmp_path / "no-such-turnserver"),
        },
    )
    live.manage("migrate", "--noinput")
    live.start("--no-worker")
    try:
        time.sleep(1.5)  # several rounds of the supervising loop
        assert live.answers(f"{live.url}/about/privacy")
    finally:
        live.stop()
    assert live.log().count("turnserver not found") == 1
    assert "P2P connects only viewers on the same network (LAN-only)" in live.log()
