"""Seed a benchmark instance's catalogue: one video with P2P on per infohash, no file on disk.

Run inside the instance (its PEERVEIL_DATA_DIR), as the benchmark does:
    manage.py shell -c "from bench.catalogue import seed; seed('HASHES_FILE')"
HASHES_FILE holds one hex infohash a line. The rows are those tests/tracker_helpers.py's
add_video() writes; the tracker only serves infohashes of catalogue videos with P2P on.
"""

from pathlib import Path

# The benchmark compresses time: a simulated viewer announces every fraction of a second instead
# of every 120 s, and one HTTP test connection carries the announces of hundreds of peers. The
# guard's per-address rate limits and alarm thresholds are therefore raised, to values the admin
# panel accepts; the guard still meters every message and request. One client address per
# WebSocket, as browsers have, so the per-address connection limits stay as they are.
LOAD_TEST_LIMITS = {
    "max_messages_per_socket": 100_000,
    "max_messages_per_address": 1_000_000,
    "max_videos_per_address": 1000,
    "max_videos_at_once": 1000,
    "max_http_requests_per_address": 1_000_000,
    "max_http_announces_per_video": 100_000,
    "alarm_videos": 1000,
    "alarm_early_announces": 100_000,
}


def seed(hashes_file: str) -> int:
    from django.db import transaction

    from instance.models import InstanceSettings, P2PSetting, Video, VideoFile

    hashes = [line.strip() for line in Path(hashes_file).read_text().split() if line.strip()]
    with transaction.atomic():
        videos = Video.objects.bulk_create(
            Video(name=f"bench swarm {n}", duration=1, p2p=P2PSetting.ON)
            for n in range(len(hashes))
        )
        VideoFile.objects.bulk_create(
            VideoFile(
                video=video,
                resolution=360,
                width=640,
                size=1,
                file=f"web-videos/bench-{n}.mp4",
                torrent=f"torrents/bench-{n}.torrent",
                info_hash=info_hash,
                piece_length=16384,
            )
            for n, (video, info_hash) in enumerate(zip(videos, hashes, strict=True))
        )
        row = InstanceSettings.load()
        # Only the fields this version of the instance has (older ones have no guard limits).
        raised = {name: value for name, value in LOAD_TEST_LIMITS.items() if hasattr(row, name)}
        for name, value in raised.items():
            setattr(row, name, value)
        row.full_clean()
        row.save()
    print(f"catalogue: {len(hashes)} videos; limits raised: {sorted(raised) or 'none'}")
    return len(hashes)
