"""Two tracker processes' cores on shared swarms, without I/O: each core's SharedSwarmStore
(tracker/redis_store.py) journals its own peers, and the test hands one process's journal to
the other as its replica, as the Redis link does after a write and a refresh. The link itself,
and Redis, are tested live (test_tracker_redis_live.py)."""

import random

import orjson

from tracker.core import (
    P2P_DISABLED,
    GuardConfig,
    Policy,
    RemoteAnswer,
    RemoteConnection,
    RemoteOffer,
    TrackerCore,
    wire_id,
)
from tracker.core.shared_guard import SIGHTING_SHARE_OF_WINDOW
from tracker.redis_layout import pseudonyms
from tracker.redis_store import REMOVE_OWN, SharedSwarmStore

VIDEO = bytes(range(100, 120))
VIDEOS = [bytes([n]) * 20 for n in range(1, 30)]
PSEUDONYM = pseudonyms("the instance's secret key")  # every process of the instance derives it


class Socket:
    def __init__(self, number: int) -> None:
        self.relay_id = number


class Process:
    def __init__(self, name: str, policy: Policy) -> None:
        self.name = name
        self.store = SharedSwarmStore(name, PSEUDONYM)
        self.core = TrackerCore(self.store, policy)
        self.core.share_guard()
        self.rng = random.Random(name)

    def announce(self, socket, peer: bytes, offers: int = 0, now: float = 0.0, **fields):
        message = {
            "action": "announce",
            "info_hash": wire_id(VIDEO),
            "peer_id": wire_id(peer),
            "numwant": offers,
            "left": 10,
            "event": "started",
            "offers": [
                {"offer": {"type": "offer", "sdp": "sdp"}, "offer_id": wire_id(bytes([n]) * 20)}
                for n in range(offers)
            ],
        }
        message.update(fields)
        return self.core.receive_web(socket, None, orjson.dumps(message), now, self.rng).messages


def own_peers(process: Process) -> dict:
    """What Redis holds of this process's web peers after its journal was written, by
    pseudonym."""
    web = {}
    for (info_hash, pseudonym), change in process.store.take_journal()[0].items():
        if change != REMOVE_OWN and info_hash == VIDEO:
            number = change.connection.relay_id
            web[pseudonym] = (process.name, number, change.seeder, change.source)
    return web


def share(a: Process, b: Process, now: float = 0.0) -> None:
    a_web, b_web = own_peers(a), own_peers(b)
    b.store.replace_replica(VIDEO, a_web, {}, 0, now)
    a.store.replace_replica(VIDEO, b_web, {}, 0, now)


def tell_others(process: Process, processes: list[Process], now: float) -> None:
    """What the link sends: the requests every other process counts, and those only some do
    (a WebSocket message, to the processes holding a socket of its source)."""
    every, some = process.core.guard_events(now)
    for other in processes:
        if other is not process:
            other.core.replay_guard(every + some.get(other.name, []), now, process.name)


def processes(count: int, min_viewers: int = 1, **guard) -> list[Process]:
    policy = Policy(
        guard=GuardConfig(**guard),
        p2p=dict.fromkeys([VIDEO, *VIDEOS], True),
        min_viewers={VIDEO: min_viewers},
    )
    return [Process(letter * 12, policy) for letter in "abcdefgh"[:count]]


def two_processes(min_viewers: int = 1, **guard) -> tuple[Process, Process]:
    a, b = processes(2, min_viewers, **guard)
    return a, b


def pid(n: int) -> bytes:
    return f"-WW0208-{n:012d}".encode()


def test_a_scrape_on_either_process_counts_the_peers_of_both():
    a, b = two_processes()
    for n in range(4):
        a.announce(Socket(n), pid(n))
    for n in range(4, 10):
        b.announce(Socket(n), pid(n))
    share(a, b)
    assert a.core.swarms.store.counts(VIDEO)[:2] == (0, 10)
    assert b.core.swarms.store.counts(VIDEO)[:2] == (0, 10)


