"""The panel's "spy's cost" card: adminpanel.spy_cost's arithmetic on the live swarms of this
server process and the instance's limits. Counts only reach it (tracker.service)."""

from dataclasses import dataclass

from instance.models import InstanceSettings
from tracker.access import guard_config, tracker_config
from tracker.service import service

from .spy_cost import (
    LARGEST,
    REQUESTS_PER_SECOND,
    UNPROTECTED_SAMPLE,
    Card,
    Limits,
    Swarm,
    card,
)


def live_swarms() -> list[Swarm]:
    counts = service.swarm_counts()
    viewers = service.viewers(list(counts))
    thresholds = service.policy.current.min_viewers
    return [
        Swarm(
            web=c.web_seeders + c.web_leechers,
            http=c.http_seeders + c.http_leechers,
            viewers=viewers.get(info_hash, 0),
            threshold=thresholds.get(info_hash, 1),
        )
        for info_hash, c in counts.items()
    ]


def span(seconds: float) -> str:
    """A duration as an admin reads it: 40 s, 12 min, 3.5 h, 9 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


@dataclass(frozen=True)
class SpyCostCard:
    card: Card
    limits: Limits
    largest: int = LARGEST
    rate: float = REQUESTS_PER_SECOND
    unprotected_sample: int = UNPROTECTED_SAMPLE


def spy_cost_card(row: InstanceSettings | None = None) -> SpyCostCard:
    row = row or InstanceSettings.load()
    tracker, guard = tracker_config(row), guard_config(row)
    return SpyCostCard(card(live_swarms(), tracker, guard), Limits.of(tracker, guard))
