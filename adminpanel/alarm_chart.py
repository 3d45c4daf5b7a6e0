"""The alarm page's chart: new alarms per minute over the last 24 hours, by kind, as an SVG drawn
on the server (no script, no CDN). Counts only: an alarm row is one source that rang."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.models import Alarm, AlarmKind

MINUTES = 24 * 60
HEIGHT = 80  # SVG user units for the tallest minute
# One colour per kind, told apart in the legend.
COLOURS = {
    AlarmKind.VIDEOS: "#c5221f",
    AlarmKind.EARLY_ANNOUNCES: "#e37400",
    AlarmKind.UNKNOWN_VIDEOS: "#8430ce",
    AlarmKind.SOCKETS: "#1a73e8",
    AlarmKind.BLOCKED: "#202124",
}


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Legend:
    label: str
    colour: str
    total: int


@dataclass(frozen=True)
class AlarmChart:
    bars: list[Bar]
    legend: list[Legend]
    peak: int
    width: int = MINUTES
    height: int = HEIGHT

    @property
    def total(self) -> int:
        return sum(item.total for item in self.legend)


def alarm_chart(now: datetime) -> AlarmChart:
    """Stacked bars, one per minute with alarms, the kinds in a fixed order."""
    start = now - timedelta(minutes=MINUTES)
    per_minute: dict[int, dict[str, int]] = {}
    totals = dict.fromkeys(AlarmKind.values, 0)
    rows = Alarm.objects.filter(first_seen__gt=start, first_seen__lte=now)
    for kind, first_seen in rows.values_list("kind", "first_seen"):
        minute = min(MINUTES - 1, int((first_seen - start).total_seconds() // 60))
        counts = per_minute.setdefault(minute, {})
        counts[kind] = counts.get(kind, 0) + 1
        totals[kind] += 1
    peak = max((sum(c.values()) for c in per_minute.values()), default=0)
    scale = HEIGHT / max(peak, 1)
    bars = []
    labels = dict(AlarmKind.choices)
    for minute, counts in sorted(per_minute.items()):
        top = float(HEIGHT)
        at = (start + timedelta(minutes=minute + 1)).strftime("%H:%M")
        for kind in AlarmKind.values:
            count = counts.get(kind, 0)
            if count:
                height = count * scale
                top -= height
                label = f"{at} UTC: {count} × {labels[kind]}"
                bars.append(Bar(minute, top, height, COLOURS[kind], label))
    legend = [Legend(labels[k], COLOURS[k], totals[k]) for k in AlarmKind.values]
    return AlarmChart(bars=bars, legend=legend, peak=peak)
