"""The tracker's bare pub/sub connections (tracker/redis_wire.py) against a real redis-server of
the test's own: every message arrives, in order, however fast it is published; a password is
sent; a Redis that stops answering is noticed and the connection closed."""

import asyncio

import pytest
import redis

from tests.redis_cluster_helpers import OwnRedis
from tracker import redis_wire
from tracker.redis_wire import Publisher, Subscription, command, connect


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_a_command_is_an_array_of_bulk_strings():
    assert (
        command("PUBLISH", "ch", b"a\r\nb")
        == b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$4\r\na\r\nb\r\n"
    )


async def subscribed(url: str, channels: list[str]) -> tuple[Subscription, list[bytes]]:
    received: list[bytes] = []
    subscription = await connect(
        url, lambda login: Subscription(login, channels, received.extend), timeout=5
    )
    return subscription, received


async def test_every_message_published_arrives_in_order_under_a_burst(own_redis):
    subscription, received = await subscribed(own_redis.url, ["one", "two"])
    publisher = await connect(own_redis.url, Publisher, timeout=5)
    body = b"x" * 1000
    # 20 MB in one go, without yielding: far more than a StreamReader's 128 KiB and than
    # Redis's 8 MB soft limit of a subscriber's output buffer.
    for n in range(20_000):
        assert publisher.publish([("one" if n % 2 else "two", b"%d:" % n + body)])
    deadline = asyncio.get_running_loop().time() + 30
    while len(received) < 20_000:
        assert asyncio.get_running_loop().time() < deadline, f"{len(received)} received"
        await asyncio.sleep(0.05)
    assert [int(payload.split(b":")[0]) for payload in received] == list(range(20_000))
    assert not subscription.lost.done()
    for connection in (subscription, publisher):
        connection.transport.abort()


async def test_a_password_in_the_url_is_sent_and_a_wrong_one_is_refused(own_redis):
    redis.Redis(port=own_redis.port).config_set("requirepass", "s3cret")
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/0"
    subscription, received = await subscribed(url, ["ch"])
    publisher = await connect(url, Publisher, timeout=5)
    publisher.publish([("ch", b"hello")])
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.02)
    assert received == [b"hello"]
    with pytest.raises(ConnectionError):
        await connect(f"redis://:wrong@127.0.0.1:{own_redis.port}/0", Publisher, timeout=5)
    for connection in (subscription, publisher):
        connection.transport.abort()


async def test_a_redis_that_stops_answering_is_noticed_and_the_connection_closed(
    own_redis, monkeypatch
):
    monkeypatch.setattr(redis_wire, "PING_SECONDS", 0.1)
    monkeypatch.setattr(redis_wire, "DEAD_SECONDS", 0.5)
    subscription, _ = await subscribed(own_redis.url, ["ch"])
    watching = asyncio.ensure_future(subscription.keep_alive())
    await asyncio.sleep(0.5)
    assert not watching.done()  # answered pings keep it open
    own_redis.process.send_signal(19)  # SIGSTOP: the socket stays open, nothing answers
    try:
        await asyncio.wait_for(watching, 5)
    finally:
        own_redis.process.send_signal(18)  # SIGCONT
    assert subscription.lost.done()


async def test_the_publisher_drops_instead_of_buffering_without_bound(own_redis, monkeypatch):
    monkeypatch.setattr(redis_wire, "PUBLISH_BUFFER_LIMIT", 64 * 1024)
    publisher = await connect(own_redis.url, Publisher, timeout=5)
    own_redis.process.send_signal(19)
    try:
        results = [publisher.publish([("ch", b"y" * 100_000)]) for _ in range(200)]
    finally:
        own_redis.process.send_signal(18)
    # The kernel's socket buffers take some; past them and the limit, messages are dropped.
    assert results[0] is True
    assert results[-1] is False
    assert publisher.transport.get_write_buffer_size() < 64 * 1024 + 200_000
    publisher.transport.abort()
