"""Relay between two tracker processes over Redis: raw pub/sub against Channels'
RedisPubSubChannelLayer, on the same messages (an offer of about 900 B of SDP, as webtorrent
sends), through a Redis of the benchmark's own.

A sender process sends N messages to a receiver process, with up to `--window` in flight (the
receiver acknowledges every 100 on a channel of its own), so both run saturated; sender,
receiver and redis-server share core 0 (as a tracker process and its Redis would), this script
waits on core 1. Reports messages per second and CPU microseconds per message (sender +
receiver + redis-server, from /proc). The tracker batches what it publishes in one pipeline per
loop turn (tracker/redis_link.py): "raw, batched" is that; "raw, one by one" awaits each
PUBLISH, which is what the channel layer's send() does.

    .venv/bin/python bench/relay_bench.py [--messages 20000]
"""

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OFFER = {
    "action": "announce",
    "offer": {"type": "offer", "sdp": "v=0 " + "a" * 880},
    "offer_id": "x" * 20,
    "peer_id": "-WW0208-000000000001",
    "info_hash": "y" * 20,
}
ACK_EVERY = 100


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the two roles, run as child processes ----------------------------------------------------


async def raw_receiver(url: str, count: int) -> None:
    import orjson
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe("relay:receiver")
    print("ready", flush=True)
    received = 0
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        orjson.loads(message["data"])
        received += 1
        if received % ACK_EVERY == 0 or received == count:
            await client.publish("relay:acks", str(received))
        if received == count:
            return


async def raw_sender(url: str, count: int, window: int, batched: bool) -> None:
    import orjson
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    acks = client.pubsub()
    await acks.subscribe("relay:acks")
    acked = 0
    sent = 0

    async def read_acks():
        nonlocal acked
        async for message in acks.listen():
            if message["type"] == "message":
                acked = int(message["data"])
                if acked == count:
                    return

    reader = asyncio.create_task(read_acks())
    while sent < count:
        if sent - acked >= window:
            await asyncio.sleep(0)
            continue
        batch = min(count - sent, window - (sent - acked), 64 if batched else 1)
        if batched:
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(batch):
                    pipe.publish("relay:receiver", orjson.dumps(OFFER))
                await pipe.execute()
        else:
            await client.publish("relay:receiver", orjson.dumps(OFFER))
        sent += batch
    await reader


async def layer_receiver(url: str, count: int) -> None:
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = RedisPubSubChannelLayer(hosts=[url])
    # The first receive subscribes the channel: subscribed before the sender starts.
    first = asyncio.create_task(layer.receive("relay.receiver"))
    await asyncio.sleep(0.3)
    print("ready", flush=True)
    await first
    received = 1
    while received < count:
        if received % ACK_EVERY == 0:
            await layer.send("relay.acks", {"type": "ack", "n": received})
        await layer.receive("relay.receiver")
        received += 1
    await layer.send("relay.acks", {"type": "ack", "n": received})
    await layer.flush()


async def layer_sender(url: str, count: int, window: int) -> None:
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = RedisPubSubChannelLayer(hosts=[url])
    acked = 0
    sent = 0

    async def read_acks():
        nonlocal acked
        while acked < count:
            acked = (await layer.receive("relay.acks"))["n"]

    reader = asyncio.create_task(read_acks())
    await asyncio.sleep(0.2)  # subscribed to the acks
    while sent < count:
        if sent - acked >= window:
            await asyncio.sleep(0)
            continue
        await layer.send("relay.receiver", {"type": "relay.offer", **OFFER})
        sent += 1
    await reader


def child(role: str, url: str, count: int, window: int) -> None:
    import uvloop

    runs = {
        "raw-receiver": lambda: raw_receiver(url, count),
        "raw-sender-batched": lambda: raw_sender(url, count, window, True),
        "raw-sender-single": lambda: raw_sender(url, count, window, False),
        "layer-receiver": lambda: layer_receiver(url, count),
        "layer-sender": lambda: layer_sender(url, count, window),
    }
    uvloop.run(runs[role]())


# --- the measurement --------------------------------------------------------------------------


def run(kind: str, url: str, redis_pid: int, count: int, window: int) -> dict:
    receiver_role = "layer-receiver" if kind == "layer" else "raw-receiver"
    sender_role = {"layer": "layer-sender", "raw-batched": "raw-sender-batched"}.get(
        kind, "raw-sender-single"
    )
    me = [sys.executable, __file__, "--child"]
    pinned = ["taskset", "-c", "0"]
    args = [url, str(count), str(window)]
    receiver = subprocess.Popen(
        [*pinned, *me, receiver_role, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert receiver.stdout.readline().strip() == "ready"
    redis_cpu = cpu_seconds(redis_pid)
    began = time.monotonic()
    sender = subprocess.Popen([*pinned, *me, sender_role, *args], cwd=ROOT)
    # CPU is read just before each child exits: poll until then.
    last = {}
    while receiver.poll() is None or sender.poll() is None:
        for name, process in (("receiver", receiver), ("sender", sender)):
            if process.poll() is None:
                with contextlib.suppress(OSError):
                    last[name] = cpu_seconds(process.pid)
        time.sleep(0.02)
    seconds = time.monotonic() - began
    cpu = last.get("receiver", 0) + last.get("sender", 0) + cpu_seconds(redis_pid) - redis_cpu
    return {"kind": kind, "msgs_per_s": count / seconds, "cpu_us": 1e6 * cpu / count}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    port = free_port()
    redis = subprocess.Popen(
        ["taskset", "-c", "0", "redis-server", "--port", str(port), "--save", "",
         "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    os.sched_setaffinity(0, {1})
    try:
        time.sleep(0.5)
        url = f"redis://127.0.0.1:{port}/0"
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            for kind in ("raw-batched", "raw-single", "layer"):
                result = run(kind, url, redis.pid, args.messages, args.window)
                if kind not in best or result["msgs_per_s"] > best[kind]["msgs_per_s"]:
                    best[kind] = result
        raw = best["raw-batched"]
        print(f"\n{args.messages} messages of {len(str(OFFER))} B, {args.window} in flight, "
              f"best of {args.rounds}; all on core 0\n")  # fmt: skip
        print("| relay over Redis | messages/s | CPU us/message | vs raw batched |")
        print("|---|---:|---:|---:|")
        for kind, label in (
            ("raw-batched", "raw pub/sub, pipelined (the tracker's)"),
            ("raw-single", "raw pub/sub, one PUBLISH per await"),
            ("layer", "Channels RedisPubSubChannelLayer"),
        ):
            result = best[kind]
            print(
                f"| {label} | {result['msgs_per_s']:,.0f} | {result['cpu_us']:.1f} | "
                f"{result['msgs_per_s'] / raw['msgs_per_s']:.2f} |"
            )
    finally:
        redis.terminate()
        redis.wait(10)


if __name__ == "__main__":
    main()
