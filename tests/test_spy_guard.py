"""The guard in the tracker core: limits, alarms and blocks per source, with plain calls."""

import random

import orjson
import pytest

from tracker.core import InMemorySwarmStore, Policy, Result, TrackerCore, web_json, wire_id
from tracker.core.guard import (
    ALARM_BLOCKED,
    ALARM_EARLY_ANNOUNCES,
    ALARM_SOCKETS,
    ALARM_UNKNOWN_VIDEOS,
    ALARM_VIDEOS,
    REFUSED_BLOCKED,
    REFUSED_RATE,
    REFUSED_SOCKETS,
    REFUSED_VIDEOS,
    Guard,
    GuardConfig,
)

SPY = "198.51.100.7"
VIEWER = "203.0.113.20"


def video(n: int) -> bytes:
    return n.to_bytes(20, "big")


def known(info_hash: bytes) -> bytes | None:
    """The video of a swarm (each its own video here); None for what is not published."""
    return info_hash if int.from_bytes(info_hash, "big") < 1000 else None


def kinds(verdict) -> list[str]:
    return [alarm.kind for alarm in verdict.alarms] if verdict else []


def ask(guard: Guard, key: str, n: int, now: float):
    return guard.request_videos(guard.source(key, now), (video(n),), known, now)


def test_a_viewer_playing_a_few_videos_for_hours_is_never_refused_nor_alarmed():
    guard = Guard(GuardConfig())
    meter, verdict = guard.open_socket(VIEWER, 0.0)
    assert verdict is None
    now = 0.0
    for n in range(12):  # twelve videos of ten minutes each, one after the other
        for _announce in range(5):
            now += 120.0
            assert guard.meter_message(meter, now) is None
            assert guard.request_videos(meter.source, (video(n),), known, now) is None
            sample = guard.sample(meter.source, meter.announced, video(n), now)
            assert sample == (True, None)
            for _answer in range(5):  # it answers the offers other viewers send it
                assert guard.meter_message(meter, now + 1.0) is None


def test_one_video_too_many_is_refused_and_the_ones_counted_stay_allowed():
    guard = Guard(GuardConfig(max_videos=3, video_burst=3, alarm_videos=10))
    assert [ask(guard, SPY, n, float(n)) for n in range(3)] == [None] * 3
    refused = ask(guard, SPY, 3, 3.0)
    assert refused.refusal == REFUSED_VIDEOS
    assert ask(guard, SPY, 0, 4.0) is None  # already counted: a re-announce is fine
    # A window after the first ones were last seen, there is room again.
    assert ask(guard, SPY, 3, 4.0 + 300.0) is None


def test_the_videos_alarm_rings_once_per_window_with_the_count():
    guard = Guard(GuardConfig(max_videos=10, video_burst=10, alarm_videos=2))
    assert ask(guard, SPY, 0, 0.0) is None
    first = ask(guard, SPY, 1, 1.0)
    assert [(a.kind, a.count, a.source) for a in first.alarms] == [(ALARM_VIDEOS, 2, SPY)]
    assert first.refusal is None
    assert ask(guard, SPY, 2, 2.0) is None  # same window: no second ring
    second = ask(guard, SPY, 3, 1.0 + 300.0)
    assert kinds(second) == [ALARM_VIDEOS] and second.refusal is None


def test_by_default_a_third_new_video_at_once_waits_for_a_slot_and_is_no_breach():
    guard = Guard(GuardConfig())  # 2 new videos at once, then one per 300 s / 8 = 37.5 s
    assert [ask(guard, VIEWER, n, 0.0) for n in range(2)] == [None] * 2
    # Asked again and again, more often than the breaches before a block: refused, no block.
    thirds = [ask(guard, VIEWER, 2, float(t)) for t in range(6)]
    assert all(v.refusal == REFUSED_VIDEOS and not v.new_block and not v.alarms for v in thirds)
    assert ask(guard, VIEWER, 2, 37.0).refusal == REFUSED_VIDEOS
    assert ask(guard, VIEWER, 2, 37.5) is None  # the slot is free
    assert ask(guard, VIEWER, 3, 38.0).refusal == REFUSED_VIDEOS  # the next one waits again
    assert ask(guard, SPY, 0, 0.0) is None  # other sources are not touched


