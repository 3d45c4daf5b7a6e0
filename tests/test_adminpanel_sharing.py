"""The overview's line on sharing the tracker through Redis, as the tracker's real state has it:
no Redis, a Redis that keeps nothing on disk (HTTP peers shared), one that persists (HTTP peers
kept per process), one that does not answer. The tracker is started and stopped as the server
does (tracker.service.start/stop), on the Redis of services-up.sh or a redis-server of the
test's own."""

import asyncio
import html
import re
import time

import pytest

from tests.live import free_port
from tests.redis_cluster_helpers import SHARED_REDIS, OwnRedis
from tracker.service import service

pytestmark = pytest.mark.django_db(transaction=True)

OVERVIEW = "/admin-panel/"


def sharing_line(page: str) -> str | None:
    match = re.search(r'<p id="tracker-sharing">(.*?)</p>', page, re.S)
    return None if match is None else " ".join(html.unescape(match.group(1)).split())


def overview_while_sharing(client, settings, url: str, connected: bool = True) -> str | None:
    """The overview's sharing line while this process's tracker runs on `url`, once the link
    has connected (its scripts loaded, the server's persistence read)."""
    settings.REDIS_URL = url

    async def rendered():
        await service.start()
        try:
            deadline = time.monotonic() + 5
            while connected and not service.link.up:
                assert time.monotonic() < deadline, "the tracker never connected to Redis"
                await asyncio.sleep(0.05)
            if not connected:
                await asyncio.sleep(0.5)  # a few attempts failed meanwhile
            return await asyncio.to_thread(client.get, OVERVIEW)
        finally:
            await service.stop()

    reply = asyncio.run(rendered())
    assert reply.status_code == 200
    return sharing_line(reply.content.decode())


def test_without_redis_the_overview_says_nothing_of_sharing(admin_client, settings, fresh_tracker):
    settings.REDIS_URL = ""
    page = admin_client.get(OVERVIEW).content.decode()
    assert "In this server process" in page
    assert sharing_line(page) is None
    assert "Redis" not in page


def test_on_a_redis_that_keeps_nothing_on_disk_http_peers_are_shown_shared(
    admin_client, settings, fresh_tracker
):
    line = overview_while_sharing(admin_client, settings, SHARED_REDIS)
    assert line.startswith("Swarms shared through Redis with the instance's other tracker")
    assert "unreachable" not in line
    assert "HTTP peers are shared too: Redis keeps nothing on disk" in line
    assert "stay in the process" not in line


def test_on_a_redis_that_persists_http_peers_are_shown_kept_per_process(
    admin_client, settings, fresh_tracker, tmp_path
):
    redis = OwnRedis(tmp_path, persist=True)
    redis.start()
    try:
        line = overview_while_sharing(admin_client, settings, redis.url)
    finally:
        redis.stop()
    assert line.startswith("Swarms shared through Redis with the instance's other tracker")
    assert "unreachable" not in line
    assert "HTTP peers stay in the process that saw them: Redis persists to disk" in line
    assert "shared too" not in line


def test_a_redis_that_does_not_answer_is_shown_unreachable(admin_client, settings, fresh_tracker):
    line = overview_while_sharing(
        admin_client, settings, f"redis://127.0.0.1:{free_port()}/0", connected=False
    )
    assert "which is unreachable now: this process serves its own peers only" in line
    # Until it answers, no address goes there.
    assert "HTTP peers stay in the process that saw them" in line
