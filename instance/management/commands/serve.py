"""Serve the instance: the ASGI server (HTTP and WebSocket on one port), Celery and STUN.

uvicorn rather than daphne: measured on this project's machines, the same consumer handles about
1.8x the WebSocket traffic under uvicorn with the sans-I/O websockets protocol, uvloop, httptools,
per-message deflate off and the access log off (measured: 0.94 of the Node tracker's messages per
second at 1,000 sockets against 0.52 under daphne). Per-message deflate
also doubled memory per socket. The access log is off because it would write viewers' IPs.
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from instance.stun import turnserver_command


def server_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "instance.asgi:application",
        "--host", host, "--port", str(port),
        # uvicorn's websockets-sansio protocol, lighter per socket (instance/ws_protocol.py).
        "--ws", "instance.ws_protocol:LeanWebSocketProtocol", "--ws-per-message-deflate", "false",
        # Frames above this are refused by the server before any parsing (the tracker's own
        # limit, with a failure reason, is lower).
        "--ws-max-size", str(4 * settings.TRACKER_MAX_MESSAGE_BYTES),
        # httptools with a deadline for request headers and a cap on silent connections
        # (instance/http_protocol.py).
        "--loop", "uvloop", "--http", "instance.http_protocol:GuardedHttpProtocol",
        # The lifespan starts the tracker's housekeeping with the server (tracker/lifespan.py).
        "--lifespan", "on",
        "--no-access-log",
        # uvicorn logs every WebSocket handshake at INFO with the client's address
        # ('127.0.0.1:58378 - "WebSocket /tracker/socket" [accepted]'): keep it to warnings.
        "--log-level", "warning",
        # X-Forwarded-For is honoured only from PEERVEIL_TRUSTED_PROXIES, by the app itself;
        # uvicorn would otherwise trust it from 127.0.0.1.
        "--no-proxy-headers",
    ]  # fmt: skip


def worker_command() -> list[str]:
    # One worker with embedded beat: enough for one machine, and the filesystem broker.
    return [
        sys.executable, "-m", "celery", "-A", "instance", "worker", "--beat",
        "--concurrency", "1", "--loglevel", "INFO",
        "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
    ]  # fmt: skip


# Supervising the Celery worker and the STUN server, and stopping everything.

logger = logging.getLogger(__name__)
# Ctrl-C or SIGTERM: every process gets this long to stop cleanly, then SIGKILL. A worker whose
# pool is stuck never finishes its warm shutdown.
STOP_GRACE_SECONDS = 10
# A worker that dies is started again after 1 s, then 2, 4... at most 60 s while it keeps dying
# within a minute of its start; one that ran longer is restarted after 1 s again.
RESTART_BACKOFF_MIN_SECONDS = 1
RESTART_BACKOFF_MAX_SECONDS = 60
RESTART_BACKOFF_RESET_SECONDS = 60


def signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def stop_processes(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        signal_group(process, signal.SIGKILL)


def heartbeat_stamp() -> int | None:
    try:
        return settings.WORKER_HEARTBEAT_FILE.stat().st_mtime_ns
    except FileNotFoundError:
        return None


class Supervised:
    """A child process that is started again whenever it dies, with a backoff.

    Its death is logged and repaired here, never a reason to stop the server: the site does
    without the worker or the STUN server for a while. The backoff keeps one that cannot start
    (a broken broker URL, a port taken) from spinning."""

    def __init__(self, name: str, command: list[str]):
        self.name = name
        self.command = command
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.restart_at: float | None = 0.0  # start at once
        self.backoff = RESTART_BACKOFF_MIN_SECONDS

    def tend(self, now: float) -> None:
        if self.process is None:
            if now >= self.restart_at:
                self.start(now)
            return
        code = self.process.poll()
        if code is not None:
            self.died(code, now)

    def start(self, now: float) -> None:
        self.process = subprocess.Popen(self.command, start_new_session=True)
        self.started, self.restart_at = now, None

    def died(self, code: int, now: float) -> None:
        # What it started may outlive it (a SIGKILL reaches only the main process): Celery's
        # pool processes and beat must not go on with a task the next worker receives again.
        signal_group(self.process, signal.SIGKILL)
        self.process = None
        if now - self.started >= RESTART_BACKOFF_RESET_SECONDS:
            self.backoff = RESTART_BACKOFF_MIN_SECONDS
        cause = f"signal {-code}" if code < 0 else f"exit code {code}"
        logger.error(
            "serve: the %s stopped (%s): restarting it in %d s", self.name, cause, self.backoff
        )
        self.restart_at = now + self.backoff
        self.backoff = min(2 * self.backoff, RESTART_BACKOFF_MAX_SECONDS)


class SupervisedWorker(Supervised):
    """The Celery worker, also restarted when its pool stops running tasks.

    Its messages survive it (CELERY_TASK_ACKS_LATE). A pool that receives tasks and never runs
    them is seen by the heartbeat task: beat sends one ten times per WORKER_STUCK_AFTER, the
    pool writes WORKER_HEARTBEAT_FILE.
    """

    def __init__(self, command: list[str]):
        super().__init__("Celery worker", command)
        self.last_beat: int | None = None  # the heartbeat file's time, as last seen
        self.last_beat_seen = 0.0

    def tend(self, now: float) -> None:
        super().tend(now)
        if self.process is None or self.started == now:
            return
        if (stuck := self.stuck_for(now)) > settings.WORKER_STUCK_AFTER:
            logger.error(
                "serve: the Celery worker ran no task for %d s (its pool is stuck): killing it",
                stuck,
            )
            # SIGKILL, not a warm shutdown: measured, a stuck prefork worker had not finished
            # one after 10 s, and on its way it had acknowledged the message of the task its
            # lost pool process was running (never run again). Killed, it leaves its unacknowledged
            # messages to the broker, which hands them to the next worker (instance/broker.py).
            signal_group(self.process, signal.SIGKILL)

    def start(self, now: float) -> None:
        super().start(now)
        self.last_beat, self.last_beat_seen = heartbeat_stamp(), now

    def stuck_for(self, now: float) -> float:
        """Seconds since the worker last proved it runs tasks (or since it started).

        The heartbeat file's time is compared with itself only, so a clock step changes
        nothing: what counts is when this loop saw it change."""
        stamp = heartbeat_stamp()
        if stamp != self.last_beat:
            self.last_beat, self.last_beat_seen = stamp, now
        return now - self.last_beat_seen


def stun_server() -> Supervised | None:
    """The instance's STUN server (coturn), or None, said once, when it runs none."""
    if not settings.STUN_PORT:
        logger.warning("serve: no STUN server (PEERVEIL_STUN_PORT=0): P2P stays LAN-only")
        return None
    if not settings.STUN_SERVER_BINARY:
        logger.warning(
            "serve: no STUN server (turnserver not found; apt-get install coturn): P2P "
            "connects only viewers on the same network (LAN-only)"
        )
        return None
    command = turnserver_command(
        settings.STUN_SERVER_BINARY,
        settings.STUN_HOST,
        settings.STUN_PORT,
        settings.DATA_DIR / "turnserver.pid",
    )
    return Supervised("STUN server (turnserver)", command)


