"""The spy's cost: what collecting the viewers' addresses of the live swarms would take, under
this tracker's limits and under an unprotected tracker (PeerTube's: no limits). Pure arithmetic
on plain numbers, the FAQ's reasoning done with the instance's values; the panel's card shows it.

How a crawler learns addresses here: an HTTP announce lists at most `max_peers_per_reply` random
HTTP peers; a WebSocket announce has at most `max_relayed_offers` offers relayed to random web
peers, whose answers carry their address. Each such announce is one random sample of the swarm.
Collecting all S peers of a swarm with samples of k takes about (ln S + 0.5772) / -ln(1 - k/S)
+ 1/2 samples (the expected maximum of S geometric waits, each peer drawn with chance k/S per
sample), one sample when k >= S.

The guard meters one address (tracker/core/guard.py): a sample of the same video counts only
half an interval after the previous one (earlier ones soon bring nothing and ring the
early-announce alarm); a video holds one of the address's video slots until a window after its
last request, and a patient crawler that wants no alarm keeps under the videos alarm; new videos
come at a burst, then one per window / max_videos. A swarm below its crowd threshold gives
nothing until the crawler brings the missing viewers itself, one address each.

An unprotected tracker answers every request with a sample: PeerTube's bittorrent-tracker lists
up to 82 peers (MAX_ANNOUNCE_PEERS) and relays as many offers; a crawler is limited only by how
fast it asks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tracker.core import GuardConfig, TrackerConfig

EULER_GAMMA = 0.5772156649
# bittorrent-tracker's MAX_ANNOUNCE_PEERS (lib/common.js), which PeerTube's tracker keeps: the
# most peers one HTTP reply lists and offers one WebSocket announce has relayed.
UNPROTECTED_SAMPLE = 82
# Requests one address makes a second when nothing slows it: one request in flight over a
# 50 ms round trip. An assumption, stated on the card.
REQUESTS_PER_SECOND = 20.0
LARGEST = 10


@dataclass(frozen=True)
class Swarm:
    web: int  # web (WebSocket) peers
    http: int  # HTTP peers
    viewers: int = 0  # distinct addresses, what the crowd threshold compares
    threshold: int = 1

    @property
    def size(self) -> int:
        return self.web + self.http


@dataclass(frozen=True)
class Limits:
    """What the crawler faces: samples per request and, protected, the guard's meter."""

    web_sample: int
    http_sample: int
    interval: float
    guard: GuardConfig | None  # None: an unprotected tracker
    crowd: bool = True  # whether swarms below their threshold give nothing

    @classmethod
    def of(cls, tracker: TrackerConfig, guard: GuardConfig) -> Limits:
        return cls(
            web_sample=min(tracker.max_relayed_offers, tracker.max_peers_per_reply),
            http_sample=tracker.max_peers_per_reply,
            interval=float(tracker.announce_interval),
            guard=guard,
        )

    @classmethod
    def unprotected(cls, interval: float) -> Limits:
        return cls(UNPROTECTED_SAMPLE, UNPROTECTED_SAMPLE, interval, None, crowd=False)


@dataclass(frozen=True)
class Cost:
    requests: int  # announces, all addresses together
    seconds: float  # for one address
    addresses: int  # to do it within one announce interval
    lift_addresses: int = 0  # of those, brought in to lift swarms over their crowd threshold


def samples_to_collect(size: int, sample: int) -> int:
    """Samples of `sample` random distinct peers that collect all `size` peers, expected."""
    if size <= 0:
        return 0
    if sample >= size:
        return 1
    if sample <= 0:
        raise ValueError("a sample of no peer collects nothing")
    chance = sample / size
    return math.ceil((math.log(size) + EULER_GAMMA) / -math.log1p(-chance) + 0.5)


def _samples(swarm: Swarm, limits: Limits) -> tuple[int, int]:
    """Samples a swarm needs, and requests (one per kind of peer it has, per sample)."""
    web = samples_to_collect(swarm.web, limits.web_sample)
    http = samples_to_collect(swarm.http, limits.http_sample)
    return max(web, http), web + http


def video_slots(guard: GuardConfig) -> int:
    """Videos one address may hold at once without ringing the videos alarm."""
    return max(1, min(guard.max_videos, guard.alarm_videos - 1))


