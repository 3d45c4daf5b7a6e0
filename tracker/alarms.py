"""Ringing the bell: the guard's alarms are stored in incidents, and each incident is e-mailed to
the admins and posted to a webhook once (again when it has grown tenfold), not once per address.

All of it happens in one background thread fed by a queue, never on the tracker's message path:
submitting an alarm is a put on a queue. A write the database refuses for the moment (locked) is
tried again with a backoff, not dropped. The raw address in an alarm goes no further than this
thread, which names the source by its keyed hash and coarse network before anything is written;
an incident holds the network and counts only.
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
from tracker.models import Alarm, Incident
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
# An incident's message waits until no alarm has joined it for NOTICE_QUIET_SECONDS, or at most
# NOTICE_HOLD_SECONDS after it became due: a crawl from 500 addresses rings 500 times within
# seconds, and that is one message with the count, not a message at 1, 10 and 100 sources.
NOTICE_QUIET_SECONDS = 5.0
NOTICE_HOLD_SECONDS = 60.0


def record(alarm: core.Alarm, at: datetime) -> tuple[Alarm, bool, Incident]:
    """Store the alarm under its source's hash and network, in the incident of its kind and
    network that it continues (or a new one); True if the alarm is a new one.

    Autocommit statements, each of which commits or changes nothing, in an order that a retry
    after any of them repeats harmlessly: the incident is found again, the alarm row is found
    again (its ring may count twice), and the incident's sources are counted from its rows."""
    source_hash, net = hashed(alarm.source, at), network(alarm.source)
    incident, _ = Incident.objects.current(alarm.kind, net, at)
    row, created = Alarm.objects.record(
        kind=alarm.kind,
        source_hash=source_hash,
        network=net,
        measure=alarm.count,
        window=int(alarm.window),
        at=at,
        incident=incident,
    )
    if row.incident_id != incident.pk:
        # A source that rang in an earlier incident too (which keeps its history).
        row.incident = incident
        row.save(update_fields=["incident"])
    incident.ring(at)
    return row, created, incident


def payload(incident: Incident) -> dict:
    return {
        "incident": incident.pk,
        "kind": incident.kind,
        "title": incident.get_kind_display(),
        "network": incident.network,
        "sources": incident.sources,
        "rings": incident.rings,
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        # An update: the incident grew tenfold since the last message about it.
        "update": incident.notified_sources > 0,
        "panel": f"{settings.PUBLIC_URL}/admin-panel/alarms/{incident.pk}/",
    }


def notify(incident: Incident) -> None:
    """One e-mail to the admins and one webhook post about the incident."""
    message = payload(incident)
    sources = f"{incident.sources} source{'s' if incident.sources != 1 else ''}"
    subject = f"{message['title']} from {incident.network} ({sources})"
    if settings.ADMINS:
        try:
            mail_admins(
                f"Alarm{' update' if message['update'] else ''}: {subject}",
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


def send_notice(incident_pk: int) -> bool:
    """E-mail and post about the incident if that is due (its first message, or it grew
    tenfold since the last); True if sent."""
    incident = Incident.objects.filter(pk=incident_pk).first()
    if incident is None or not incident.notice_due:
        return False
    notify(incident)
    Incident.objects.filter(pk=incident_pk).update(notified_sources=incident.sources)
    return True


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
        # Incidents whose message is due, kept by the thread: pk -> (due since, last change),
        # monotonic seconds. wait_idle() waits for these to be sent too.
        self._notices: dict[int, tuple[float, float]] = {}
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
            try:
                item = self._queue.get(timeout=self._next_notice_in())
            except queue.Empty:
                item = None
            if item is not None:
                generation, alarm, at = item
                try:
                    self._store(generation, alarm, at)
                finally:
                    del alarm, item
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()
            self._send_due_notices()

    def _next_notice_in(self) -> float | None:
        """Seconds until the next incident's message is due (None: none is scheduled)."""
        if not self._notices:
            return None
        now = time.monotonic()
        return max(0.0, min(self._due_at(*times) - now for times in self._notices.values()))

    @staticmethod
    def _due_at(since: float, changed: float) -> float:
        return min(changed + NOTICE_QUIET_SECONDS, since + NOTICE_HOLD_SECONDS)

    def _schedule(self, incident: Incident) -> None:
        # Nowhere to send it: nothing is scheduled (the incident stays due, counts only).
        if incident.notice_due and (settings.ADMINS or settings.ALARM_WEBHOOK_URL):
            now = time.monotonic()
            since, _ = self._notices.get(incident.pk, (now, now))
            with self._idle:
                self._notices[incident.pk] = (since, now)

    def _send_due_notices(self) -> None:
        now = time.monotonic()
        for pk, times in list(self._notices.items()):
            if self._due_at(*times) > now:
                continue
            try:
                close_old_connections()
                send_notice(pk)
            except OperationalError:
                with self._idle:  # the database is busy: again later
                    self._notices[pk] = (times[0], now)
                continue
            except Exception as error:  # noqa: BLE001 - keep ringing for the next incidents
                log.error("could not send an incident's message: %s", type(error).__name__)
            with self._idle:
                self._notices.pop(pk, None)
                self._idle.notify_all()

    def _store(self, generation: int, alarm: core.Alarm, at: datetime) -> None:
        """Write the alarm, again and again while the database refuses it for the moment.

        Each try is a few statements, each of which commits or changes nothing, so a retried
        alarm is stored once (record()). Its incident's message is scheduled only after the
        write succeeded."""
        delay, deadline = RETRY_FIRST_DELAY, time.monotonic() + RETRY_FOR
        while generation == self._generation:
            try:
                close_old_connections()  # one broken by a database restart is replaced
                _, _, incident = record(alarm, at)
                self._schedule(incident)
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
            self._notices.clear()
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted alarm is stored or given up and every message due is
        sent (tests, shutdown); False on timeout. Woken by the thread, not by polling."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0 and not self._notices, timeout)


dispatcher = AlarmDispatcher()
