"""Changes to videos, files or instance settings mark the tracker's cached policy stale."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from instance.models import InstanceSettings, Video, VideoFile
from tracker.service import service


@receiver([post_save, post_delete], sender=Video)
@receiver([post_save, post_delete], sender=VideoFile)
@receiver([post_save, post_delete], sender=InstanceSettings)
def mark_tracker_policy_stale(sender, **kwargs):
    service.policy.mark_stale()
