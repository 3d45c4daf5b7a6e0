"""The guard's HTTP request budgets in the tracker core, with plain calls and a given clock."""

from tracker.core.guard import REFUSED_BLOCKED, REFUSED_RATE, Guard, GuardConfig

SPY = "198.51.100.7"
VIEWER = "203.0.113.20"


def video(n: int) -> bytes:
    return n.to_bytes(20, "big")


def guard(**limits) -> Guard:
    return Guard(GuardConfig(**{"breaches_before_block": 50, **limits}))


def test_a_source_gets_its_request_budget_at_once_then_a_share_of_it_per_second():
    g = guard(http_requests=10, window=100.0)
    spy = g.source(SPY, 0.0)
    assert [g.http_request(spy, 0.0) for _ in range(10)] == [None] * 10
    refused = g.http_request(spy, 0.0)
    assert refused.refusal == REFUSED_RATE and refused.blocked_until is None
    assert g.http_request(spy, 5.0) is not None  # 10 per 100 s: half a request earned
    assert g.http_request(spy, 11.0) is None
    assert g.http_request(g.source(VIEWER, 11.0), 11.0) is None  # another source's own budget


def test_announces_of_one_video_have_their_own_budget_per_source():
    g = guard(http_announces_per_video=3, window=300.0)
    spy = g.source(SPY, 0.0)
    assert [g.http_announce(spy, video(1), 0.0) for _ in range(3)] == [None] * 3
    assert g.http_announce(spy, video(1), 1.0).refusal == REFUSED_RATE
    assert g.http_announce(spy, video(2), 1.0) is None
    assert g.http_announce(g.source(VIEWER, 1.0), video(1), 1.0) is None


def test_refused_http_requests_count_towards_a_block_that_refuses_everything():
    g = guard(http_requests=2, window=60.0, breaches_before_block=3, block_seconds=60.0)
    spy = g.source(SPY, 0.0)
    verdicts = [g.http_request(spy, 0.0) for _ in range(5)]
    assert verdicts[:2] == [None, None]
    assert [v.refusal for v in verdicts[2:4]] == [REFUSED_RATE, REFUSED_RATE]
    assert verdicts[4].new_block and verdicts[4].blocked_until == 60.0
    assert g.http_request(spy, 30.0).refusal == REFUSED_BLOCKED
    assert g.http_request(spy, 61.0) is None


def test_per_video_counters_of_a_source_stay_bounded():
    g = guard(http_announces_per_video=1)
    spy = g.source(SPY, 0.0)
    for n in range(1000):
        g.http_announce(spy, video(n), 0.0)
    assert len(spy.http_videos) <= 64
