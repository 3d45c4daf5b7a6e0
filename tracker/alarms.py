"""Ringing the bell: the guard's alarms are stored, e-mailed to the admins and posted to a webhook.

All of it happens in one background thread fed by a queue, never on the tracker's message path:
submitting an alarm is a put on a queue. The raw address in an alarm goes no further than this
thread, which names the source by its keyed hash and coarse network before anything is written.
"""

import json
import logging
import queue
import threading
import time
import urllib.request
from datetime import datetime

from django.conf import settings
from django.core.mail import mail_admins
from django.db import close_old_connections

from tracker import core
from tracker.models import Alarm
from tracker.sources import hashed, network

log = logging.getLogger(__name__)

# Alarms are rare (once per source and kind per window); a full queue means the thread is stuck,
# and dropping is better than growing without bound.
QUEUE_SIZE = 10_000
WEBHOOK_TIMEOUT = 5.0


def record(alarm: core.Alarm, at: datetime) -> tuple[Alarm, bool]:
    """Store the alarm under its source's hash and network; notify the admins of a new one."""
    row, created = Alarm.objects.record(
        kind=alarm.kind,
        source_hash=hashed(alarm.source, at),
        network=network(alarm.source),
        measure=alarm.count,
        window=int(alarm.window),
        at=at,
    )
    if created:
        notify(row)
    return row, created


def payload(alarm: Alarm) -> dict:
    return {
        "kind": alarm.kind,
        "title": alarm.get_kind_display(),
        "source": alarm.source_hash,
        "network": alarm.network,
        "detail": alarm.description,
        "first_seen": alarm.first_seen.isoformat(),
        "panel": f"{settings.PUBLIC_URL}/admin-panel/alarms/",
    }


def notify(alarm: Alarm) -> None:
    message = payload(alarm)
    if settings.ADMINS:
        try:
            mail_admins(
                f"Alarm: {message['title']}",
                "\n".join(f"{key}: {value}" for key, value in message.items()),
            )
        except Exception as error:  # noqa: BLE001 - a mail server down must not stop the thread
            log.warning("could not e-mail an alarm: %s", type(error).__name__)
    if settings.ALARM_WEBHOOK_URL:
        request = urllib.request.Request(
            settings.ALARM_WEBHOOK_URL,
            data=json.dumps(message).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT):
                pass
        except Exception as error:  # noqa: BLE001 - same: the next alarm is tried anyway
            log.warning("could not post an alarm to the webhook: %s", type(error).__name__)


class AlarmDispatcher:
    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def submit(self, alarm: core.Alarm, at: datetime) -> None:
        """Hand an alarm to the background thread; never blocks."""
        try:
            self._queue.put_nowait((alarm, at))
        except queue.Full:
            self.dropped += 1
            return
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="peerveil-alarms", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            alarm, at = self._queue.get()
            try:
                close_old_connections()
                record(alarm, at)
            except Exception as error:  # noqa: BLE001 - keep ringing for the next alarms
                # The type only: the message of a failed write could quote what was written.
                log.error("could not record an alarm: %s", type(error).__name__)
            finally:
                del alarm
                self._queue.task_done()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted alarm is handled (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


dispatcher = AlarmDispatcher()
