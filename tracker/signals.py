"""Changes to videos, files or instance settings reach the running tracker at once."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from instance.models import InstanceSettings, Video, VideoFile
from tracker.models import PolicyVersion
from tracker.service import service


@receiver([post_save, post_delete], sender=Video)
@receiver([post_save, post_delete], sender=VideoFile)
@receiver([post_save, post_delete], sender=InstanceSettings)
def apply_catalogue_change_to_tracker(sender, **kwargs):
    # In the change's own transaction: other processes see the new version with the change.
    PolicyVersion.bump()
    service.policy.mark_stale()
    # After commit: a rolled-back change must not empty a swarm.
    transaction.on_commit(service.apply_policy)
