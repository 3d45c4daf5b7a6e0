from django import template

from adminpanel.spy_cost_card import span
from instance.models import P2PSetting

register = template.Library()


@register.inclusion_tag("adminpanel/_p2p_state.html")
def p2p_state(video, instance_p2p: bool):
    """The P2P state that applies to `video`, and where it comes from."""
    return {
        "effective": video.p2p_effective(instance_p2p),
        "inherited": video.p2p == P2PSetting.INHERIT,
    }


@register.inclusion_tag("adminpanel/_swarm_chart.html")
def swarm_chart(chart, label: str):
    return {"chart": chart, "label": label}


@register.filter
def duration_span(seconds: float) -> str:
    return span(seconds)