def collection_cost(
    swarms: Sequence[Swarm], limits: Limits, rate: float = REQUESTS_PER_SECOND
) -> Cost:
    """What collecting every peer of these swarms takes."""
    swarms = [s for s in swarms if s.size > 0]
    if not swarms:
        return Cost(0, 0.0, 0)
    plans = [_samples(s, limits) for s in swarms]
    requests = sum(r for _, r in plans)
    lift = 0
    if limits.crowd:
        # The crawler's own sampling address is one viewer; each missing one more is another.
        lift = sum(max(0, s.threshold - s.viewers - 1) for s in swarms if s.threshold > 1)
    guard = limits.guard
    if guard is None:
        seconds = requests / rate
        return Cost(requests, seconds, max(1, math.ceil(seconds / limits.interval)) + lift, lift)
    spacing = limits.interval / 2  # a sample counts from half an interval after the last
    window = guard.video_window
    slots = video_slots(guard)
    # A video holds a slot from its first sample to a window after its last.
    slot_seconds = sum((m - 1) * spacing + window for m, _ in plans)
    new_video_rate = guard.max_videos / window
    admitting = max(0, len(swarms) - guard.video_burst) / new_video_rate
    seconds = max(slot_seconds / slots, admitting, requests / rate)
    # Within one interval one address samples a video at 0, I/2 and I, and takes on at most
    # its burst plus the new videos that interval admits, within its slots.
    per_video = 1 + math.floor(limits.interval / spacing)
    videos_per_interval = min(
        slots, guard.video_burst + math.floor(limits.interval * new_video_rate)
    )
    address_videos = sum(math.ceil(m / per_video) for m, _ in plans)
    addresses = math.ceil(address_videos / videos_per_interval) + lift
    return Cost(requests, seconds, addresses, lift)


@dataclass(frozen=True)
class Rush:
    """A crawler that asks about video after video as fast as it can (the spy benchmark's):
    what it learns before its addresses are blocked."""

    requests: int
    learned: int  # peers' addresses
    videos: int  # videos it got answers about
    blocked: bool = True  # False: too few videos to breach the limit enough (one pass)


def rush(swarm_lists: Sequence[Sequence[Swarm]], limits: Limits) -> Rush:
    """`swarm_lists`: for each crawling address, the swarms in the order it asks about them
    (an HTTP and a WebSocket announce each)."""
    guard = limits.guard
    if guard is None:
        raise ValueError("an unprotected tracker never stops a crawler")
    requests = learned = videos = 0
    blocked = True
    for swarms in swarm_lists:
        # The burst is served; the next videos are refused without a breach up to max_videos,
        # then each request is a breach, and the last breach blocks.
        if 2 * (len(swarms) - guard.max_videos) >= guard.breaches_before_block:
            requests += 2 * guard.max_videos + guard.breaches_before_block
        else:  # one pass over too few videos to be blocked
            requests += 2 * len(swarms)
            blocked = False
        for swarm in swarms[: guard.video_burst]:
            videos += 1
            if limits.crowd and swarm.threshold > 1 and swarm.viewers + 1 < swarm.threshold:
                continue  # the crawler itself is one viewer more
            learned += min(swarm.web, limits.web_sample) + min(swarm.http, limits.http_sample)
    return Rush(requests, learned, videos, blocked)


@dataclass(frozen=True)
class Card:
    swarms: int
    peers: int
    below_threshold: int
    protected_all: Cost
    protected_largest: Cost
    unprotected_all: Cost
    unprotected_largest: Cost
    # One address asking about the largest swarms first, as fast as it can, until it is
    # blocked (the spy benchmark's "most popular first" crawler).
    rush_largest: Rush


def card(swarms: Sequence[Swarm], tracker: TrackerConfig, guard: GuardConfig) -> Card:
    live = [s for s in swarms if s.size > 0]
    largest = sorted(live, key=lambda s: s.size, reverse=True)[:LARGEST]
    protected = Limits.of(tracker, guard)
    unprotected = Limits.unprotected(float(tracker.announce_interval))
    return Card(
        swarms=len(live),
        peers=sum(s.size for s in live),
        below_threshold=sum(1 for s in live if s.threshold > 1 and s.viewers < s.threshold),
        protected_all=collection_cost(live, protected),
        protected_largest=collection_cost(largest, protected),
        unprotected_all=collection_cost(live, unprotected),
        unprotected_largest=collection_cost(largest, unprotected),
        rush_largest=rush([sorted(live, key=lambda s: s.size, reverse=True)], protected),
    )
