"""Alarms: a source did what a spy does and a viewer does not (tracker/core/guard.py).

A source is named only by a keyed hash that changes every UTC day and by its coarse network
(tracker/core/addresses.py): never by its address.
"""

from datetime import timedelta

from django.db import models
from django.db.models.functions import Greatest
from django.utils import timezone

from tracker.core import guard


class AlarmKind(models.TextChoices):
    VIDEOS = guard.ALARM_VIDEOS, "Many videos from one address"
    EARLY_ANNOUNCES = guard.ALARM_EARLY_ANNOUNCES, "Announces far faster than the interval"
    UNKNOWN_VIDEOS = guard.ALARM_UNKNOWN_VIDEOS, "Probing unknown videos"
    SOCKETS = guard.ALARM_SOCKETS, "Many connections from one address"
    BLOCKED = guard.ALARM_BLOCKED, "Blocked after repeated limit breaches"


# What the detector's count means, for "12 videos within 300 s".
_MEASURES = {
    AlarmKind.VIDEOS: "videos",
    AlarmKind.EARLY_ANNOUNCES: "early announces",
    AlarmKind.UNKNOWN_VIDEOS: "unknown videos",
    AlarmKind.SOCKETS: "open connections",
    AlarmKind.BLOCKED: "refused requests",
}


# Alarms of one kind from one network belong to one incident while they come within this long of
# the incident's last one: a crawl from many addresses of one network is one thing to look at,
# not one line per address. A quiet hour ends it; the next alarm opens a new incident.
INCIDENT_GAP = timedelta(hours=1)
# Bars of an incident's timeline in the list.
TIMELINE_BARS = 24


class AcknowledgedQuerySet(models.QuerySet):
    def unacknowledged(self):
        return self.filter(acknowledged_at__isnull=True)


class Acknowledged(models.Model):
    """Something staff mark as seen: who first did, and when (an incident, an alarm)."""

    # A username, not a foreign key: the record must outlive the account (as the audit log).
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def acknowledge(self, username: str) -> bool:
        """Mark it seen; False if it already was (the first acknowledgement is kept)."""
        if self.acknowledged:
            return False
        self.acknowledged_by, self.acknowledged_at = username, timezone.now()
        self.save(update_fields=["acknowledged_by", "acknowledged_at"])
        return True


class IncidentQuerySet(AcknowledgedQuerySet):
    def current(self, kind: str, network: str, at) -> tuple["Incident", bool]:
        """The open incident of this kind and network that `at` continues, or a new one; True
        if opened. One process writes alarms (tracker.alarms' thread)."""
        incident = (
            self.unacknowledged()
            .filter(kind=kind, network=network, last_seen__gte=at - INCIDENT_GAP)
            .order_by("-last_seen")
            .first()
        )
        if incident is not None:
            return incident, False
        return self.create(kind=kind, network=network, first_seen=at, last_seen=at), True


class Incident(Acknowledged):
    """Alarms of one kind from one network (/16 or /32) close in time: counts only, never an
    address (its alarms name their sources by a keyed hash)."""

    kind = models.CharField(max_length=20, choices=AlarmKind.choices)
    network = models.CharField(max_length=43, help_text="IPv4 /16 or IPv6 /32.")
    first_seen = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField(db_index=True)
    sources = models.PositiveIntegerField(default=0, help_text="Distinct sources that rang.")
    rings = models.PositiveIntegerField(default=0, help_text="Windows in which they rang.")
    # How many sources the last e-mail and webhook post told of: 0 until the first is sent,
    # then the next goes out when the incident has grown tenfold.
    notified_sources = models.PositiveIntegerField(default=0)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} from {self.network}"

    @property
    def notice_due(self) -> bool:
        """Whether an e-mail and webhook post is due: the first, or it grew tenfold since."""
        if self.notified_sources == 0:
            return self.sources > 0
        return self.sources >= 10 * self.notified_sources

    def ring(self, at) -> None:
        """One more ring at `at`: its sources are counted from its alarm rows (one statement,
        right however often it is repeated)."""
        sources = (
            Alarm.objects.filter(incident=self.pk)
            .values("incident")
            .annotate(n=models.Count("id"))
            .values("n")
        )
        Incident.objects.filter(pk=self.pk).update(
            rings=models.F("rings") + 1,
            last_seen=Greatest("last_seen", models.Value(at)),
            sources=models.Subquery(sources),
        )
        self.refresh_from_db(fields=["rings", "last_seen", "sources"])

    def acknowledge(self, username: str) -> bool:
        """Mark it and its alarms seen; False if it already was (the first is kept)."""
        if not super().acknowledge(username):
            return False
        self.alarms.unacknowledged().update(
            acknowledged_by=username, acknowledged_at=self.acknowledged_at
        )
        return True

    def timeline(self, bars: int = TIMELINE_BARS) -> list[int]:
        """New sources per equal slice of the incident's span, first to last."""
        counts = [0] * bars
        span = (self.last_seen - self.first_seen).total_seconds()
        for first in self.alarms.values_list("first_seen", flat=True):
            offset = (first - self.first_seen).total_seconds()
            slot = 0 if span <= 0 else min(bars - 1, int(offset / span * bars))
            counts[max(0, slot)] += 1
        return counts


