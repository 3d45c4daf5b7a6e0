"""The staff panel (/admin-panel/) and the public privacy FAQ (/about/privacy).

Changes go through adminpanel.switches, which saves the models (the tracker in this process
applies them at once, see tracker/signals.py) and writes the audit log.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from instance.ice import servers_shown
from instance.models import InstanceSettings, Video
from tracker.service import service

from .forms import (
    IceServersForm,
    InstanceP2PForm,
    TrackerLimitsForm,
    VideoCrowdForm,
    VideoP2PForm,
    VideoSearchForm,
)
from .models import AuditEntry
from .privacy_facts import http_address_kept_seconds, instance_facts, tracker_config
from .spy_cost_card import spy_cost_card
from .stun_health import own_stun_health
from .swarm_overview import active_swarms, hls_renditions, video_swarm
from .switches import set_video_min_viewers, set_video_p2p, update_instance_settings

VIDEOS_PER_PAGE = 25
AUDIT_ENTRIES_PER_PAGE = 50
AUDIT_ENTRIES_ON_OVERVIEW = 10


def staff_required(view):
    """Anonymous visitors are sent to log in; logged-in users who are not staff get 403."""

    @wraps(view)
    def staff_only(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("adminpanel:login"))
        if not request.user.is_staff:
            raise PermissionDenied("The admin panel is for staff only.")
        response = view(request, *args, **kwargs)
        # Staff pages show the instance's state as it is now: no cached copies.
        add_never_cache_headers(response)
        return response

    return staff_only


def report_changes(request, entries: list[AuditEntry]) -> None:
    if not entries:
        messages.info(request, "Nothing changed.")
    for entry in entries:
        messages.success(
            request, f"{entry.subject}: {entry.setting} {entry.old_value} → {entry.new_value}."
        )


def render_overview(request, *, p2p_form=None, limits_form=None, ice_form=None, status=200):
    row = InstanceSettings.load()
    context = {
        "settings_row": row,
        "p2p_form": p2p_form or InstanceP2PForm(instance=row),
        "limits_form": limits_form or TrackerLimitsForm(instance=row),
        "ice_form": ice_form or IceServersForm(instance=row),
        "stun_health": own_stun_health(),
        "ice_servers_shown": servers_shown(row),
        "videos_total": Video.objects.count(),
        "videos_with_p2p": Video.objects.p2p_enabled(row.p2p_enabled).count(),
        "swarms": active_swarms(),
        "tracker_totals": service.stats(),
        "tracker_sharing": service.sharing(),
        "spy_cost": spy_cost_card(row),
        "audit_entries": AuditEntry.objects.newest(AUDIT_ENTRIES_ON_OVERVIEW),
    }
    return render(request, "adminpanel/overview.html", context, status=status)


@staff_required
@require_safe
def overview(request):
    return render_overview(request)


def _save_instance_settings(request, form_class, form_name: str):
    """One of the overview's forms on the settings row: saved (and audited), or shown again
    with its errors (400) and nothing changed."""
    form = form_class(request.POST, instance=InstanceSettings.load())
    if not form.is_valid():
        return render_overview(request, status=400, **{form_name: form})
    entries = update_instance_settings(form.cleaned_data, request.user.get_username())
    report_changes(request, entries)
    return redirect("adminpanel:overview")


@staff_required
@require_POST
def instance_p2p(request):
    return _save_instance_settings(request, InstanceP2PForm, "p2p_form")


@staff_required
@require_POST
def tracker_limits(request):
    return _save_instance_settings(request, TrackerLimitsForm, "limits_form")


@staff_required
@require_POST
def ice_servers(request):
    return _save_instance_settings(request, IceServersForm, "ice_form")


@staff_required
@require_safe
def video_list(request):
    search = VideoSearchForm(request.GET)
    text = search.cleaned_data["q"] if search.is_valid() else ""
    videos = Video.objects.search(text).prefetch_related("files")
    page = Paginator(videos, VIDEOS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "search": search,
        "page": page,
        "instance_p2p": InstanceSettings.load().p2p_enabled,
        "choices": VideoP2PForm.base_fields["p2p"].choices,
    }
    return render(request, "adminpanel/video_list.html", context)


def detailed_video(uuid) -> Video:
    """The video of a detail page, with its files and HLS renditions in one query each."""
    videos = Video.objects.select_related("hls_playlist")
    return get_object_or_404(
        videos.prefetch_related("files", "hls_playlist__renditions"), uuid=uuid
    )


def render_video_detail(request, video, *, crowd_form=None, status=200):
    row = InstanceSettings.load()
    context = {
        "video": video,
        "form": VideoP2PForm(initial={"p2p": video.p2p}),
        "crowd_form": crowd_form or VideoCrowdForm(initial={"min_viewers": video.p2p_min_viewers}),
        "instance_min_viewers": row.p2p_min_viewers,
        "instance_p2p": row.p2p_enabled,
        "swarm": video_swarm(video),
        "hls_renditions": hls_renditions(video),
        "audit_entries": AuditEntry.objects.about_video(video.uuid)[:AUDIT_ENTRIES_ON_OVERVIEW],
    }
    return render(request, "adminpanel/video_detail.html", context, status=status)


@staff_required
@require_safe
def video_detail(request, uuid):
    return render_video_detail(request, detailed_video(uuid))


@staff_required
@require_POST
def video_min_viewers(request, uuid):
    video = detailed_video(uuid)
    form = VideoCrowdForm(request.POST)
    if not form.is_valid():
        return render_video_detail(request, video, crowd_form=form, status=400)
    entry = set_video_min_viewers(
        video, form.cleaned_data["min_viewers"], request.user.get_username()
    )
    report_changes(request, [entry] if entry else [])
    return redirect("adminpanel:video", uuid=video.uuid)


@staff_required
@require_POST
def video_p2p(request, uuid):
    video = get_object_or_404(Video, uuid=uuid)
    form = VideoP2PForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose inherit, on or off.")
        return redirect("adminpanel:video", uuid=video.uuid)
    entry = set_video_p2p(video, form.cleaned_data["p2p"], request.user.get_username())
    report_changes(request, [entry] if entry else [])
    back = form.cleaned_data["next"]
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("adminpanel:video", uuid=video.uuid)


@staff_required
@require_safe
def audit_log(request):
    page = Paginator(AuditEntry.objects.all(), AUDIT_ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "adminpanel/audit_log.html", {"page": page})


@require_safe
def privacy_faq(request):
    row = InstanceSettings.load()
    context = {
        "facts": instance_facts(row),
        "settings_row": row,
        "config": tracker_config(row),
        "http_address_kept_seconds": int(http_address_kept_seconds(row)),
    }
    return render(request, "adminpanel/privacy_faq.html", context)
