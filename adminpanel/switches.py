"""Changing the P2P switches and the tracker limits, from the panel or the `p2p` command.

Once a change is committed, the tracker of this process is told explicitly: a video's switch
loads just that video's torrents and empties its swarms if P2P went off, telling their sockets at
once; a settings change loads the policy again. Every server process sees the change through the
policy version within half a second (tracker.access.POLICY_POLL_SECONDS). The audit entry is
written in the same transaction, so a change is never applied without its record, nor recorded
without being applied.
"""

from django.db import transaction

from instance.ice import server_urls
from instance.models import InstanceSettings, P2PSetting, Video
from tracker.core import MAX_CROWD_THRESHOLD
from tracker.service import service

from .models import AuditEntry

INSTANCE_SUBJECT = "instance"


def shown(value: object) -> str:
    """A setting's value as the panel and the audit log show it (in at most 100 characters)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "default"
    if isinstance(value, list):
        # ICE servers: their URLs only, never a TURN credential.
        return (", ".join(server_urls(value)) or "none")[:100]
    return str(value)[:100]


def video_subject(video: Video) -> str:
    return f'video "{video.name[:120]}" ({video.uuid})'


def update_instance_settings(changes: dict[str, object], actor: str) -> list[AuditEntry]:
    """Store the values of `changes` (field name -> new value) that differ from the saved ones.

    Returns the audit entries written, one per changed field (none if nothing changed). Raises
    django.core.exceptions.ValidationError for a value outside a field's limits.
    """
    with transaction.atomic():
        row = (
            InstanceSettings.objects.select_for_update().filter(pk=1).first()
            or InstanceSettings.load()
        )
        entries = []
        for name, new in changes.items():
            old = getattr(row, name)
            if old == new:
                continue
            setattr(row, name, new)
            entries.append(
                AuditEntry(
                    actor=actor,
                    subject=INSTANCE_SUBJECT,
                    setting=str(InstanceSettings._meta.get_field(name).verbose_name),
                    old_value=shown(old),
                    new_value=shown(new),
                )
            )
        if entries:
            row.full_clean()
            row.save()
            AuditEntry.objects.bulk_create(entries)
            transaction.on_commit(service.settings_changed)
    return entries


def set_instance_p2p(enabled: bool, actor: str) -> list[AuditEntry]:
    return update_instance_settings({"p2p_enabled": enabled}, actor)


def set_video_p2p(video: Video, choice: str, actor: str) -> AuditEntry | None:
    """Set a video's own P2P choice (inherit, on, off); None if it already was that.

    `video` is updated too, so the caller can show the state in effect."""
    if choice not in P2PSetting.values:
        raise ValueError(f"P2P must be one of {', '.join(P2PSetting.values)}, not {choice!r}")
    with transaction.atomic():
        # The stored value, not the caller's copy, is the old value the audit log records.
        old = Video.objects.select_for_update().values_list("p2p", flat=True).get(pk=video.pk)
        video.p2p = choice
        if old == choice:
            return None
        video.save(update_fields=["p2p"])
        info_hashes = video.swarm_info_hashes()
        transaction.on_commit(lambda: service.switched(info_hashes))
        return AuditEntry.objects.create(
            actor=actor,
            subject=video_subject(video),
            setting="P2P",
            old_value=old,
            new_value=choice,
        )


def set_video_min_viewers(video: Video, value: int | None, actor: str) -> AuditEntry | None:
    """Set a video's own crowd threshold (None: the instance's); None if it already was that.
    The tracker loads the policy again once committed (the save moved its version)."""
    if value is not None and not 1 <= value <= MAX_CROWD_THRESHOLD:
        raise ValueError(f"the threshold must be from 1 to {MAX_CROWD_THRESHOLD}, not {value}")
    with transaction.atomic():
        old = (
            Video.objects.select_for_update()
            .values_list("p2p_min_viewers", flat=True)
            .get(pk=video.pk)
        )
        video.p2p_min_viewers = value
        if old == value:
            return None
        video.save(update_fields=["p2p_min_viewers"])
        transaction.on_commit(service.reload)
        return AuditEntry.objects.create(
            actor=actor,
            subject=video_subject(video),
            setting="P2P only from N viewers",
            old_value="inherit" if old is None else str(old),
            new_value="inherit" if value is None else str(value),
        )