def test_an_offer_for_a_peer_of_the_other_process_goes_there_and_its_answer_comes_back():
    a, b = two_processes()
    on_a, on_b = Socket(1), Socket(2)
    a.announce(on_a, pid(1))
    b.announce(on_b, pid(2))
    share(a, b)
    sent = a.announce(on_a, pid(1), offers=1)
    (recipient, offer) = next((to, m) for to, m in sent if type(m) is RemoteOffer)
    assert recipient == RemoteConnection("bbbbbbbbbbbb", 2)
    assert offer.target == PSEUDONYM(VIDEO, pid(2)) and offer.sender is on_a
    # Process B receives it for its socket, whose peer it knows by that pseudonym, and sends
    # it on, pending for the answer.
    target = b.store.peer_id_of(VIDEO, offer.target)
    assert target == pid(2)
    delivered = b.core.offer_from_elsewhere(
        on_b, target, RemoteConnection("aaaaaaaaaaaa", 1), offer.offer, 0.0
    )
    assert delivered.messages == ((on_b, offer.offer),)
    answer = {
        "action": "announce",
        "info_hash": wire_id(VIDEO),
        "peer_id": wire_id(pid(2)),
        "to_peer_id": wire_id(pid(1)),
        "offer_id": wire_id(offer.offer.offer_id),
        "answer": {"type": "answer", "sdp": "answer"},
    }
    back = b.core.receive_web(on_b, None, orjson.dumps(answer), 0.0, b.rng).messages
    ((recipient, relayed),) = back
    assert recipient == RemoteConnection("aaaaaaaaaaaa", 1) and type(relayed) is RemoteAnswer
    # Process A checks the offering peer is still on that socket, and sends it on.
    assert a.core.answer_from_elsewhere(on_a, relayed.to_peer_id, relayed.answer).messages == (
        (on_a, relayed.answer),
    )
    # A second answer to the same offer has nothing pending any more.
    again = b.core.receive_web(on_b, None, orjson.dumps(answer), 0.0, b.rng).messages
    assert again[0][1].reason == "no pending offer"


def test_an_answer_from_a_socket_the_offer_was_not_sent_to_is_refused():
    a, b = two_processes()
    on_a, on_b, stranger = Socket(1), Socket(2), Socket(3)
    a.announce(on_a, pid(1))
    b.announce(on_b, pid(2))
    b.announce(stranger, pid(3))
    answer = {
        "action": "announce",
        "info_hash": wire_id(VIDEO),
        "peer_id": wire_id(pid(3)),
        "to_peer_id": wire_id(pid(1)),
        "offer_id": wire_id(b"\x00" * 20),
        "answer": {"type": "answer", "sdp": "answer"},
    }
    refused = b.core.receive_web(stranger, None, orjson.dumps(answer), 0.0, b.rng).messages
    assert refused[0][1].reason == "no pending offer"
    # Nor can a socket answer as a peer of the other process.
    answer["peer_id"] = wire_id(pid(1))
    refused = b.core.receive_web(stranger, None, orjson.dumps(answer), 0.0, b.rng).messages
    assert refused[0][1].reason == "unknown peer_id"


def test_a_peer_of_the_other_process_can_be_neither_taken_nor_stopped():
    a, b = two_processes()
    victim, thief = Socket(1), Socket(2)
    a.announce(victim, pid(1))
    share(a, b)
    refused = b.announce(thief, pid(1))
    assert refused[0][1].reason == "peer_id is in use by another connection"
    refused = b.announce(thief, pid(1), event="stopped")
    assert refused[0][1].reason == "peer_id is in use by another connection"
    assert b.core.swarms.store.counts(VIDEO)[:2] == (0, 1)