def test_tabs_opened_together_wait_for_their_turn_without_a_step_towards_a_block():
    guard = Guard(GuardConfig(max_videos=8, video_burst=3, breaches_before_block=1))
    verdicts = [ask(guard, VIEWER, n, 0.0) for n in range(8)]  # eight tabs at once
    assert [v.refusal if v else None for v in verdicts] == [None] * 3 + [REFUSED_VIDEOS] * 5
    assert not any(v.new_block for v in verdicts[3:])
    # Their next announce, an interval later, finds three more places; then the rest.
    later = [ask(guard, VIEWER, n, 120.0) for n in range(3, 8)]
    assert [v.refusal if v else None for v in later] == [None] * 3 + [REFUSED_VIDEOS] * 2
    assert [ask(guard, VIEWER, n, 240.0) for n in range(3, 8)] == [None] * 5
    # A ninth video is one too many in all: that refusal is a breach (here: a block).
    assert ask(guard, VIEWER, 8, 241.0).new_block


def test_videos_refused_still_count_towards_the_alarm():
    guard = Guard(GuardConfig(max_videos=8, video_burst=3, alarm_videos=5, breaches_before_block=9))
    verdicts = [ask(guard, SPY, n, 0.0) for n in range(6)]
    assert [v.refusal if v else None for v in verdicts] == [None] * 3 + [REFUSED_VIDEOS] * 3
    assert [kinds(v) for v in verdicts] == [[], [], [], [], [ALARM_VIDEOS], []]
    assert verdicts[4].alarms[0].count == 5


def test_repeated_breaches_block_the_source_until_the_block_ends():
    guard = Guard(GuardConfig(max_videos=1, alarm_videos=1, breaches_before_block=3))
    meter, _ = guard.open_socket(SPY, 0.0)
    ask(guard, SPY, 0, 0.0)
    assert ask(guard, SPY, 1, 1.0).refusal == REFUSED_VIDEOS
    assert ask(guard, SPY, 2, 2.0).refusal == REFUSED_VIDEOS
    blocked = ask(guard, SPY, 3, 3.0)
    assert (blocked.refusal, blocked.new_block, blocked.blocked_until) == (
        REFUSED_BLOCKED,
        True,
        3.0 + 3600.0,
    )
    assert [(a.kind, a.count) for a in blocked.alarms] == [(ALARM_BLOCKED, 3)]
    still = guard.meter_message(meter, 100.0)
    assert (still.refusal, still.new_block) == (REFUSED_BLOCKED, False)
    assert guard.open_socket(SPY, 100.0)[0] is None
    assert guard.open_socket(VIEWER, 100.0)[0] is not None  # other sources are not touched
    assert guard.meter_message(meter, 3.0 + 3600.0) is None


def test_breaches_further_apart_than_the_window_never_block():
    guard = Guard(GuardConfig(max_videos=1, alarm_videos=1, breaches_before_block=2))
    ask(guard, SPY, 0, 0.0)
    for n in range(1, 6):
        now = n * 301.0
        ask(guard, SPY, 0, now - 1.0)  # keeps its one video, so the next new one is refused
        verdict = ask(guard, SPY, 100 + n, now)
        assert verdict.refusal == REFUSED_VIDEOS and not verdict.new_block


def test_sockets_per_source_are_capped_and_a_closed_one_frees_its_place():
    guard = Guard(GuardConfig(max_sockets=3, alarm_sockets=3))
    meters = [guard.open_socket(SPY, 0.0) for _ in range(3)]
    assert [kinds(verdict) for _, verdict in meters] == [[], [], [ALARM_SOCKETS]]
    meter, refused = guard.open_socket(SPY, 1.0)
    assert meter is None and refused.refusal == REFUSED_SOCKETS
    guard.close_socket(meters[0][0], 2.0)
    guard.close_socket(meters[0][0], 2.0)  # closing twice frees one place only
    assert guard.open_socket(SPY, 3.0)[0] is not None
    assert guard.open_socket(SPY, 3.0)[0] is None


