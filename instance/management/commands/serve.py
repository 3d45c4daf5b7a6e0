"""Serve the instance: the ASGI server (HTTP and WebSocket on one port) plus Celery.

uvicorn rather than daphne: measured on this project's machines, the same consumer handles about
1.8x the WebSocket traffic under uvicorn with the sans-I/O websockets protocol, uvloop, httptools,
per-message deflate off and the access log off (measured: 0.94 of the Node tracker's messages per
second at 1,000 sockets against 0.52 under daphne). Per-message deflate
also doubled memory per socket. The access log is off because it would write viewers' IPs.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


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


def signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


class Command(BaseCommand):
    help = "Serve the instance on PEERVEIL_HOST:PEERVEIL_PORT with a Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--no-worker", action="store_true", help="Run the server alone.")

    def handle(self, *args, no_worker: bool, **options):
        commands = [server_command(settings.HOST, settings.PORT)]
        if not no_worker:
            commands.append(worker_command())
        # Each child leads its own process group, so stopping one also stops what it started
        # (Celery's pool and embedded beat).
        processes = [subprocess.Popen(command, start_new_session=True) for command in commands]
        self.stdout.write(f"serving {settings.PUBLIC_URL} (Ctrl-C stops everything)")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.2)
        for process in processes:
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            signal_group(process, signal.SIGKILL)
        codes = [p.returncode for p in processes]
        if not stopping and any(codes):
            raise SystemExit(f"a process of the instance stopped: exit codes {codes}")
