"""The served WebSocket protocol: uvicorn's sans-I/O one with lighter queue and flag."""

import asyncio

import pytest
from uvicorn.config import Config

from instance.management.commands.serve import server_command
from instance.ws_protocol import LeanWebSocketProtocol, MessageQueue, WritableFlag


def test_serve_runs_uvicorn_with_the_lean_protocol_and_uvicorn_can_load_it():
    command = server_command("127.0.0.1", 8000)
    ws = command[command.index("--ws") + 1]
    config = Config("instance.asgi:application", ws=ws)
    config.ws_protocol_class = None
    config.load()
    assert config.ws_protocol_class is LeanWebSocketProtocol


async def test_a_message_queue_hands_messages_over_in_order_to_a_waiting_reader():
    queue = MessageQueue()
    reader = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not reader.done() and queue.empty()
    queue.put_nowait("first")
    queue.put_nowait("second")
    assert await reader == "first"
    assert queue.qsize() == 1 and await queue.get() == "second" and queue.empty()


async def test_a_cancelled_reader_leaves_the_queue_usable():
    queue = MessageQueue()
    reader = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    queue.put_nowait("after")
    assert await asyncio.wait_for(queue.get(), 1) == "after"


async def test_the_writable_flag_holds_senders_until_it_is_set_again():
    flag = WritableFlag()
    flag.set()
    assert await flag.wait() is True
    flag.clear()
    senders = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(sender.done() for sender in senders)
    flag.set()
    assert await asyncio.gather(*senders) == [True] * 3