class AlarmQuerySet(AcknowledgedQuerySet):
    def record(
        self,
        kind: str,
        source_hash: str,
        network: str,
        measure: int,
        window: int,
        at,
        incident: Incident | None = None,
    ) -> tuple["Alarm", bool]:
        """Add a ring to the open alarm of this source and kind, or open one; True if opened.

        The guard rings at most once per source and kind per window; an alarm that nobody has
        acknowledged yet gathers the rings of the day (the hash changes every day)."""
        alarm = (
            self.unacknowledged()
            .filter(kind=kind, source_hash=source_hash, last_seen__gte=at - timedelta(days=1))
            .order_by("-last_seen")
            .first()
        )
        if alarm is None:
            alarm = self.create(
                kind=kind,
                source_hash=source_hash,
                network=network,
                first_seen=at,
                last_seen=at,
                measure=measure,
                window=window,
                incident=incident,
            )
            return alarm, True
        alarm.count += 1
        alarm.last_seen = at
        alarm.measure = max(alarm.measure, measure)
        alarm.save(update_fields=["count", "last_seen", "measure"])
        return alarm, False


class Alarm(Acknowledged):
    kind = models.CharField(max_length=20, choices=AlarmKind.choices)
    source_hash = models.CharField(
        "source", max_length=16, help_text="Keyed hash of the address; the key changes daily."
    )
    network = models.CharField("network", max_length=43, help_text="IPv4 /16 or IPv6 /32.")
    first_seen = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=1, help_text="Windows in which it rang.")
    measure = models.PositiveIntegerField(help_text="The most the detector counted.")
    window = models.PositiveIntegerField(help_text="Seconds the detector counted over.")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms"
    )

    objects = AlarmQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} from {self.source_hash} ({self.network})"

    @property
    def description(self) -> str:
        return f"{self.measure} {_MEASURES[self.kind]} within {self.window} s"


class PolicyVersion(models.Model):
    """A number bumped in the transaction of every change to a video, a file, an HLS playlist or
    rendition, or the instance settings (tracker/signals.py). Every tracker process compares it
    every few seconds and reloads its table of infohashes only when it moved: a full reload of
    a 1,000-video catalogue held the event loop for 11 ms, a 100,000-video one would hold it
    for a second. Code that writes those rows without save() (QuerySet.update) should call
    bump() itself; otherwise the change is seen at the next full reload
    (tracker.access.FULL_RELOAD_SECONDS)."""

    version = models.PositiveBigIntegerField(default=0)

    @classmethod
    def bump(cls) -> None:
        if cls.objects.filter(pk=1).update(version=models.F("version") + 1):
            return
        _, created = cls.objects.get_or_create(pk=1, defaults={"version": 1})
        if not created:  # another process created it meanwhile: count this change too
            cls.objects.filter(pk=1).update(version=models.F("version") + 1)

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=1).values_list("version", flat=True).first() or 0
