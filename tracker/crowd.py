"""A video's crowd as its watch page shows it: "P2P starts when N people watch this video (now:
M)". N is the video's threshold (its own, else the instance's); M is read from the tracker of
this process, which is the one serving the page's tracker socket (`manage.py serve` runs one).

The tracker applies the threshold to each of a video's swarms on its own (a torrent per file,
one per HLS rendition): the page shows the largest count among them, the one that reaches N
first. A viewer in two renditions of one video counts in both, once in each.
"""

from typing import NamedTuple

from instance.models import InstanceSettings, Video
from tracker.service import service


class Crowd(NamedTuple):
    threshold: int  # 1: no threshold
    viewers: int  # distinct addresses in the video's most watched swarm, now

    @property
    def reached(self) -> bool:
        return self.viewers >= self.threshold

    def as_json(self) -> dict:
        return {"threshold": self.threshold, "viewers": self.viewers, "reached": self.reached}


def crowd_of(video: Video, row: InstanceSettings | None = None) -> Crowd:
    row = row or InstanceSettings.load()
    threshold = video.min_viewers_effective(row.p2p_min_viewers)
    counts = service.viewers(video.swarm_info_hashes())
    return Crowd(threshold, max(counts.values(), default=0))