def test_a_peer_id_held_in_another_swarm_on_the_other_process_answers_and_stops_nothing():
    # A peer_id is held across processes per swarm: a socket of b may hold the victim's
    # peer_id in another swarm, and with it neither stop the victim nor answer as it.
    a, b = two_processes()
    victim, offerer, thief = Socket(1), Socket(2), Socket(3)
    a.announce(victim, pid(1))
    b.announce(offerer, pid(2))
    joined = b.announce(thief, pid(1), info_hash=wire_id(VIDEOS[0]))
    assert not hasattr(joined[0][1], "reason")  # another swarm: the peer_id is free there
    share(a, b)
    for event in ("started", "stopped"):
        refused = b.announce(thief, pid(1), event=event)
        assert refused[0][1].reason == "peer_id is in use by another connection"
    assert b.core.swarms.store.counts(VIDEO)[:2] == (0, 2)  # the victim is still there
    sent = b.announce(offerer, pid(2), offers=1, now=100.0)
    (recipient, offer) = next((to, m) for to, m in sent if type(m) is RemoteOffer)
    assert recipient == RemoteConnection("aaaaaaaaaaaa", 1) and offer.target == PSEUDONYM(
        VIDEO, pid(1)
    )
    answer = {
        "action": "announce",
        "info_hash": wire_id(VIDEO),
        "peer_id": wire_id(pid(1)),
        "to_peer_id": wire_id(pid(2)),
        "offer_id": wire_id(offer.offer.offer_id),
        "answer": {"type": "answer", "sdp": "answer"},
    }
    refused = b.core.receive_web(thief, None, orjson.dumps(answer), 100.0, b.rng).messages
    assert [(to, m.reason) for to, m in refused] == [(thief, "no pending offer")]
    # The victim, on a, still answers it.
    assert a.store.peer_id_of(VIDEO, offer.target) == pid(1)
    assert b.store.peer_id_of(VIDEO, offer.target) is None  # the thief's is in another swarm
    a.core.offer_from_elsewhere(
        victim, pid(1), RemoteConnection("bbbbbbbbbbbb", 2), offer.offer, 100.0
    )
    back = a.core.receive_web(victim, None, orjson.dumps(answer), 100.0, a.rng).messages
    assert [(to, type(m)) for to, m in back] == [
        (RemoteConnection("bbbbbbbbbbbb", 2), RemoteAnswer)
    ]


def test_a_claim_redis_finds_taken_is_withdrawn_and_refused():
    # Two sockets claimed one peer_id on two processes before either saw the other's: the
    # write script keeps the first, and the second process is told (taken_elsewhere).
    a, _ = two_processes()
    late = Socket(7)
    a.announce(late, pid(7))
    # The script returns the pseudonym it refused; this process knows whose it is.
    result = a.core.taken_elsewhere(VIDEO, a.store.peer_id_of(VIDEO, PSEUDONYM(VIDEO, pid(7))))
    assert result.messages[0][0] is late
    assert result.messages[0][1].reason == "peer_id is in use by another connection"
    assert a.core.swarms.store.counts(VIDEO)[:2] == (0, 0)


def test_a_web_peer_is_in_redis_under_a_keyed_pseudonym_only_its_process_maps_back():
    a, b = two_processes()
    on_a = Socket(1)
    a.announce(on_a, pid(1))
    written = own_peers(a)
    (stored,) = written
    # As wide as a peer_id, the same in every process of the instance, another in another
    # instance (another secret key).
    assert stored == PSEUDONYM(VIDEO, pid(1)) != pid(1) and len(stored) == len(pid(1))
    assert pseudonyms("another instance's key")(VIDEO, pid(1)) != stored
    assert PSEUDONYM(VIDEOS[0], pid(1)) != stored  # one session is another name in each swarm
    b.store.replace_replica(VIDEO, written, {}, 0, 0.0)
    # b knows the peer by its pseudonym only, yet finds it held when given its peer_id.
    sampled = b.store.sample_web(VIDEO, 5, random.Random(1), exclude=b"")
    assert [peer.peer_id for peer in sampled] == [stored]
    assert b.store.get(VIDEO, pid(1)).connection == RemoteConnection("aaaaaaaaaaaa", 1)
    assert b.store.peer_id_of(VIDEO, stored) is None
    assert a.store.peer_id_of(VIDEO, stored) == pid(1)
    # Redis listing a's own peer back, or (a claim it refused) as b's: a's peer, counted once.
    a.store.replace_replica(VIDEO, written, {}, 0, 0.0)
    a.store.replace_replica(VIDEO, {stored: ("bbbbbbbbbbbb", 9, False, None)}, {}, 0, 0.0)
    assert a.store.counts(VIDEO)[:2] == (0, 1) and a.store.get(VIDEO, pid(1)).connection is on_a
    a.store.resync()  # Redis lost its data: written again, under the pseudonym
    assert list(a.store.take_journal()[0]) == [(VIDEO, stored)]
    a.announce(on_a, pid(1), event="stopped")
    assert a.store.take_journal()[0] == {(VIDEO, stored): REMOVE_OWN}
    assert a.store.peer_id_of(VIDEO, stored) is None
    # Expired, or its swarm dropped: forgotten too.
    a.announce(on_a, pid(1), now=1.0)
    a.core.swarms.expire(1000.0)
    assert a.store.take_journal()[0][(VIDEO, stored)] == REMOVE_OWN
    a.announce(on_a, pid(2), now=1000.0)
    a.core.switch({VIDEO: False})
    assert a.store.own_web == {} and a.store.journaled == {}


