"""The alarm list (/admin-panel/alarms/): what the tracker's guard rang about, newest first.

An alarm names its source by a keyed hash that changes every day and by its /16 (IPv4) or /32
(IPv6) network: the panel never shows, and the database never holds, an address.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from tracker.models import Alarm

from .views import staff_required

ALARMS_PER_PAGE = 50


@staff_required
@require_safe
def alarm_list(request):
    show_all = request.GET.get("show") == "all"
    alarms = Alarm.objects.all() if show_all else Alarm.objects.unacknowledged()
    page = Paginator(alarms, ALARMS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "show_all": show_all,
        "open_count": Alarm.objects.unacknowledged().count(),
    }
    return render(request, "adminpanel/alarm_list.html", context)


@staff_required
@require_POST
def alarm_acknowledge(request, pk: int):
    alarm = get_object_or_404(Alarm, pk=pk)
    if alarm.acknowledge(request.user.get_username()):
        messages.success(request, f"Acknowledged: {alarm}.")
    else:
        messages.info(request, f"Already acknowledged by {alarm.acknowledged_by}.")
    return redirect("adminpanel:alarms")
