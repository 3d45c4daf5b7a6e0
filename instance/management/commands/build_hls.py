from django.core.management.base import BaseCommand

from instance.hls_import import HLSFailed, add_hls, source_file, videos_without_hls


class Command(BaseCommand):
    help = (
        "Give every video without HLS its renditions (an instance from before HLS upgrades "
        "with this); a video that cannot be encoded is reported and left without any."
    )

    def handle(self, *args, **options):
        failed = 0
        for video in videos_without_hls():
            source = source_file(video)
            if source is None:
                self.stderr.write(f"{video.uuid}: no file to encode from")
                failed += 1
                continue
            try:
                playlist = add_hls(video, source)
            except HLSFailed as error:
                self.stderr.write(f"{video.uuid}: {error}")
                failed += 1
                continue
            heights = ", ".join(f"{r.resolution}p" for r in playlist.renditions.all())
            self.stdout.write(f"{video.uuid}: HLS {heights}")
        if failed:
            self.stderr.write(f"{failed} video(s) left without HLS")
