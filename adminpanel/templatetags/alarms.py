from django import template

from tracker.models import Incident

register = template.Library()


@register.simple_tag
def open_alarms() -> int:
    """Incidents nobody has acknowledged yet, for the panel's navigation."""
    return Incident.objects.unacknowledged().count()


@register.inclusion_tag("adminpanel/_timeline.html")
def timeline(counts: list[int], label: str):
    """An incident's small timeline: new sources per slice of its span, as bars."""
    peak = max(counts, default=0) or 1
    bars = [
        {"x": n * 4, "height": 20 * c / peak, "y": 20 - 20 * c / peak, "count": c}
        for n, c in enumerate(counts)
        if c
    ]
    return {"bars": bars, "width": 4 * len(counts), "label": label}