def test_an_own_peer_is_hashed_at_its_first_announce_only():
    hashed = []

    def pseudonym(info_hash: bytes, peer_id: bytes) -> bytes:
        hashed.append(peer_id)
        return PSEUDONYM(info_hash, peer_id)

    a, b = two_processes()
    a.store.pseudonym = pseudonym
    b.announce(Socket(2), pid(2))
    share(a, b)  # a has a replica of the swarm: a peer_id new there is looked for in it
    socket = Socket(1)
    a.announce(socket, pid(1))
    assert set(hashed) == {pid(1)}
    hashed.clear()
    for n in range(1, 10):
        a.announce(socket, pid(1), now=float(n), left=n % 2)
    a.store.take_journal()
    a.announce(socket, pid(1), now=10.0, event="stopped")
    a.store.take_journal()
    assert hashed == []


def test_the_replica_drops_peers_the_other_process_no_longer_has():
    a, b = two_processes()
    for n in range(3):
        a.announce(Socket(n), pid(n))
    share(a, b)
    assert b.core.swarms.store.counts(VIDEO)[:2] == (0, 3)
    b.store.replace_replica(VIDEO, {}, {}, 0, 1.0)  # a died: its peers are gone from Redis
    assert b.core.swarms.store.counts(VIDEO)[:2] == (0, 0)
    assert b.store.sample_web(VIDEO, 5, random.Random(1), exclude=b"") == []


def test_a_crawler_split_over_two_processes_is_blocked_after_as_many_refusals_as_on_one():
    def refusals_until_blocked(processes, key):
        for n, info_hash in enumerate(VIDEOS):
            process = processes[n % len(processes)]
            scrape = orjson.dumps({"action": "scrape", "info_hash": wire_id(info_hash)})
            socket = Socket(100 + n)
            meter, _ = process.core.open_socket(key, 0.0)
            messages = process.core.receive_web(socket, meter, scrape, 0.0, process.rng).messages
            process.core.disconnect(socket, meter, 0.0)
            # The other processes count it too (the link's broadcast).
            tell_others(process, processes, 0.0)
            reason = messages[0][1].reason if hasattr(messages[0][1], "reason") else None
            if reason and reason.startswith("blocked"):
                return n
        return None

    alone = refusals_until_blocked(list(two_processes())[:1], "198.51.100.7")
    split = refusals_until_blocked(list(two_processes()), "198.51.100.7")
    assert alone is not None and split == alone


def test_p2p_switched_off_empties_the_replica_and_is_written_to_redis_as_a_drop():
    a, b = two_processes()
    a.announce(Socket(1), pid(1))
    share(a, b)
    b.core.switch({VIDEO: False})
    assert b.core.swarms.store.counts(VIDEO)[:2] == (0, 0)
    assert VIDEO in b.store.take_journal()[1]
    refused = b.announce(Socket(2), pid(2))
    assert refused[0][1].reason == P2P_DISABLED


