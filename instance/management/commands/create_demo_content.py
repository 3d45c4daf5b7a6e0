import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from instance.demo_media import generate_demo_video
from instance.models import Video
from instance.video_import import import_video

# Short, real, playable videos; each pattern differs so each has its own infohash.
DEMO_VIDEOS = [
    ("Demo: aurora", "A drifting colour field, generated at set-up.", 8, 0),
    ("Demo: tides", "Rolling bands with a low tone.", 6, 1),
    ("Demo: lanterns", "Moving lights over a dark ground.", 10, 2),
]


class Command(BaseCommand):
    help = "Generate and import the demo videos that are not in the catalogue yet."

    def handle(self, *args, **options):
        with tempfile.TemporaryDirectory() as folder:
            for name, description, seconds, seed in DEMO_VIDEOS:
                if Video.objects.filter(name=name).exists():
                    continue
                path = generate_demo_video(
                    Path(folder) / f"demo-{seed}.mp4", seconds=seconds, seed=seed, title=name
                )
                video = import_video(path, name=name, description=description)
                info_hash = video.files.get().info_hash
                self.stdout.write(f"demo video {name!r}: {video.uuid} {info_hash}")
        self.stdout.write(f"{Video.objects.count()} videos in the catalogue")