class Command(BaseCommand):
    help = (
        "Serve the instance on PEERVEIL_HOST:PEERVEIL_PORT with a Celery worker and beat, and "
        "its STUN server (coturn) on UDP PEERVEIL_STUN_PORT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-worker", action="store_true", help="Run the server alone.")

    def handle(self, *args, no_worker: bool, **options):
        # Each child leads its own process group, so stopping one also stops what it started
        # (Celery's pool and embedded beat).
        server = subprocess.Popen(
            server_command(settings.HOST, settings.PORT), start_new_session=True
        )
        children = [] if no_worker else [SupervisedWorker(worker_command())]
        stun = stun_server()
        if stun:
            children.append(stun)
        self.stdout.write(f"serving {settings.PUBLIC_URL} (Ctrl-C stops everything)")
        if stun:
            self.stdout.write(
                f"STUN on UDP {settings.STUN_HOST or '*'}:{settings.STUN_PORT}, "
                f"given to browsers as stun:{settings.STUN_PUBLIC}"
            )
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # Only the server's end stops everything; the others are restarted as often as they die.
        while not stopping and server.poll() is None:
            for child in children:
                child.tend(time.monotonic())
            time.sleep(0.2)
        stop_processes([server, *(child.process for child in children if child.process)])
        if not stopping:
            raise SystemExit(f"the server stopped: exit code {server.returncode}")
