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
    service.policy.mark_stale()
    # After commit, in its own short transaction: bumping inside the change's would lock the
    # version row until then (a video import hashes its whole file in that transaction). A
    # process that reads the version between the two commits sees the change at the next
    # check, POLICY_MAX_AGE later.
    transaction.on_commit(PolicyVersion.bump)
    # After commit: a rolled-back change must not empty a swarm.
    transaction.on_commit(service.apply_policy)
