"""How the tracker's shared state is laid out in Redis: the key names, and the stored value of
a peer, as the link writes it and reads it back (the scripts that write and read them are in
tracker/redis_scripts.py).

Keys: every key of an instance starts with its namespace; a swarm's keys share the hash tag of
its infohash, and the instance-wide ones the tag {index}, so that each script call touches
one node of a Redis Cluster.
"""

import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Iterator

from redis.exceptions import RedisError

from tracker import redis_scripts
from tracker.core import RemoteAnswer, RemoteConnection, RemoteOffer, web_frame
from tracker.core.addresses import HASH_HEX_DIGITS
from tracker.core.message_types import ID_LENGTH
from tracker.redis_store import REMOVE_ANY, REMOVE_OWN, SharedSwarmStore

# A stored peer: process, seeder flag, its source's name (the keyed hash of its address, or
# dashes for an exempt source), then the socket number (web) or compact address (HTTP).
SOURCE_AT = redis_scripts.PROCESS_CHARS + 1
REST_AT = SOURCE_AT + HASH_HEX_DIGITS
NO_SOURCE = "-" * HASH_HEX_DIGITS


def _derived_key(secret_key: str, purpose: bytes) -> bytes:
    """A key of one instance for one use: every process of an instance has its SECRET_KEY, so
    each derives the same key, and no two uses share one."""
    return hmac.new(secret_key.encode(), purpose, hashlib.sha256).digest()


def namespace(secret_key: str) -> str:
    """The key prefix of one instance: its processes share a secret key, and two instances on
    one Redis (tests, staging) never see each other's swarms. "pv2": the layout's version
    (web peers under pseudonyms, swarms' versions): processes of an earlier layout, side by side
    with these during a rolling restart, share nothing with them rather than misread them."""
    return f"pv2:{_derived_key(secret_key, b'peerveil tracker redis').hex()[:10]}"


def pseudonyms(secret_key: str) -> Callable[[bytes, bytes], bytes]:
    """The name under which a web peer is stored in Redis: the keyed BLAKE2b of its swarm's
    infohash and its peer_id (both ID_LENGTH bytes), as wide as a peer_id, the same in every
    process of the instance. A browser session's peer_id, which the peers it connects to also
    see, never reaches Redis, whose dumps (RDB, AOF) may keep it on disk; and a session that
    joined several swarms has a different name in each, so a dump does not tell which videos
    one session joined. Every use of the name is within its swarm (the replica, an offer's
    target, a claim Redis refused). Without the key (from SECRET_KEY) a name cannot even be
    matched with a peer_id seen elsewhere; with it, a name still cannot be turned back into
    its peer_id, whose 72 bits are random (webtorrent's)."""
    key = _derived_key(secret_key, b"peerveil tracker peer_id")

    def pseudonym(info_hash: bytes, peer_id: bytes) -> bytes:
        return hashlib.blake2b(info_hash + peer_id, digest_size=ID_LENGTH, key=key).digest()

    return pseudonym


