"""The alarm page (/admin-panel/alarms/): incidents, newest first, and a chart of the last day.

An incident is the alarms of one kind from one network (/16 or /32) close in time
(tracker.models.Incident): a crawl from 500 addresses of one network is one row. Its page lists
the alarms, each naming its source by a keyed hash that changes every day: the panel never
shows, and the database never holds, an address.
"""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from tracker.models import AlarmKind, Incident

from .alarm_chart import alarm_chart
from .views import staff_required

INCIDENTS_PER_PAGE = 50
ALARMS_PER_PAGE = 100
STATES = {
    "open": "Open",
    "acknowledged": "Acknowledged",
    "all": "All",
}


class IncidentFilter(forms.Form):
    kind = forms.ChoiceField(choices=[("", "Every kind"), *AlarmKind.choices], required=False)
    state = forms.ChoiceField(choices=list(STATES.items()), required=False)


def filtered(data) -> tuple[IncidentFilter, object]:
    """The incidents the filter asks for; an unknown kind or state filters on nothing (open
    incidents of every kind) and says so."""
    form = IncidentFilter(data)
    incidents = Incident.objects.all()
    kind, state = "", "open"
    if form.is_valid():
        kind, state = form.cleaned_data["kind"], form.cleaned_data["state"] or "open"
    if kind:
        incidents = incidents.filter(kind=kind)
    if state == "open":
        incidents = incidents.unacknowledged()
    elif state == "acknowledged":
        incidents = incidents.filter(acknowledged_at__isnull=False)
    return form, incidents


@staff_required
@require_safe
def alarm_list(request):
    form, incidents = filtered(request.GET)
    page = Paginator(incidents, INCIDENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(incident, incident.timeline()) for incident in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": rows,
        "filter": form,
        "query": query.urlencode(),
        "open_count": Incident.objects.unacknowledged().count(),
        "chart": alarm_chart(timezone.now()),
    }
    return render(request, "adminpanel/alarm_list.html", context)


@staff_required
@require_safe
def incident_detail(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    alarms = incident.alarms.order_by("-last_seen", "-id")
    page = Paginator(alarms, ALARMS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"incident": incident, "page": page, "timeline": incident.timeline()}
    return render(request, "adminpanel/incident_detail.html", context)


@staff_required
@require_POST
def incident_acknowledge(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    if incident.acknowledge(request.user.get_username()):
        messages.success(request, f"Acknowledged: {incident} and its {incident.sources} alarms.")
    else:
        messages.info(request, f"Already acknowledged by {incident.acknowledged_by}.")
    return redirect("adminpanel:alarms")
