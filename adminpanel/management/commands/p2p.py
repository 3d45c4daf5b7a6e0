"""Switch P2P from the command line, for scripts and emergencies: the panel's switches.

The change is saved here, in another process than the server: every running server process sees
it through the policy version within tracker.access.POLICY_PROPAGATION_SECONDS, traffic or not.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from adminpanel.models import CLI_ACTOR
from adminpanel.switches import set_instance_p2p, set_video_p2p
from instance.models import InstanceSettings, P2PSetting, Video
from tracker.access import POLICY_PROPAGATION_SECONDS


class Command(BaseCommand):
    help = (
        "Switch P2P on or off for the instance, or on, off or inherit for one video "
        f"(--video UUID). Recorded in the audit log as {CLI_ACTOR!r}. A running server applies "
        f"the change within {POLICY_PROPAGATION_SECONDS:g} s: switching off empties the swarms, "
        "and their open sockets get the failure reason at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("state", choices=P2PSetting.values, help="on, off, or inherit.")
        parser.add_argument("--video", metavar="UUID", help="The video to switch.")

    def handle(self, *args, state: str, video: str | None, **options):
        if video is None:
            self.switch_instance(state)
        else:
            self.switch_video(state, video)
        self.stdout.write(f"A running server applies this within {POLICY_PROPAGATION_SECONDS:g} s.")

    def switch_instance(self, state: str) -> None:
        if state == P2PSetting.INHERIT:
            raise CommandError("inherit applies to a video only: add --video UUID")
        changed = set_instance_p2p(state == P2PSetting.ON, CLI_ACTOR)
        verb = "switched" if changed else "was already"
        self.stdout.write(f"P2P for the instance {verb} {state}.")

    def switch_video(self, state: str, uuid: str) -> None:
        try:
            video = Video.objects.get(uuid=uuid)
        except (Video.DoesNotExist, ValidationError) as error:
            raise CommandError(f"no video with uuid {uuid}") from error
        changed = set_video_p2p(video, state, CLI_ACTOR)
        verb = "set to" if changed else "was already"
        effective = video.p2p_effective(InstanceSettings.load().p2p_enabled)
        self.stdout.write(
            f'P2P for video "{video.name}" ({video.uuid}) {verb} {state}; '
            f"in effect: {'on' if effective else 'off'}."
        )
