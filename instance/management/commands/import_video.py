from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from instance.video_import import ImportFailed, import_video


class Command(BaseCommand):
    help = "Import a video file: probe it, copy it into media storage and build its torrent."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", default="")

    def handle(self, *args, path: Path, name: str, description: str, **options):
        try:
            video = import_video(path, name=name, description=description)
        except ImportFailed as error:
            raise CommandError(str(error)) from error
        for video_file in video.files.all():
            self.stdout.write(f"{video.uuid} {video_file.info_hash}")
