"""Ringing the bell: the guard's alarms are stored, e-mailed to the admins and posted to a webhook.

All of it happens in one background thread fed by a queue, never on the tracker's message path:
submitting an alarm is a put on a queue. A write the database refuses for the moment (locked) is
tried again with a backoff, not dropped. The raw address in an alarm goes no further than this
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
from django.db import OperationalError, close_old_connections

from tracker import core
from tracker.models import Alarm
from tracker.sources import hashed, network

log = logging.getLogger(__name__)

# Alarms are rare (once per source and kind per window); a full queue means the thread is stuck,
# and dropping is better than growing without bound.
QUEUE_SIZE = 10_000
# A write the database refuses with OperationalError (SQLite locked by another writer beyond its
# busy timeout, or at once for a shared-cache database such as the tests'; a PostgreSQL
# connection lost) is tried again after a backoff doubling from the first delay to the longest,
# for RETRY_FOR seconds in all. One thread, one alarm at a time: later ones wait in the queue.
RETRY_FIRST_DELAY = 0.05
RETRY_MAX_DELAY = 5.0
RETRY_FOR = 600.0
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
        # Alarms submitted and not yet stored or given up, and the condition that tells
        # wait_idle() when that reaches zero.
        self._pending = 0
        self._idle = threading.Condition()
        # discard_pending() moves it on; alarms of an older generation are not written.
        self._generation = 0
        self.dropped = 0  # the queue was full
        self.retries = 0  # writes tried again after an OperationalError
        self.lost = 0  # given up after RETRY_FOR seconds, or failed otherwise

    def submit(self, alarm: core.Alarm, at: datetime) -> None:
        """Hand an alarm to the background thread; never blocks."""
        with self._idle:
            try:
                self._queue.put_nowait((self._generation, alarm, at))
            except queue.Full:
                self.dropped += 1
                return
            self._pending += 1
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="peerveil-alarms", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            generation, alarm, at = self._queue.get()
            try:
                self._store(generation, alarm, at)
            finally:
                del alarm
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _store(self, generation: int, alarm: core.Alarm, at: datetime) -> None:
        """Write the alarm, again and again while the database refuses it for the moment.

        Each try is one statement that either commits or changes nothing (the read of the open
        alarm, then one INSERT or one UPDATE, in autocommit), so a retried alarm is stored
        once. notify() runs only after the write succeeded."""
        delay, deadline = RETRY_FIRST_DELAY, time.monotonic() + RETRY_FOR
        while generation == self._generation:
            try:
                close_old_connections()  # one broken by a database restart is replaced
                record(alarm, at)
                return
            except OperationalError as error:
                if time.monotonic() + delay > deadline:
                    self._give_up(error)
                    return
                if delay == RETRY_FIRST_DELAY:
                    # Once per alarm; the type only (a failed write's message could quote it).
                    log.warning("alarm not stored yet (%s), trying again", type(error).__name__)
                self.retries += 1
                with self._idle:  # a sleep that discard_pending() cuts short
                    self._idle.wait_for(lambda: generation != self._generation, delay)
                delay = min(2 * delay, RETRY_MAX_DELAY)
            except Exception as error:  # noqa: BLE001 - keep ringing for the next alarms
                self._give_up(error)
                return

    def _give_up(self, error: Exception) -> None:
        self.lost += 1
        log.error("could not record an alarm: %s", type(error).__name__)

    def discard_pending(self) -> None:
        """Write none of the alarms submitted so far, as a restart would lose them (tests: one
        test's alarms must not land in the next test's database)."""
        with self._idle:
            self._generation += 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted alarm is stored or given up (tests, shutdown); False on
        timeout. Woken by the thread when the last one is done, not by polling."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


dispatcher = AlarmDispatcher()
