"""The redundancy page of the staff panel: strategies, the copies and their states, a check now.

Strategy changes are audited like every panel change and apply at the next check (beat runs one
every PEERVEIL_REDUNDANCY_CHECK_INTERVAL seconds, or "Run the check now").
"""

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from instance.redundancy.models import COPY_IN_PROGRESS, RedundancyCopy, RedundancyStrategy
from instance.redundancy.tasks import check_redundancy
from instance.redundancy.verify import PASS_CHECKS

from .models import AuditEntry
from .redundancy_forms import RedundancyStrategyForm, format_size
from .switches import shown
from .views import report_changes, staff_required

COPIES_SHOWN = 200


def strategy_usage() -> dict[str, int]:
    """Bytes held (or being downloaded) by each strategy's copies."""
    rows = (
        RedundancyCopy.objects.holding_space()
        .values("strategy")
        .annotate(used=Sum("video_file__size"))
    )
    return {row["strategy"]: row["used"] or 0 for row in rows}


def copy_json(copy: RedundancyCopy) -> dict:
    return {
        "id": copy.pk,
        "video": copy.video_file.video.name,
        "uuid": str(copy.video_file.video.uuid),
        "resolution": copy.video_file.resolution,
        "infoHash": copy.video_file.info_hash,
        "strategy": copy.strategy,
        "state": copy.state,
        "progress": copy.progress,
        "bytesDone": copy.bytes_done,
        "size": copy.video_file.size,
        "reason": copy.reason,
        "url": copy.url if copy.state == "published" else None,
        "publishedAt": copy.published_at.isoformat() if copy.published_at else None,
        "expiresAt": copy.expires_at.isoformat() if copy.expires_at else None,
        "verifiedAt": copy.verified_at.isoformat() if copy.verified_at else None,
        "unpublishedCorrupt": copy.unpublished_corrupt,
    }


def render_page(request, *, forms=None, status=200):
    usage = strategy_usage()
    strategies = []
    for strategy in RedundancyStrategy.objects.all():
        used = usage.get(strategy.name, 0)
        strategies.append(
            {
                "strategy": strategy,
                "form": (forms or {}).get(strategy.name)
                or RedundancyStrategyForm(instance=strategy),
                "used": format_size(used),
                "budget": format_size(strategy.size_budget),
                "percent": min(100, used * 100 // strategy.size_budget)
                if strategy.size_budget
                else 0,
            }
        )
    copies = RedundancyCopy.objects.select_related("video_file__video")[:COPIES_SHOWN]
    context = {
        "strategies": strategies,
        "copies": copies,
        "in_progress": any(copy.state in COPY_IN_PROGRESS for copy in copies),
        "used_total": format_size(sum(usage.values())),
        "check_minutes": max(1, settings.REDUNDANCY_CHECK_INTERVAL // 60),
        "pass_checks": PASS_CHECKS,
        "checking": request.GET.get("checking") == "1",
    }
    return render(request, "adminpanel/redundancy.html", context, status=status)


@staff_required
@require_safe
def redundancy(request):
    return render_page(request)


@staff_required
@require_safe
def redundancy_copies(request):
    """The copies as JSON, for the page's progress bars."""
    copies = RedundancyCopy.objects.select_related("video_file__video")[:COPIES_SHOWN]
    return JsonResponse({"copies": [copy_json(copy) for copy in copies]})


@staff_required
@require_POST
def redundancy_strategy(request, name: str):
    strategy = get_object_or_404(RedundancyStrategy, name=name)
    old = {field: getattr(strategy, field) for field in RedundancyStrategyForm.Meta.fields}
    form = RedundancyStrategyForm(request.POST, instance=strategy)
    if not form.is_valid():
        return render_page(request, forms={name: form}, status=400)
    entries = []
    for field in form.fields:
        new = form.cleaned_data[field]
        if new == old[field]:
            continue
        show = (lambda size: format_size(size, exact=True)) if field == "size_budget" else shown
        entries.append(
            AuditEntry(
                actor=request.user.get_username(),
                subject=f"redundancy {strategy.name}",
                setting=str(form.fields[field].label),
                old_value=show(old[field]),
                new_value=show(new),
            )
        )
    if entries:
        with transaction.atomic():
            form.save()
            AuditEntry.objects.bulk_create(entries)
    report_changes(request, entries)
    if entries:
        messages.info(request, "Changes apply at the next check.")
    return redirect("adminpanel:redundancy")


@staff_required
@require_POST
def redundancy_check_now(request):
    check_redundancy.delay()
    messages.success(request, "Check queued: the worker runs it now.")
    # The page then watches the copies until the check and its downloads are done.
    return redirect(f"{reverse('adminpanel:redundancy')}?checking=1")