def test_a_socket_flooding_messages_is_refused_then_refilled():
    guard = Guard(GuardConfig(socket_messages_per_minute=60, breaches_before_block=100))
    meter, _ = guard.open_socket(SPY, 0.0)
    assert all(guard.meter_message(meter, 0.0) is None for _ in range(60))
    assert guard.meter_message(meter, 0.0).refusal == REFUSED_RATE
    assert guard.meter_message(meter, 1.0) is None  # one a second comes back
    assert guard.meter_message(meter, 1.0).refusal == REFUSED_RATE


def test_the_rate_of_a_whole_source_is_capped_across_its_sockets():
    config = GuardConfig(
        socket_messages_per_minute=100, source_messages_per_minute=150, breaches_before_block=100
    )
    guard = Guard(config)
    first, _ = guard.open_socket(SPY, 0.0)
    second, _ = guard.open_socket(SPY, 0.0)
    assert all(guard.meter_message(first, 0.0) is None for _ in range(100))
    assert all(guard.meter_message(second, 0.0) is None for _ in range(50))
    assert guard.meter_message(second, 0.0).refusal == REFUSED_RATE
    other, _ = guard.open_socket(VIEWER, 0.0)
    assert guard.meter_message(other, 0.0) is None


def test_resampling_a_swarm_before_the_interval_is_over_rings_and_gets_no_sample():
    guard = Guard(GuardConfig(alarm_early_announces=3, announce_interval=120.0))
    meter, _ = guard.open_socket(SPY, 0.0)
    source = meter.source

    def sample(n: int, now: float):
        allowed, verdict = guard.sample(source, meter.announced, video(n), now)
        return allowed, kinds(verdict)

    # A client: one sample per interval (at least half of it apart), on each of its videos.
    assert [sample(1, n * 61.0) for n in range(5)] == [(True, [])] * 5
    assert sample(2, 0.0) == (True, [])
    # A crawler asking again and again: two early samples pass, then none, and it rings once.
    assert [sample(3, 300.0 + n) for n in range(6)] == [
        (True, []),
        (True, []),
        (True, []),
        (False, [ALARM_EARLY_ANNOUNCES]),
        (False, []),
        (False, []),
    ]
    # Half an interval after its last sample, a sample is due again.
    assert sample(3, 302.0 + 60.0) == (True, [])


def test_an_early_announce_past_the_threshold_is_answered_without_offers_or_peers():
    front = Front(alarm_early_announces=1)
    spy, _ = front.guard.open_socket(SPY, 0.0)
    viewer, _ = front.guard.open_socket(VIEWER, 0.0)
    front.send("viewer", viewer, announce(1, "viewer"))
    first, _ = front.send("spy", spy, announce(1, "spy", offers=2), now=1.0)
    again, verdict = front.send("spy", spy, announce(1, "spy", offers=2), now=2.0)
    assert [to for to, _ in first] == ["spy", "viewer"]  # the offer went to the viewer
    assert [to for to, _ in again] == ["spy"] and "failure reason" not in again[0][1]
    assert kinds(verdict) == [ALARM_EARLY_ANNOUNCES]


def test_asking_about_infohashes_the_instance_never_published_rings_but_takes_no_slot():
    guard = Guard(GuardConfig())  # rings at 3 unknown ones; only 2 new videos at once
    assert [ask(guard, SPY, n, 0.0) for n in (5000, 5001, 5001)] == [None] * 3
    third = ask(guard, SPY, 5002, 0.0)
    assert third.refusal is None and kinds(third) == [ALARM_UNKNOWN_VIDEOS]
    assert [ask(guard, SPY, n, 0.0) for n in (1, 2)] == [None, None]  # both slots still free
    assert ask(guard, VIEWER, 1, 1.0) is None


def test_idle_sources_are_forgotten_but_blocked_ones_and_open_sockets_are_kept():
    guard = Guard(GuardConfig(max_videos=1, alarm_videos=1, breaches_before_block=1))
    ask(guard, VIEWER, 0, 0.0)
    ask(guard, SPY, 0, 0.0)
    assert ask(guard, SPY, 1, 0.0).new_block
    guard.open_socket("192.0.2.1", 0.0)
    assert guard.expire(299.0) == 0
    assert guard.expire(301.0) == 1  # the viewer's address is gone from memory
    assert len(guard) == 2
    assert guard.expire(3601.0) == 1  # the block is over
    assert len(guard) == 1