def new_process_id() -> str:
    return os.urandom(redis_scripts.PROCESS_CHARS // 2).hex()


def processes_key(prefix: str) -> str:
    """The heartbeat set; it and the list of swarms share the hash tag {index}, so that the one
    script touching both runs on one node of a Redis Cluster."""
    return f"{prefix}:{{index}}:procs"


def swarms_key(prefix: str) -> str:
    return f"{prefix}:{{index}}:swarms"


def swarm_keys(prefix: str, info_hash: bytes) -> list[str]:
    tag = f"{prefix}:{{{info_hash.hex()}}}"
    return [f"{tag}:w", f"{tag}:wx", f"{tag}:h", f"{tag}:hx", f"{tag}:d", f"{tag}:v", f"{tag}:e"]


def persists(config: dict) -> bool:
    """Whether a Redis with this CONFIG writes its data to disk (RDB snapshots or AOF)."""
    return bool(config.get("save", "").strip()) or config.get("appendonly", "no") == "yes"


async def redis_persists(client) -> bool:
    """Asked at every (re)connection; a Redis that will not say (CONFIG renamed or refused, as
    managed services do) is taken to persist."""
    try:
        config = await client.config_get("save")
        config.update(await client.config_get("appendonly"))
    except RedisError:
        return True
    return persists(config)


def peer_op(process: str, stored_id: bytes, change, number_of: Callable) -> tuple:
    """The WRITE script's (op, peer, value) for one journal entry of this process, whose peer
    Redis has under `stored_id` (a web peer's pseudonym, redis_store.SharedSwarmStore)."""
    if change == REMOVE_OWN:
        return ("ro", stored_id, b"")
    if change == REMOVE_ANY:
        return ("ra", stored_id, b"")
    seeder = b"1" if change.seeder else b"0"
    head = process.encode() + seeder + (change.source or NO_SOURCE).encode()
    if change.is_web:
        return ("pw", stored_id, head + str(number_of(change)).encode())
    return ("ph", stored_id, head + change.compact)


def _pairs(flat: list) -> list[tuple[bytes, bytes]]:
    return list(zip(flat[::2], flat[1::2], strict=True))


def _source(value: bytes) -> str | None:
    name = value[SOURCE_AT:REST_AT].decode()
    return None if name == NO_SOURCE else name


def web_peers(flat: list) -> dict[bytes, tuple[str, int, bool, str | None]]:
    """VIEW's web peers, by pseudonym: (process, socket number, seeder, source's name)."""
    cut = redis_scripts.PROCESS_CHARS
    return {
        peer_id: (value[:cut].decode(), int(value[REST_AT:]), value[cut : cut + 1] == b"1",
                  _source(value))
        for peer_id, value in _pairs(flat)
    }  # fmt: skip


def http_peers(flat: list) -> dict[bytes, tuple[str, bytes, bool, str | None]]:
    """VIEW's HTTP peers, by peer_id: (process, compact address, seeder, source's name)."""
    cut = redis_scripts.PROCESS_CHARS
    return {
        peer_id: (value[:cut].decode(), value[REST_AT:], value[cut : cut + 1] == b"1",
                  _source(value))
        for peer_id, value in _pairs(flat)
    }  # fmt: skip


def view_args(
    store: SharedSwarmStore,
    swarms: list[bytes],
    now: float,
    full_every: float,
    ttl: int,
    dead: list[str],
) -> list[list]:
    """The VIEW script's ARGV for each swarm: the version of its replica (store.replica_versions),
    the peers' ttl, then the processes declared dead, only if Redis may have web peers of theirs
    there: once their peers are gone, a swarm is not searched for them at every refresh for as
    long as they stay listed dead."""
    seen = store.replica_versions(swarms, now, full_every)
    gone = set(dead)
    return [
        [version, ttl, *(dead if gone and store.may_hold(info_hash, gone) else ())]
        for info_hash, version in zip(swarms, seen, strict=True)
    ]


def apply_view(store: SharedSwarmStore, info_hash: bytes, reply: list, now: float) -> None:
    """The VIEW script's reply for one swarm, given to the store: {version, downloads} if the
    replica is of the swarm's current version, else {version, web peers, HTTP peers,
    downloads}, which rebuild it."""
    if len(reply) == 2:
        store.replica_unchanged(info_hash, int(reply[1]))
        return
    version, web, http, downloaded = reply
    store.replace_replica(
        info_hash, web_peers(web), http_peers(http), int(downloaded), now, version
    )


# What one PUBLISH to a process carries: records one after the other, each a kind byte and
# its body's length (RECORD_HEAD), then the body: a relayed offer or answer is its fixed-width
# fields (the ids are exactly ID_LENGTH bytes, the parser checks, and a pseudonym is as wide),
# then the text frame its recipient is sent as it is; the guard's requests are a JSON object.
# The text is built once, by the sender, and crosses untouched: no JSON around a JSON text (the
# SDP inside escaped again, parsed again, encoded again), and one struct call packs or unpacks
# the fields. A P2P switch made outside the loop (publish_sync) is a JSON array: "[" is no
# record's kind.
RECORD_HEAD = struct.Struct(">cI")
OFFER, ANSWER, GUARD = b"o", b"a", b"g"
_ID = f"{ID_LENGTH}s"
# recipient's socket, target (pseudonym), sender's process and socket, infohash, peer_id, offer_id
OFFER_FIELDS = struct.Struct(f">Q{_ID}{redis_scripts.PROCESS_CHARS}sQ{_ID}{_ID}{_ID}")
# recipient's socket, to_peer_id, infohash, peer_id (the answerer's), offer_id
ANSWER_FIELDS = struct.Struct(f">Q{_ID}{_ID}{_ID}{_ID}")
_FIELDS = {OFFER: OFFER_FIELDS, ANSWER: ANSWER_FIELDS}


def relayed(process: str, recipient: RemoteConnection, message) -> bytes | None:
    """An offer or answer for a socket of another process, as its channel carries it
    (tracker/service_sharing.py reads it)."""
    if type(message) is RemoteOffer:
        offer = message.offer
        body = OFFER_FIELDS.pack(
            recipient.connection, message.target, process.encode(), message.sender.relay_id,
            offer.info_hash, offer.peer_id, offer.offer_id,
        ) + web_frame(offer)  # fmt: skip
        return RECORD_HEAD.pack(OFFER, len(body)) + body
    if type(message) is RemoteAnswer:
        answer = message.answer
        body = ANSWER_FIELDS.pack(
            recipient.connection, message.to_peer_id, answer.info_hash, answer.peer_id,
            answer.offer_id,
        ) + web_frame(answer)  # fmt: skip
        return RECORD_HEAD.pack(ANSWER, len(body)) + body
    return None


def guard_record(message: bytes) -> bytes:
    """The guard's requests (a JSON object), as a record."""
    return RECORD_HEAD.pack(GUARD, len(message)) + message


def records(payload: bytes) -> Iterator[tuple[bytes, tuple | None, bytes]]:
    """Each record of a payload: (kind, fixed fields, the rest: a text frame or JSON). A
    record too short for its fields comes with None for fields (the caller refuses it) and
    the next records still come; one longer than what is left ends the payload with a
    ValueError, a header cut short with a struct.error (nothing after it can be found)."""
    position, end, head = 0, len(payload), RECORD_HEAD.size
    while position < end:
        kind, length = RECORD_HEAD.unpack_from(payload, position)
        start = position + head
        position = start + length
        if position > end:
            raise ValueError("a record longer than its payload")
        fields = _FIELDS.get(kind)
        if fields is None:
            yield kind, (), payload[start:position]
        elif length < fields.size:
            yield kind, None, b""
        else:
            yield kind, fields.unpack_from(payload, start), payload[start + fields.size : position]