def test_an_address_flooding_from_sockets_on_two_processes_meets_one_message_budget():
    def messages_until_blocked(processes):
        key = "198.51.100.9"
        meters = [(p, Socket(1), p.core.open_socket(key, 0.0)[0]) for p in processes]
        scrape = orjson.dumps({"action": "scrape", "info_hash": wire_id(VIDEO)})
        for n in range(200):
            process, socket, meter = meters[n % len(meters)]
            messages = process.core.receive_web(socket, meter, scrape, n / 100, process.rng)
            tell_others(process, processes, n / 100)
            if getattr(messages.messages[0][1], "reason", "").startswith("blocked"):
                return n
        return None

    limits = {"source_messages_per_minute": 20, "breaches_before_block": 3}
    alone = messages_until_blocked(list(two_processes(**limits))[:1])
    split = messages_until_blocked(list(two_processes(**limits)))
    assert alone is not None and split == alone


def test_the_crowd_threshold_counts_the_viewers_of_every_process_and_an_address_once():
    def offers_relayed(b_address: str) -> int:
        a, b = two_processes(min_viewers=3)
        sockets = []
        for n, (process, address) in enumerate([(a, "10.0.0.1"), (a, "10.0.0.2"), (b, b_address)]):
            socket = Socket(n)
            meter, _ = process.core.open_socket(address, 0.0)
            message = orjson.dumps({
                "action": "announce", "info_hash": wire_id(VIDEO), "peer_id": wire_id(pid(n)),
                "numwant": 5, "left": 10, "event": "started",
                "offers": [{"offer": {"type": "offer", "sdp": "sdp"},
                            "offer_id": wire_id(bytes([k]) * 20)} for k in range(5)],
            })  # fmt: skip
            sockets.append((process, socket, meter, message))
            process.core.receive_web(socket, meter, message, 0.0, process.rng)
        share(a, b)
        process, socket, meter, message = sockets[0]
        sent = process.core.receive_web(socket, meter, message, 100.0, process.rng).messages
        return sum(1 for _, m in sent if type(m) in (RemoteOffer,) or hasattr(m, "offer"))

    # Two viewers on one process and a third on the other: three, P2P on.
    assert offers_relayed("10.0.0.3") == 2
    # The third is the first one's address again: two viewers, below the threshold.
    assert offers_relayed("10.0.0.1") == 0


def test_a_peer_announcing_again_unchanged_is_written_again_only_after_rewrite_after():
    a, _ = two_processes()
    a.store.rewrite_after = 120.0
    socket = Socket(1)
    a.announce(socket, pid(1), now=0.0)
    assert list(a.store.take_journal()[0]) == [(VIDEO, PSEUDONYM(VIDEO, pid(1)))]
    a.announce(socket, pid(1), now=60.0)
    assert a.store.take_journal()[0] == {}  # nothing new for Redis
    a.announce(socket, pid(1), now=61.0, left=0)  # now a seeder: written at once
    assert a.store.take_journal()[0][(VIDEO, PSEUDONYM(VIDEO, pid(1)))].seeder
    a.announce(socket, pid(1), now=150.0, left=0)
    assert a.store.take_journal()[0] == {}
    a.announce(socket, pid(1), now=182.0, left=0)  # 121 s after the last write
    assert list(a.store.take_journal()[0]) == [(VIDEO, PSEUDONYM(VIDEO, pid(1)))]


def test_a_peer_that_left_and_returns_is_written_again():
    a, _ = two_processes()
    a.store.rewrite_after = 120.0
    socket = Socket(1)
    a.announce(socket, pid(1), now=0.0)
    a.store.take_journal()
    a.announce(socket, pid(1), now=1.0, event="stopped")
    assert a.store.take_journal()[0] == {(VIDEO, PSEUDONYM(VIDEO, pid(1))): REMOVE_OWN}
    a.announce(socket, pid(1), now=2.0)
    assert list(a.store.take_journal()[0]) == [(VIDEO, PSEUDONYM(VIDEO, pid(1)))]


