"""The embedded filesystem broker keeps a message until it is acknowledged: a consumer killed with
SIGKILL leaves its messages to the next process that opens a channel, a live one keeps them."""

import json
import subprocess
import sys

import pytest
from kombu import Connection, Queue

from instance.broker import owner_alive, process_start
from tests.live import ROOT

QUEUE = Queue("tasks", routing_key="tasks")  # on the default exchange


def options(tmp_path) -> dict:
    folders = {
        "data_folder_in": tmp_path / "broker",
        "data_folder_out": tmp_path / "broker",
        "processed_folder": tmp_path / "processed",
        "control_folder": tmp_path / "control",
        "unacked_folder": tmp_path / "unacked",
    }
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    return {key: str(folder) for key, folder in folders.items()}


def connect(tmp_path) -> Connection:
    return Connection(transport="instance.broker:Transport", transport_options=options(tmp_path))


def publish(tmp_path, *bodies: str) -> None:
    with connect(tmp_path) as connection:
        producer = connection.Producer()
        for body in bodies:
            producer.publish(body, routing_key="tasks", declare=[QUEUE])


def take(tmp_path):
    """The next message (None if there is none) on a new connection, left open."""
    connection = connect(tmp_path)
    return QUEUE.bind(connection.default_channel).get(no_ack=False), connection


KILLED_AFTER = {
    # A message delivered, its task running: never acknowledged.
    "delivered": "message, _ = take(Path(sys.argv[1]))\nprint(message.payload, flush=True)\n",
    # A message file taken from the queue, not yet handed over (kombu's own step, then killed).
    "taken": (
        "connection = connect(Path(sys.argv[1]))\n"
        "print(connection.default_channel._get('tasks')['body'] and 'check', flush=True)\n"
    ),
}


@pytest.mark.parametrize("step", KILLED_AFTER)
def test_a_message_held_by_a_killed_consumer_is_delivered_again(tmp_path, step):
    publish(tmp_path, "check")
    consumer = (
        "import os, signal, sys\n"
        "from tests.test_broker_journal import connect, take\n"
        "from pathlib import Path\n"
        + KILLED_AFTER[step]
        + "os.kill(os.getpid(), signal.SIGKILL)\n"  # before any acknowledgement
    )
    killed = subprocess.run(
        [sys.executable, "-c", consumer, str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert killed.returncode == -9 and killed.stdout == "check\n", killed.stderr
    message, connection = take(tmp_path)
    with connection:
        assert message.payload == "check"
        message.ack()
    assert take(tmp_path)[0] is None
    assert list((tmp_path / "unacked").iterdir()) == []


def test_a_message_held_by_a_live_consumer_is_not_taken_by_another(tmp_path):
    publish(tmp_path, "download")
    message, holder = take(tmp_path)
    with holder:
        assert message.payload == "download"
        (journal,) = (tmp_path / "unacked").iterdir()
        assert owner_alive(journal.name)
        assert [json.loads(entry.read_text())["body"] for entry in journal.iterdir()]
        assert take(tmp_path)[0] is None  # this process is alive: nothing to recover
        message.ack()
        assert list(journal.iterdir()) == []


def test_a_message_given_back_runs_before_the_other_queued_one(tmp_path):
    publish(tmp_path, "first", "second")  # in one millisecond, kombu's order is the uuid's
    message, connection = take(tmp_path)
    with connection:
        given_back = message.payload
        message.reject(requeue=True)  # what the worker does when its pool process is lost
        again = QUEUE.bind(connection.default_channel).get(no_ack=False)
        assert again.payload == given_back
        again.ack()


def test_a_recycled_process_id_does_not_keep_a_dead_consumers_journal():
    import os

    start = process_start(os.getpid())
    assert owner_alive(f"{os.getpid()}-{start}")
    assert not owner_alive(f"{os.getpid()}-{int(start) - 1}")  # same id, another process
    assert process_start(2**22 + 1) is None  # above the kernel's pid_max: nobody
