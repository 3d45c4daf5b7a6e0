"""Swarm sizes over the last hour: counts only, in memory, and silent HTTP peers forgotten."""

from urllib.parse import quote_from_bytes

import pytest
from asgiref.sync import async_to_sync

from adminpanel.swarm_overview import CHART_HEIGHT, chart
from tests.tracker_helpers import add_video, peer_id
from tracker.core import KindCounts
from tracker.service import service
from tracker.swarm_history import SAMPLES_KEPT, SwarmHistory, history


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
def test_the_sweep_forgets_silent_http_peers_and_samples_counts_only():
    info_hash = add_video("sampled")
    service.reload()
    config = service.policy.config

    def announce(n: int, at: float) -> None:
        query = (
            f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id(n))}"
            "&port=6881&left=0"
        ).encode()
        with service.lock:  # exempt (no source key), at a time of the test's choosing
            service.core.announce_http(query, f"10.1.1.{n}", None, at, service.rng)

    announce(1, service.now() - config.peer_ttl - 1)  # silent for longer than its TTL
    announce(2, service.now())
    async_to_sync(service.sweep)()
    (sample,) = history.samples()
    assert sample.counts == {info_hash: KindCounts(0, 0, 1, 0)}
    assert service.stats()["http_peers"] == 1