def test_a_message_is_counted_only_by_the_processes_holding_a_socket_of_its_source():
    a, b = two_processes()
    meter, _ = a.core.open_socket("198.51.100.20", 0.0)
    tell_others(a, [a, b], 0.0)  # b learns of the socket
    scrape = orjson.dumps({"action": "scrape", "info_hash": wire_id(VIDEO)})
    a.core.receive_web(Socket(1), meter, scrape, 0.1, a.rng)
    every, some = a.core.guard_events(0.1)
    assert not any(kind == "m" for _, kind, _ in every)
    assert some == {}  # b holds no socket of that source: nothing for it to count
    b.core.open_socket("198.51.100.20", 0.2)
    tell_others(b, [a, b], 0.2)  # a learns of it
    a.core.receive_web(Socket(1), meter, scrape, 0.3, a.rng)
    every, some = a.core.guard_events(0.3)
    # The message, then what is left after it: b lowers its budget to that, counting the
    # message once.
    assert [kind for _, kind, _ in some[b.name]] == ["m", "l"]


def test_a_source_opening_a_socket_on_another_process_meets_what_is_left_of_its_budget():
    def refused_on_b_after(messages_on_a: int) -> int:
        a, b = two_processes(source_messages_per_minute=20, breaches_before_block=100)
        key = "198.51.100.21"
        on_a, _ = a.core.open_socket(key, 0.0)
        scrape = orjson.dumps({"action": "scrape", "info_hash": wire_id(VIDEO)})
        for _ in range(messages_on_a):
            a.core.receive_web(Socket(1), on_a, scrape, 0.0, a.rng)
        tell_others(a, [a, b], 0.0)
        on_b, _ = b.core.open_socket(key, 0.0)
        tell_others(b, [a, b], 0.0)  # the socket on b, told to a
        tell_others(a, [a, b], 0.0)  # a's answer: what is left of the budget
        for n in range(40):
            out = b.core.receive_web(Socket(2), on_b, scrape, 0.0, b.rng).messages
            if getattr(out[0][1], "reason", None):
                return n
        return 40

    assert refused_on_b_after(0) == 20
    assert refused_on_b_after(15) == 5


def test_a_flood_block_holds_on_a_process_without_a_socket_of_the_address():
    a, b, c = everyone = processes(3, source_messages_per_minute=20, breaches_before_block=3)
    key = "198.51.100.22"
    meters = [(p, Socket(1), p.core.open_socket(key, 0.0)[0]) for p in (a, b)]
    for process in everyone:
        tell_others(process, everyone, 0.0)
    scrape = orjson.dumps({"action": "scrape", "info_hash": wire_id(VIDEO)})
    for n in range(200):
        process, socket, meter = meters[n % 2]
        messages = process.core.receive_web(socket, meter, scrape, n / 100, process.rng)
        tell_others(process, everyone, n / 100)
        if getattr(messages.messages[0][1], "reason", "").startswith("blocked"):
            break
    # c holds no socket of the address, so no WebSocket message of it went there; the
    # refusals did, and c blocks it too: its HTTP requests are refused there as well.
    refused = c.core.scrape_http(b"info_hash=" + b"%01" * 20, key, n / 100)
    assert refused.reply.reason.startswith("blocked")


def test_a_video_asked_about_again_is_told_to_the_others_once_per_eighth_of_the_window():
    a, b = two_processes(max_videos=2, video_burst=2)
    meter, _ = a.core.open_socket("198.51.100.30", 0.0)
    again = a.core.guard.config.video_window * SIGHTING_SHARE_OF_WINDOW

    def told(info_hash: bytes, now: float) -> int:
        scrape = orjson.dumps({"action": "scrape", "info_hash": wire_id(info_hash)})
        a.core.receive_web(Socket(1), meter, scrape, now, a.rng)
        every, _ = a.core.guard_events(now)
        return sum(kind == "v" for _, kind, _ in every)

    assert told(VIDEO, 0.0) == 1  # a new video: always told
    assert told(VIDEO, 1.0) == 0  # counted, told lately
    assert told(VIDEO, again - 1.0) == 0
    assert told(VIDEO, again + 1.0) == 1  # told again: the others' sighting moves forward
    assert told(VIDEOS[0], again + 2.0) == 1
    # Over the limit: refused, and each refusal is a step towards a block everywhere.
    assert [told(VIDEOS[1], again + 3.0 + n) for n in range(3)] == [1, 1, 1]
