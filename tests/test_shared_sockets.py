"""The limit of sockets per source across tracker processes, without I/O: each process's core
shares its guard (as with PEERVEIL_REDIS_URL), and the test hands one process's guard events
to the others as the Redis link's broadcast does. Live: test_tracker_redis_sockets_live.py."""

from tracker.core import GuardConfig, InMemorySwarmStore, Policy, TrackerCore
from tracker.core.guard import ALARM_SOCKETS, REFUSED_SOCKETS
from tracker.core.sockets_elsewhere import FORGET_AFTER_SECONDS, SNAPSHOT_SECONDS

SPY = "198.51.100.20"


class Process:
    def __init__(self, name: str, **guard) -> None:
        self.name = name
        limits = {"max_sockets": 4, "alarm_sockets": 4, "breaches_before_block": 50, **guard}
        self.core = TrackerCore(InMemorySwarmStore(), Policy(guard=GuardConfig(**limits)))
        self.core.share_guard()
        self.meters = []

    def open(self, key: str = SPY, now: float = 0.0):
        """The Result of opening a socket; an admitted one's meter is kept."""
        meter, result = self.core.open_socket(key, now)
        if meter is not None:
            self.meters.append(meter)
        return result

    def close(self, now: float = 0.0) -> None:
        self.core.disconnect(object(), self.meters.pop(), now)


def tell(sender: Process, *others: Process, now: float = 0.0, table: bool = False) -> None:
    """The sender's guard events, replayed by the others (the link's flush and listener)."""
    every, some = sender.core.guard_events(now, table)
    for other in others:
        other.core.replay_guard(every + some.get(other.name, []), now, sender.name)


def test_one_process_alone_holds_the_limit_of_sockets_per_source():
    a = Process("a")
    assert not any(a.open().refused for _ in range(4))
    assert a.open().refused


def test_an_address_with_sockets_on_two_processes_meets_one_limit():
    a, b = Process("a"), Process("b")
    for process, other in ((a, b), (b, a), (a, b)):
        assert not process.open().refused
        tell(process, other)
    # Three open: the fourth is admitted on either process, then none is, on either.
    assert not b.open().refused
    tell(b, a)
    assert a.open().refused
    assert b.open().refused
    assert not b.open("198.51.100.21").refused  # another address has its own limit
    # A socket closed on one process frees a place on the other.
    a.close()
    tell(a, b)
    assert not b.open().refused
    tell(b, a)
    assert a.open().refused


def test_a_refused_socket_gets_the_same_refusal_as_in_one_process():
    a, b = Process("a", max_sockets=2, alarm_sockets=2), Process("b", max_sockets=2)
    a.open()
    tell(a, b)
    b.open()
    tell(b, a)
    refusal = a.core.guard.open_socket(SPY, 0.0)[1]
    assert refusal.refusal == REFUSED_SOCKETS


def test_the_socket_alarm_rings_on_the_process_where_the_sockets_of_both_reach_it():
    a, b = Process("a", max_sockets=8, alarm_sockets=3), Process("b", max_sockets=8)
    assert a.open().alarms == () and b.open().alarms == ()
    tell(a, b)
    tell(b, a)
    alarms = a.open().alarms
    assert [(alarm.kind, alarm.count) for alarm in alarms] == [(ALARM_SOCKETS, 3)]


def test_a_lost_close_is_corrected_by_the_next_table_of_open_sockets():
    a, b = Process("a"), Process("b")
    for _ in range(4):
        a.open()
    tell(a, b)
    assert b.open().refused
    a.close()
    a.close()
    a.core.guard_events(1.0)  # the closes are lost on the way (a Redis outage)
    assert b.open(now=1.0).refused
    tell(a, b, now=SNAPSHOT_SECONDS, table=True)
    assert not b.open(now=SNAPSHOT_SECONDS).refused
    assert not b.open(now=SNAPSHOT_SECONDS).refused
    assert b.open(now=SNAPSHOT_SECONDS).refused


def test_a_table_replaces_counts_that_would_otherwise_stay_stuck():
    a, b = Process("a"), Process("b")
    for _ in range(3):
        a.open()
    tell(a, b, table=True)
    # a restarts under the same name with nothing open (its closes never sent): its first
    # table says so.
    a = Process("a")
    tell(a, b, now=1.0, table=True)
    assert not any(b.open(now=1.0).refused for _ in range(4))


def test_the_sockets_of_a_process_no_longer_heard_from_are_forgotten():
    a, b = Process("a"), Process("b")
    for _ in range(4):
        a.open()
    tell(a, b, table=True)
    assert b.open(now=FORGET_AFTER_SECONDS - 0.1).refused
    # a died (kill -9): no close, no table since.
    assert not b.open(now=FORGET_AFTER_SECONDS + 0.1).refused
    b.core.expire(FORGET_AFTER_SECONDS + 0.1)
    assert b.core.guard.elsewhere.count(SPY, 0.0) == 0


def test_a_process_that_keeps_sending_tables_is_never_forgotten():
    a, b = Process("a"), Process("b")
    for _ in range(4):
        a.open()
    now = 0.0
    while now < 4 * FORGET_AFTER_SECONDS:
        tell(a, b, now=now, table=True)
        now += SNAPSHOT_SECONDS
        assert b.open(now=now).refused


def test_sockets_counted_under_the_hash_count_for_the_address_once_it_is_known():
    a, b = Process("a"), Process("b")
    for _ in range(4):
        a.open("hash-of-spy")  # how b's events name an address b has not seen yet
    tell(a, b, table=True)
    assert not b.open(SPY).refused
    b.core.adopt_source("hash-of-spy", SPY)
    # The place b's own socket took, plus a's four: over the limit.
    assert b.open(SPY).refused


def test_a_process_sharing_nothing_records_no_socket_events():
    alone = TrackerCore(InMemorySwarmStore())
    meter, _ = alone.open_socket(SPY, 0.0)
    alone.disconnect(object(), meter, 0.0)
    assert alone.guard.shared is None and alone.guard.elsewhere is None
