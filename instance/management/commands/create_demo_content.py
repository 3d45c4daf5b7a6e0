import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from instance.demo_media import generate_demo_video
from instance.models import Video
from instance.video_import import import_video

# Real, playable videos; each pattern differs so each has its own infohash. The long one is
# where P2P matters: a view's first segments (about 15 s of them) always come over HTTP, before
# any peer connects, so a short video never gets far past that.
DEMO_VIDEOS = [
    # (name, description, seconds, seed, frames per second)
    ("Demo: aurora", "A drifting colour field, generated at set-up.", 8, 0, 24),
    ("Demo: tides", "Rolling bands with a low tone.", 6, 1, 24),
    ("Demo: lanterns", "Moving lights over a dark ground.", 10, 2, 24),
    # 15 frames a second for slow colour keeps its generation and encoding at set-up short.
    ("Demo: long drift", "A minute of slow colour, long enough to share.", 64, 3, 15),
]
# A small bitrate: the long demo is about 3 MB.
DEMO_BIT_RATE = 400_000


class Command(BaseCommand):
    help = "Generate and import the demo videos that are not in the catalogue yet."

    def handle(self, *args, **options):
        with tempfile.TemporaryDirectory() as folder:
            for name, description, seconds, seed, fps in DEMO_VIDEOS:
                if Video.objects.filter(name=name).exists():
                    continue
                path = generate_demo_video(
                    Path(folder) / f"demo-{seed}.mp4",
                    seconds=seconds,
                    seed=seed,
                    title=name,
                    bit_rate=DEMO_BIT_RATE,
                    fps=fps,
                )
                video = import_video(path, name=name, description=description)
                info_hash = video.files.get().info_hash
                self.stdout.write(f"demo video {name!r}: {video.uuid} {info_hash}")
        self.stdout.write(f"{Video.objects.count()} videos in the catalogue")
