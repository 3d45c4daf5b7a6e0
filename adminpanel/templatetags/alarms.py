from django import template

from tracker.models import Alarm

register = template.Library()


@register.simple_tag
def open_alarms() -> int:
    """Alarms nobody has acknowledged yet, for the panel's navigation."""
    return Alarm.objects.unacknowledged().count()
