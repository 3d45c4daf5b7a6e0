"""Alarms: stored once per source and kind in incidents (one kind, one network), e-mailed and
posted once per incident, listed and acknowledged in the panel; their thresholds and the request
limits are set in the panel within bounds."""

import dataclasses
import json
import sqlite3
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.utils import timezone

from adminpanel.models import AuditEntry
from instance.models import InstanceSettings
from tracker import alarms, core
from tracker.access import guard_config
from tracker.alarms import dispatcher, record
from tracker.models import Alarm, Incident
from tracker.service import service
from tracker.sources import hashed

pytestmark = pytest.mark.django_db(transaction=True)

SPY = "127.61.23.45"


@pytest.fixture(autouse=True)
def quiet(settings, monkeypatch):
    # An incident's message waits for the alarms to stop coming: briefly here.
    monkeypatch.setattr(alarms, "NOTICE_QUIET_SECONDS", 0.2)
    settings.ADMINS = [("Admin", "admin@example.org")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALARM_WEBHOOK_URL = ""
    service.reset()
    yield
    service.reset()


def ring(kind: str = "videos", source: str = SPY, count: int = 9, at=None):
    """The alarm row and whether it is new (its incident is the row's)."""
    row, created, _ = record(core.Alarm(kind, source, count, 300.0, 0.0), at or timezone.now())
    return row, created


def test_an_alarm_is_stored_under_a_hash_and_a_network_and_rings_add_up():
    first, created = ring(count=9)
    assert created
    again, created_again = ring(count=12)
    assert (again.pk, created_again) == (first.pk, False)
    alarm = Alarm.objects.get()
    assert (alarm.source_hash, alarm.network, alarm.count, alarm.measure) == (
        hashed(SPY),
        "127.61.0.0/16",
        2,
        12,
    )
    assert alarm.description == "12 videos within 300 s"
    ring(kind="sockets")
    assert Alarm.objects.count() == 2  # one per source and kind


def test_after_an_acknowledgement_the_next_ring_opens_a_new_alarm():
    alarm, _ = ring()
    assert alarm.acknowledge("admin") and not alarm.acknowledge("someone else")
    _, created = ring()
    assert created and Alarm.objects.unacknowledged().count() == 1
    assert Alarm.objects.get(pk=alarm.pk).acknowledged_by == "admin"


def test_a_source_is_a_new_hash_on_a_new_day():
    today = timezone.now()
    ring(at=today)
    ring(at=today + timedelta(days=1))
    assert Alarm.objects.values("source_hash").distinct().count() == 2


def submit(kind: str = "videos", source: str = SPY, count: int = 9) -> None:
    dispatcher.submit(core.Alarm(kind, source, count, 300.0, 0.0), timezone.now())


def test_a_new_incident_is_e_mailed_to_the_admins_once_and_names_no_address():
    submit()
    submit()
    assert dispatcher.wait_idle()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["admin@example.org"]
    assert "Many videos from one address from 127.61.0.0/16 (1 source)" in message.subject
    assert "127.61.0.0/16" in message.body and "sources: 1" in message.body
    assert SPY not in message.body and SPY not in message.subject
    assert hashed(SPY) not in message.body  # counts only: the hashes are on the panel


def test_alarms_of_one_kind_and_network_are_one_incident_until_an_hour_of_quiet():
    # Within one UTC day: a source's hash is keyed by the day (tracker.sources.hashed), and
    # these rings span two hours, which from 22:00 on would name one source twice.
    now = timezone.now().replace(hour=1, minute=0, second=0, microsecond=0)
    ring(source="127.61.0.1", at=now)
    ring(source="127.61.9.9", at=now + timedelta(minutes=50))
    ring(source="127.61.0.1", at=now + timedelta(minutes=55))  # rings again: no new source
    ring(source="127.62.0.1", at=now + timedelta(minutes=56))  # another network
    ring(kind="sockets", source="127.61.0.1", at=now + timedelta(minutes=57))  # another kind
    ring(source="127.61.0.3", at=now + timedelta(minutes=55 + 61))  # after an hour of quiet
    first = Incident.objects.get(network="127.61.0.0/16", kind="videos", first_seen=now)
    assert (first.sources, first.rings, first.alarms.count()) == (2, 3, 2)
    assert Incident.objects.count() == 4
    assert first.timeline(4) == [1, 0, 0, 1]


def test_an_incident_grown_tenfold_is_told_again_and_not_in_between(settings):
    for n in range(9):
        submit(source=f"127.61.1.{n + 1}")
    assert dispatcher.wait_idle()
    assert [m.subject for m in mail.outbox] == [
        "[peerveil] Alarm: Many videos from one address from 127.61.0.0/16 (9 sources)"
    ]
    submit(source="127.61.1.100")  # 10 sources: not tenfold the 9 told
    assert dispatcher.wait_idle() and len(mail.outbox) == 1
    for n in range(80):
        submit(source=f"127.61.2.{n + 1}")
    assert dispatcher.wait_idle()
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("[peerveil] Alarm update: Many videos")
    assert "(90 sources)" in mail.outbox[1].subject and "update: True" in mail.outbox[1].body


def test_a_new_incident_is_posted_to_the_webhook(settings):
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    settings.ALARM_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    dispatcher.submit(core.Alarm("blocked", SPY, 5, 300.0, 0.0), timezone.now())
    assert dispatcher.wait_idle()
    thread.join(5)
    server.server_close()
    incident = Incident.objects.get()
    assert received == [
        {
            "incident": incident.pk,
            "kind": "blocked",
            "title": "Blocked after repeated limit breaches",
            "network": "127.61.0.0/16",
            "sources": 1,
            "rings": 1,
            "first_seen": incident.first_seen.isoformat(),
            "last_seen": incident.last_seen.isoformat(),
            "update": False,
            "panel": f"{settings.PUBLIC_URL}/admin-panel/alarms/{incident.pk}/",
        }
    ]


def test_a_webhook_that_is_down_does_not_stop_the_alarms(settings):
    settings.ALARM_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens-here"
    dispatcher.submit(core.Alarm("videos", SPY, 9, 300.0, 0.0), timezone.now())
    dispatcher.submit(core.Alarm("sockets", SPY, 9, 300.0, 0.0), timezone.now())
    assert dispatcher.wait_idle()
    assert Alarm.objects.count() == 2


def test_the_panel_lists_open_incidents_newest_first_and_acknowledges_them(admin_client):
    now = timezone.now()
    ring(kind="videos", at=now - timedelta(minutes=5))
    ring(kind="blocked", at=now)
    ring(kind="blocked", source="127.61.7.7", at=now)
    page = admin_client.get("/admin-panel/alarms/").content.decode()
    table = page[page.index("<table") :]
    assert table.index("Blocked after repeated") < table.index("Many videos from one address")
    assert "127.61.0.0/16" in page and SPY not in page
    assert 'Alarms <span class="badge off">2</span>' in page
    blocked = Incident.objects.get(kind="blocked")
    detail = admin_client.get(f"/admin-panel/alarms/{blocked.pk}/").content.decode()
    assert hashed(SPY) in detail and hashed("127.61.7.7") in detail and SPY not in detail
    response = admin_client.post(f"/admin-panel/alarms/{blocked.pk}/acknowledge")
    assert response.status_code == 302
    blocked.refresh_from_db()
    assert blocked.acknowledged_by == "admin" and blocked.acknowledged_at is not None
    # Its alarms are acknowledged with it, the other incident's are not.
    assert set(Alarm.objects.unacknowledged().values_list("kind", flat=True)) == {"videos"}
    page = admin_client.get("/admin-panel/alarms/").content.decode()
    assert f'data-incident="{blocked.pk}"' not in page and "1 open incident" in page
    assert "Acknowledged: Blocked after repeated limit breaches from 127.61.0.0/16" in page
    everything = admin_client.get("/admin-panel/alarms/?state=all").content.decode()
    assert "seen by admin" in everything
    blocked_only = admin_client.get("/admin-panel/alarms/?state=all&kind=blocked").content
    assert b"Many videos from one address</a>" not in blocked_only
    assert f'data-incident="{blocked.pk}"'.encode() in blocked_only
    # After an acknowledgement the next ring opens a new incident.
    ring(kind="blocked", at=now + timedelta(minutes=1))
    assert Incident.objects.unacknowledged().filter(kind="blocked").count() == 1


def test_the_alarm_list_is_for_staff_only(client, django_user_model):
    ring()
    assert client.get("/admin-panel/alarms/").status_code == 302
    django_user_model.objects.create_user("viewer", password="pw-viewer-123")
    client.login(username="viewer", password="pw-viewer-123")
    assert client.get("/admin-panel/alarms/").status_code == 403
    incident = Incident.objects.get()
    assert client.get(f"/admin-panel/alarms/{incident.pk}/").status_code == 403
    assert client.post(f"/admin-panel/alarms/{incident.pk}/acknowledge").status_code == 403
    assert not Incident.objects.get().acknowledged and not Alarm.objects.get().acknowledged


# A busy database


@pytest.fixture
def write_lock():
    """A second connection to the test database that takes SQLite's write lock (BEGIN
    EXCLUSIVE) when called, until the test releases it or ends."""
    if connection.vendor != "sqlite":
        pytest.skip("holds SQLite's write lock")
    locker = sqlite3.connect(connection.settings_dict["NAME"], uri=True, isolation_level=None)
    yield locker
    if locker.in_transaction:
        locker.execute("ROLLBACK")
    locker.close()


def retried(since: int, times: int) -> bool:
    """Whether the alarm thread has tried a write again `times` times since `since`; the
    tries are spaced by its backoff (0.05 s, 0.1 s, 0.2 s...)."""
    deadline = time.monotonic() + 10
    while dispatcher.retries < since + times:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_an_alarm_raised_while_the_database_is_locked_is_stored_once_it_is_free(write_lock, caplog):
    since = dispatcher.retries
    write_lock.execute("BEGIN EXCLUSIVE")
    dispatcher.submit(core.Alarm("videos", SPY, 9, 300.0, 0.0), timezone.now())
    assert retried(since, 3)  # three tries refused, not one
    assert not dispatcher.wait_idle(timeout=0.1)  # still waiting for the lock, not dropped
    write_lock.execute("COMMIT")
    assert dispatcher.wait_idle()
    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.count, alarm.source_hash, alarm.network) == (
        "videos",
        1,
        hashed(SPY),
        "127.61.0.0/16",
    )
    assert len(mail.outbox) == 1  # notified once, after the write
    assert "alarm not stored yet (OperationalError), trying again" in caplog.text
    assert "could not record an alarm" not in caplog.text
    assert SPY not in caplog.text and SPY not in mail.outbox[0].body