def test_a_lowered_limit_applies_from_the_next_request():
    guard = Guard(GuardConfig(max_videos=5, video_burst=5))
    for n in range(3):
        ask(guard, SPY, n, 0.0)
    guard.config = GuardConfig(max_videos=3, alarm_videos=3)
    assert ask(guard, SPY, 3, 1.0).refusal == REFUSED_VIDEOS


@pytest.mark.parametrize("name", ["window", "max_videos", "block_seconds", "alarm_sockets"])
def test_a_limit_of_zero_or_less_is_a_clear_error(name):
    with pytest.raises(ValueError, match=f"{name} must be positive"):
        GuardConfig(**{name: 0})


# The guard in front of the tracker


class Front:
    """The front door with the guard's limits given; every video below 1000 published."""

    def __init__(self, **config) -> None:
        p2p = {video(n): True for n in range(1000)}
        self.core = TrackerCore(InMemorySwarmStore(), Policy(guard=GuardConfig(**config), p2p=p2p))
        self.guard = self.core.guard
        self.rng = random.Random(3)

    def send(self, connection, meter, message: dict, now: float = 0.0):
        """The messages sent, as wire dicts, and the whole result."""
        result = self.core.receive_web(connection, meter, orjson.dumps(message), now, self.rng)
        return [(to, web_json(sent)) for to, sent in result.messages], result


def announce(n: int, peer: str, offers: int = 0) -> dict:
    return {
        "action": "announce",
        "info_hash": wire_id(video(n)),
        "peer_id": (f"-WW0208-{peer}" + "." * 20)[:20],
        "numwant": offers,
        "left": 0,
        "offers": [
            {"offer": {"type": "offer", "sdp": "v=0"}, "offer_id": f"{peer}{k}".ljust(20, ".")}
            for k in range(offers)
        ],
        "event": "started",
    }


def test_a_refused_announce_joins_no_swarm_and_gets_no_offer():
    front = Front(max_videos=1, alarm_videos=1)
    spy_meter, _ = front.guard.open_socket(SPY, 0.0)
    viewer_meter, _ = front.guard.open_socket(VIEWER, 0.0)
    front.send("spy", spy_meter, announce(0, "spy"))
    out, verdict = front.send("spy", spy_meter, announce(1, "spy"))
    assert out == [("spy", {"action": "announce", "failure reason": REFUSED_VIDEOS,
                            "info_hash": wire_id(video(1))})]  # fmt: skip
    assert not verdict.alarms and verdict.blocked_source is None
    out, _ = front.send("viewer", viewer_meter, announce(1, "viewer", offers=3))
    assert [to for to, _ in out] == ["viewer"]  # no offer went to the spy
    assert front.core.stats()["web_peers"] == 2


def test_a_message_refused_for_its_rate_names_its_action_and_infohash():
    front = Front(socket_messages_per_minute=10)
    meter, _ = front.guard.open_socket(SPY, 0.0)
    for _ in range(10):
        front.send("spy", meter, {"action": "scrape", "info_hash": wire_id(video(0))})
    out, verdict = front.send("spy", meter, {"action": "scrape", "info_hash": wire_id(video(0))})
    assert out[0][1] == {
        "action": "scrape",
        "failure reason": REFUSED_RATE,
        "info_hash": wire_id(video(0)),
    }
    assert verdict.blocked_source is None


def test_a_scrape_counts_every_video_it_asks_about():
    front = Front(max_videos=3, alarm_videos=3)
    meter, _ = front.guard.open_socket(SPY, 0.0)
    many = {"action": "scrape", "info_hash": [wire_id(video(n)) for n in range(4)]}
    out, verdict = front.send("spy", meter, many)
    assert out[0][1]["failure reason"] == REFUSED_VIDEOS
    assert ALARM_VIDEOS in kinds(verdict)


def test_an_exempt_source_has_no_meter_and_no_limit():
    front = Front(max_videos=1, alarm_videos=1)
    assert front.core.open_socket(None, 0.0) == (None, Result())
    for n in range(5):
        out, result = front.send("mirror", None, announce(n, "mirror"))
        assert not result.alarms and "failure reason" not in out[0][1]
