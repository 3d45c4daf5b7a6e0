"""A safety net for rows written outside the P2P switches (an import, build_hls, Django's admin,
a shell).

The switches call the tracker themselves (adminpanel/switches.py); any other save of a video, a
file, an HLS playlist or rendition (each rendition is a swarm), or the settings marks this
process's policy stale and, once committed, bumps the policy version that every server process
polls (tracker.access.POLICY_POLL_SECONDS).
"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from instance.models import HLSRendition, InstanceSettings, StreamingPlaylist, Video, VideoFile
from tracker.models import PolicyVersion
from tracker.service import service


@receiver([post_save, post_delete], sender=Video)
@receiver([post_save, post_delete], sender=VideoFile)
@receiver([post_save, post_delete], sender=StreamingPlaylist)
@receiver([post_save, post_delete], sender=HLSRendition)
@receiver([post_save, post_delete], sender=InstanceSettings)
def mark_policy_changed(sender, **kwargs):
    service.policy.mark_stale()
    # After commit, in its own short transaction: bumping inside the change's would lock the
    # version row until then (a video import hashes its whole file in that transaction).
    transaction.on_commit(PolicyVersion.bump)
