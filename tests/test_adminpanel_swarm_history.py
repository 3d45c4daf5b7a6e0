"""Swarm sizes over the last hour: counts only, in memory, and silent HTTP peers forgotten."""

import pytest

from adminpanel.swarm_history import SAMPLES_KEPT, SwarmHistory, history, take_sample
from adminpanel.swarm_overview import CHART_HEIGHT, chart
from tests.tracker_helpers import add_video, peer_id
from tracker.core import KindCounts, parse_http_announce
from tracker.service import service


@pytest.fixture(autouse=True)
def fresh_history(fresh_tracker):
    history.clear()
    yield
    history.clear()


def test_the_history_keeps_one_hour_of_samples():
    samples = SwarmHistory()
    for minute in range(SAMPLES_KEPT + 5):
        samples.record(minute * 60.0, {})
    kept = samples.samples()
    assert len(kept) == SAMPLES_KEPT == 60
    assert kept[0].at == 5 * 60.0


def test_bars_stack_web_below_http_scaled_to_the_busiest_minute():
    now = 10_000.0
    result = chart(
        [(now - 90, KindCounts(1, 1, 0, 0)), (now - 30, KindCounts(2, 2, 2, 2))],
        now,
        KindCounts(0, 1, 0, 1),
    )
    assert result.peak == 8
    two_minutes_ago, last_minute, current = result.bars
    assert current.label == "now: 1 web, 1 HTTP" and current.x > last_minute.x > two_minutes_ago.x
    assert last_minute.web_height == last_minute.http_height == CHART_HEIGHT / 2
    assert last_minute.http_y == 0 and last_minute.web_y == CHART_HEIGHT / 2
    assert two_minutes_ago.web_height == CHART_HEIGHT / 4 and two_minutes_ago.http_height == 0


@pytest.mark.django_db
def test_a_sample_forgets_silent_http_peers_and_records_counts_only():
    info_hash = add_video("sampled")
    service.apply_policy()
    config = service.policy.config

    def announce(n: int, at: float) -> None:
        params = {
            b"info_hash": info_hash,
            b"peer_id": peer_id(n),
            b"port": b"6881",
            b"left": b"0",
        }
        message = parse_http_announce(params, f"10.1.1.{n}", config)
        with service.lock:
            service.tracker.handle_http_announce(message, at, service.rng)

    announce(1, service.now() - config.peer_ttl - 1)  # silent for longer than its TTL
    announce(2, service.now())
    take_sample()
    (sample,) = history.samples()
    assert sample.counts == {info_hash: KindCounts(0, 0, 1, 0)}
    with service.lock:
        assert service.tracker.store.get(info_hash, peer_id(1)) is None
