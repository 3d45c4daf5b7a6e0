"""kombu's filesystem transport, with unacknowledged messages kept on disk until acknowledged.

The stock transport deletes a message file the moment a worker reads it; the message then lives
only in the worker's memory until acknowledged (Celery's task_acks_late: after the task ran). A
worker stopped cleanly puts such messages back (kombu's QoS.restore_unacked_once), but one killed
with SIGKILL loses them: a check or a download that was running, a retry waiting for its
countdown. Redis keeps them in a hash and puts them back after the visibility timeout; this is
the same for the filesystem broker: a consuming process takes a message by renaming its file
into its own journal, `unacked/<pid>-<start time>/` (one rename: at no moment is the message
only in memory), deletes the entry when the message is acknowledged or rejected, and any process
opening a channel puts back the journals of processes that no longer exist. Process ids are
recycled, hence the start time (field 22 of /proc/PID/stat, in clock ticks since boot): a
journal is recovered only when no process with both exists. The broker's folders are on one
machine, so every consumer's process is visible there, and on one file system (all in
$DATA_DIR/celery), so the rename is atomic. A consumer killed just after taking a message it
would not acknowledge (Celery's remote control) has it delivered again, harmlessly.
"""

import contextlib
import logging
import os
import time
import uuid
from pathlib import Path
from queue import Empty

from kombu.transport import filesystem, virtual
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)


def process_start(pid: int) -> str | None:
    """The process's start time, or None if no process has this id ("" where there is no
    /proc, as on macOS: there only whether the id is in use counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return stat.rpartition(")")[2].split()[19]


def owner_alive(owner: str) -> bool:
    pid, _, start = owner.partition("-")
    return pid.isdigit() and process_start(int(pid)) == start


class JournalQoS(virtual.QoS):
    def __init__(self, channel, prefetch_count=0):
        super().__init__(channel, prefetch_count)
        self._owner_pid = os.getpid()
        self._journal = channel.unacked_folder / f"{self._owner_pid}-{process_start(os.getpid())}"

    @property
    def journal(self) -> Path:
        return self._journal

    def append(self, message, delivery_tag):
        # The message file, taken into the journal by Channel._get, becomes the entry: there
        # is no moment at which the message is only in this process's memory.
        entry = self._journal / str(delivery_tag)
        taken, self.channel.taken = self.channel.taken, None
        if taken is not None:
            os.replace(taken, entry)
        else:  # a message that did not come from _get
            self._journal.mkdir(parents=True, exist_ok=True)
            temporary = entry.with_suffix(".tmp")
            # Written whole, then renamed: a process killed mid-write leaves no torn entry.
            temporary.write_text(dumps(message.serializable()))
            os.replace(temporary, entry)
        super().append(message, delivery_tag)

    def ack(self, delivery_tag):
        super().ack(delivery_tag)
        (self._journal / str(delivery_tag)).unlink(missing_ok=True)

    def reject(self, delivery_tag, requeue=False):
        super().reject(delivery_tag, requeue)  # puts the message back first if requeue
        (self._journal / str(delivery_tag)).unlink(missing_ok=True)

    def restore_unacked_once(self, stderr=None):
        # Also run by kombu's finaliser in forked pool processes, which hold a copy of the
        # parent's state: only the owner may clear its journal.
        held = set(self._delivered) - self._dirty
        result = super().restore_unacked_once(stderr)
        if os.getpid() == self._owner_pid:
            for delivery_tag in held - set(self._delivered):  # put back by kombu just now
                (self._journal / str(delivery_tag)).unlink(missing_ok=True)
            if self.channel.taken is not None:  # a remote-control message, done with
                self.channel.taken.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self._journal.rmdir()  # only if empty
        return result


class Channel(filesystem.Channel):
    QoS = JournalQoS
    taken: Path | None = None  # the message file _get moved into the journal, until appended

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recover_dead_journals()

    def _get(self, queue):
        """Take the oldest message of `queue`: its file moves into this process's journal (kombu
        reads it into memory and deletes it). A consumer that acknowledges nothing (no_ack, as
        Celery's remote control) leaves it there until its next _get deletes it."""
        if self.taken is not None:
            self.taken.unlink(missing_ok=True)
            self.taken = None
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != f"{queue}.msg":
                continue
            self.qos.journal.mkdir(parents=True, exist_ok=True)
            taken = self.qos.journal / f"taking-{name}"
            try:
                # One rename, within $DATA_DIR/celery: of two consumers, one gets the file.
                os.replace(Path(self.data_folder_in) / name, taken)
            except FileNotFoundError:
                continue
            self.taken = taken
            return loads(taken.read_text())
        raise Empty()

    def _put(self, queue, payload, front: bool = False, **kwargs):
        # kombu creates the message file, then locks and writes it; a consumer in another
        # process may take it in between and read nothing (measured: the worker stopped with
        # "Unrecoverable error: JSONDecodeError" when beat published as it polled). Written
        # as `<name>.writing`, which no queue reads, then renamed: a reader sees all or nothing.
        # Consumers take the files in name order; "0_" sorts before every timestamp.
        stamp = 0 if front else round(time.monotonic() * 1000)
        name = f"{stamp}_{uuid.uuid4()}.{queue}.msg"
        final = Path(self.data_folder_out) / name
        temporary = final.with_name(f"{name}.writing")
        temporary.write_bytes(str_to_bytes(dumps(payload)))
        os.replace(temporary, final)

    def _restore_at_beginning(self, message):
        # A message given back (its pool process lost) runs next, not after everything queued
        # since (kombu's _restore would append it).
        self._put_back(message.serializable(), message.delivery_info)

    def _put_back(self, payload: dict, delivery_info: dict) -> None:
        payload["redelivered"] = True
        for queue in self._lookup(delivery_info["exchange"], delivery_info["routing_key"]):
            self._put(queue, payload, front=True)

    @property
    def unacked_folder(self) -> Path:
        return Path(self.transport_options["unacked_folder"])

    def recover_dead_journals(self) -> None:
        if not self.unacked_folder.is_dir():
            return
        for journal in self.unacked_folder.iterdir():
            if not journal.is_dir() or "." in journal.name or owner_alive(journal.name):
                continue
            # Renamed first, so that two processes never put the same journal back twice.
            taken = journal.with_name(f"{journal.name}.recovering-{os.getpid()}")
            try:
                journal.rename(taken)
            except OSError:
                continue
            self._restore_journal(taken)

    def _restore_journal(self, journal: Path) -> None:
        restored = 0
        for entry in journal.iterdir():
            if entry.suffix != ".tmp":
                with contextlib.suppress(ValueError, KeyError):
                    message = loads(entry.read_text())
                    self._put_back(message, message["properties"]["delivery_info"])
                    restored += 1
            entry.unlink(missing_ok=True)
        journal.rmdir()
        logger.warning(
            "broker: %d unacknowledged message(s) of a stopped worker put back in the queue",
            restored,
        )


class Transport(filesystem.Transport):
    Channel = Channel