def test_alarms_discarded_as_by_a_restart_are_never_written(write_lock):
    since = dispatcher.retries
    write_lock.execute("BEGIN EXCLUSIVE")
    dispatcher.submit(core.Alarm("videos", SPY, 9, 300.0, 0.0), timezone.now())
    assert retried(since, 1)
    dispatcher.discard_pending()
    assert dispatcher.wait_idle(timeout=1)  # the backoff's sleep is cut short
    write_lock.execute("COMMIT")
    assert not Alarm.objects.exists()


def test_sqlite_connections_use_a_write_ahead_log_and_wait_for_a_lock(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's options")
    params = {**django_settings.DATABASES["default"], "NAME": str(tmp_path / "db.sqlite3")}
    wrapper = DatabaseWrapper(params, alias="wal-check")
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone() == ("wal",)
            cursor.execute("PRAGMA busy_timeout")
            timeout = django_settings.DATABASES["default"]["OPTIONS"]["timeout"]
            assert cursor.fetchone() == (timeout * 1000,)
            cursor.execute("CREATE TABLE t (x)")
        # A reader in the middle of a transaction does not block a writer.
        reader = sqlite3.connect(params["NAME"], isolation_level=None, timeout=0)
        reader.execute("BEGIN")
        reader.execute("SELECT * FROM t").fetchall()
        with wrapper.cursor() as cursor:
            cursor.execute("INSERT INTO t VALUES (1)")
        reader.close()
    finally:
        wrapper.close()


# The limits in the panel


def test_the_panel_shows_every_limit_with_its_default_and_bounds(admin_client):
    page = admin_client.get("/admin-panel/").content.decode()
    assert 'name="max_videos_per_address" value="8"' in page
    assert "Default 8; from 1 to 1000." in page
    assert 'name="block_seconds" value="3600"' in page


def test_limits_set_in_the_panel_are_audited_and_reach_the_guard(admin_client):
    response = admin_client.post(
        "/admin-panel/limits", {"max_videos_per_address": "20", "alarm_videos": "15"}
    )
    assert response.status_code == 302
    service.reload()
    guard = service.core.guard.config
    assert (guard.max_videos, guard.alarm_videos) == (20, 15)
    assert service.policy.config.max_peers_per_reply == 20  # left out, so left as it was
    changes = {(e.setting, e.old_value, e.new_value) for e in AuditEntry.objects.all()}
    assert changes == {
        ("videos per address", "8", "20"),
        ("alarm: videos per address", "6", "15"),
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"guard_window": "59"}, "The counting window must be a whole number from 60 to 86400."),
        ({"max_videos_per_address": "0"}, "Videos per address must be a whole number from 1"),
        ({"block_seconds": "lots"}, "The block duration must be a whole number from 60"),
        ({"max_videos_at_once": "9"}, "At most the limit (8), or it is never reached."),
        ({"alarm_sockets": "17"}, "At most the limit (16), or it is never reached."),
    ],
)
def test_a_limit_out_of_bounds_is_refused_clearly_and_changes_nothing(
    admin_client, changes, message
):
    response = admin_client.post("/admin-panel/limits", changes)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert InstanceSettings.load().max_videos_per_address == 8
    assert not AuditEntry.objects.exists()


def test_the_settings_defaults_are_the_guards_defaults():
    row, defaults = InstanceSettings(), core.GuardConfig()
    built = dataclasses.replace(guard_config(row), announce_interval=defaults.announce_interval)
    assert built == defaults
