"""The tracker's one front door, in the manner of h11's Connection: what arrived goes in, what
to do comes out as a value.

The shells (the WebSocket consumer, the HTTP route, the service that owns the sockets) call
nothing else in the core. Each method takes what arrived (a raw frame, a raw query string, a
socket opening or closing, the clock and the random generator) and returns a Result: messages
for recipients, sockets to close, alarms to raise, a source whose sockets to close because it
was just blocked. Parsing, the spy guard and the swarms' state machine stay inside.

Order of checks. A frame: the message rate (before parsing, so a flood costs little), then the
videos it asks about (a refused announce joins no swarm and gets no offer relayed), then the
early-announce detector (an announce that only resamples the swarm is answered without its
offers relayed). An HTTP request: the block and the request budget, then the announces of that
video, then the videos, then the same detector (no peers listed). A source the shell exempts
(key None, meter None) goes straight to the state machine.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping
from dataclasses import replace

from .config import TrackerConfig
from .guard import Guard, SocketMeter, Source, Verdict
from .http_parser import parse_http_announce, parse_http_scrape
from .http_query import first_values, parse_query
from .message_types import Event, ProtocolError, WebAnnounce, WebScrape
from .outgoing import Failure, HttpFailure, HttpMessage
from .results import NOTHING, HttpResult, Policy, Result, answered, consequences, with_verdict
from .several_processes import SeveralProcesses
from .swarm import KindCounts, SwarmStore
from .tracker import Tracker
from .web_parser import parse_web_message

UNKNOWN_INFOHASH = "Unknown infoHash"
P2P_DISABLED = "P2P is disabled for this video"
# RFC 6455 section 7.4.1: the close code for a socket that broke a policy (its source is
# blocked, or it flooded control frames).
CLOSE_POLICY_VIOLATION = 1008


class TrackerCore(SeveralProcesses):
    def __init__(self, store: SwarmStore, policy: Policy | None = None) -> None:
        self._policy = policy or Policy()
        self._p2p = dict(self._policy.p2p)
        self._videos = dict(self._policy.videos)
        self._min_viewers = dict(self._policy.min_viewers)
        self.swarms = Tracker(self._policy.tracker, store, self._access, self._threshold)
        self.guard = Guard(self._policy.guard)

    @property
    def config(self) -> TrackerConfig:
        return self.swarms.config

    @property
    def sockets_per_source(self) -> int:
        """The guard's limit of open sockets per source."""
        return self.guard.config.max_sockets

    def _access(self, info_hash: bytes) -> str | None:
        allowed = self._p2p.get(info_hash)
        if allowed is None:
            return UNKNOWN_INFOHASH
        return None if allowed else P2P_DISABLED

    def _threshold(self, info_hash: bytes) -> int:
        return self._min_viewers.get(info_hash, 1)

    def _video_of(self, info_hash: bytes) -> Hashable | None:
        """The key the guard counts a published swarm under (its video's); None: unknown."""
        if info_hash not in self._p2p:
            return None
        return self._videos.get(info_hash, info_hash)

    def _counted_as(self, info_hash: bytes) -> Hashable:
        """The video of a swarm, or the swarm itself when it is unknown."""
        video = self._video_of(info_hash)
        return info_hash if video is None else video

    # Policy

    def apply(self, policy: Policy) -> Result:
        """New limits and a new table of swarms. A swarm whose P2P is now off (or that is
        no longer published) is emptied at once, and each of its web peers is told so."""
        self._policy = policy
        self.swarms.apply_config(policy.tracker)
        self.guard.config = policy.guard
        # A new threshold applies from each swarm's next message on.
        self._min_viewers = dict(policy.min_viewers)
        before, self._p2p = self._p2p, dict(policy.p2p)
        self._videos = dict(policy.videos)
        return self._empty_closed_swarms(before)

    def switch(
        self, p2p: Mapping[bytes, bool | None], videos: Mapping[bytes, Hashable] | None = None
    ) -> Result:
        """P2P of these swarms only (None: no longer published), and the videos they belong
        to; the cost is that of the change, not of the catalogue. Emptied swarms as in
        apply()."""
        before = {info_hash: self._p2p.get(info_hash) for info_hash in p2p}
        for info_hash, allowed in p2p.items():
            if allowed is None:
                self._p2p.pop(info_hash, None)
                self._videos.pop(info_hash, None)
            else:
                self._p2p[info_hash] = allowed
        for info_hash, video in (videos or {}).items():
            if info_hash in self._p2p:
                self._videos[info_hash] = video
        return self._empty_closed_swarms(before)

    def _empty_closed_swarms(self, before: Mapping[bytes, bool | None]) -> Result:
        messages = []
        for info_hash, was_allowed in before.items():
            refusal = self._access(info_hash)
            if was_allowed and refusal is not None:
                for peer in self.swarms.drop_swarm(info_hash):
                    if peer.is_web:
                        messages.append((peer.connection, Failure("announce", refusal, info_hash)))
        return Result(messages=tuple(messages)) if messages else NOTHING

    # WebSocket

    def open_socket(self, key: str | None, now: float) -> tuple[SocketMeter | None, Result]:
        """The meter of a new socket of source `key` (None: exempt, unmetered), checked before
        its upgrade is accepted; a refused Result: refuse it."""
        if key is None:
            return None, NOTHING
        meter, verdict = self.guard.open_socket(key, now)
        return meter, with_verdict(Result(refused=meter is None), verdict, key)

    def disconnect(self, connection: object, meter: SocketMeter | None, now: float) -> None:
        """A closed socket leaves every swarm it was in (a closed tab sends no "stopped")."""
        if meter is not None:
            self.guard.close_socket(meter, now)
        self.swarms.handle_disconnect(connection)

    def control_frame(self, connection: object, meter: SocketMeter | None, now: float) -> Result:
        """A ping or pong costs a message of the socket's budget (a ping flood pinned the
        server's core while no message was counted); one over it closes the socket."""
        if meter is None:
            return NOTHING
        verdict = self.guard.meter_message(meter, now)
        if verdict is None:
            return NOTHING
        closing = Result(close=((connection, CLOSE_POLICY_VIOLATION),))
        return with_verdict(closing, verdict, meter.source.key)

    def receive_web(
        self,
        connection: object,
        meter: SocketMeter | None,
        raw: str | bytes,
        now: float,
        rng: random.Random,
    ) -> Result:
        """One frame from a socket."""
        swarms = self.swarms
        key = None if meter is None else meter.source.key
        if meter is not None:
            verdict = self.guard.meter_message(meter, now)
            if verdict is not None:
                refusal = self._refusal(raw, verdict.refusal)
                return with_verdict(Result(messages=((connection, refusal),)), verdict, key)
        try:
            message = parse_web_message(raw, swarms.config)
        except ProtocolError as error:
            failure = Failure(error.action, error.reason, error.info_hash)
            return Result(messages=((connection, failure),))
        if meter is None:
            return Result(messages=tuple(self._handle(connection, message, now, rng, None)))
        if isinstance(message, WebScrape):
            info_hashes, action = message.info_hashes, "scrape"
        elif isinstance(message, WebAnnounce):
            info_hashes, action = (message.info_hash,), "announce"
        else:
            # An answer can only go to a peer whose offer this socket was sent: nothing new.
            return Result(messages=tuple(self._handle(connection, message, now, rng, key)))
        source = meter.source
        verdict = self.guard.request_videos(source, info_hashes, self._video_of, now)
        if verdict is not None and verdict.refusal is not None:
            failure = Failure(action, verdict.refusal, info_hashes[0])
            return with_verdict(Result(messages=((connection, failure),)), verdict, key)
        if action == "announce" and message.offers and message.event != Event.STOPPED:
            sample, verdict = self.guard.sample(
                source, meter.announced, message.info_hash, now, verdict
            )
            if not sample:
                message = replace(message, offers=())
        outgoing = self._handle(connection, message, now, rng, key)
        return with_verdict(Result(messages=tuple(outgoing)), verdict, key)

    def _handle(
        self, connection: object, message, now: float, rng: random.Random, key: str | None
    ) -> list:
        """The state machine's messages, or the failure reason of what it refuses. The peer
        counts as a viewer of the swarm under `key`, the guard's key of its source."""
        try:
            return self.swarms.handle_web_message(connection, message, now, rng, key)
        except ProtocolError as error:
            return [(connection, Failure(error.action, error.reason, error.info_hash))]

    def _refusal(self, raw: str | bytes, reason: str) -> Failure:
        # Parsed only to name the right action and info_hash in the reply (a webtorrent client
        # ignores a reply for another torrent); the guard has already refused the message.
        try:
            message = parse_web_message(raw, self.swarms.config)
        except ProtocolError as error:
            return Failure(error.action, reason, error.info_hash)
        if isinstance(message, WebScrape):
            return Failure("scrape", reason, message.info_hashes[0])
        return Failure("announce", reason, message.info_hash)

    # HTTP

    def announce_http(
        self, query: bytes, address: str, key: str | None, now: float, rng: random.Random
    ) -> HttpResult:
        """GET /tracker/announce?`query` from `address`, counted under `key` (None: exempt)."""
        source, refused = self._admit_http(key, now)
        if refused is not None:
            return refused
        swarms = self.swarms
        try:
            message = parse_http_announce(first_values(query), address)
        except ProtocolError as error:
            return HttpResult(HttpFailure(error.reason))
        if source is None:
            return HttpResult(answered(swarms.handle_http_announce, message, now, rng, False))
        info_hash = message.info_hash
        if self.guard.shared is not None:
            # By swarm: each process knows the swarm's video from its own policy.
            self.guard.shared.append((source.key, "a", (info_hash,)))
        verdict = self.guard.http_announce(source, self._counted_as(info_hash), now)
        if verdict is None or verdict.refusal is None:
            verdict = self.guard.request_videos(source, (info_hash,), self._video_of, now, verdict)
        if verdict is not None and verdict.refusal is not None:
            return self._http_refused(verdict, key)
        if message.event != Event.STOPPED and message.numwant != 0:
            sample, verdict = self.guard.sample(source, source.announced, info_hash, now, verdict)
            if not sample:
                message = replace(message, numwant=0)
        reply = answered(swarms.handle_http_announce, message, now, rng, True)
        return self._http_answer(reply, verdict, key)

    def scrape_http(self, query: bytes, key: str | None, now: float) -> HttpResult:
        """GET /tracker/scrape?`query`, counted under `key` (None: exempt)."""
        source, refused = self._admit_http(key, now)
        if refused is not None:
            return refused
        try:
            message = parse_http_scrape(parse_query(query), self.swarms.config)
        except ProtocolError as error:
            return HttpResult(HttpFailure(error.reason))
        verdict = None
        if source is not None:
            verdict = self.guard.request_videos(source, message.info_hashes, self._video_of, now)
            if verdict is not None and verdict.refusal is not None:
                return self._http_refused(verdict, key)
        reply = answered(self.swarms.handle_http_scrape, message)
        return self._http_answer(reply, verdict, key)

    def _admit_http(self, key: str | None, now: float) -> tuple[Source | None, HttpResult | None]:
        """The guard's record of the request's source, counted; a refusal if it is blocked or
        over its request budget."""
        if key is None:
            return None, None
        source = self.guard.source(key, now)
        verdict = self.guard.http_request(source, now)
        return source, None if verdict is None else self._http_refused(verdict, key)

    def _http_refused(self, verdict: Verdict, key: str | None) -> HttpResult:
        # 403 while the source is blocked, else 429 (too many requests).
        status = 403 if verdict.blocked_until is not None else 429
        return self._http_answer(HttpFailure(verdict.refusal, status), verdict, key)

    def _http_answer(self, reply: HttpMessage, verdict: Verdict | None, key: str | None):
        if verdict is None:
            return HttpResult(reply)
        return HttpResult(reply, *consequences(verdict, key))

    # Housekeeping and counts

    def expire(self, now: float) -> None:
        """Forget silent peers (an HTTP peer's address after two intervals), stale offers,
        and sources idle for a window."""
        self.swarms.expire(now)
        self.guard.expire(now)

    def viewers(self, info_hashes: list[bytes]) -> dict[bytes, int]:
        """Distinct viewers (sources) of each of these swarms now: what the crowd threshold
        compares, counts only."""
        store = self.swarms.store
        return {info_hash: store.viewers(info_hash) for info_hash in info_hashes}

    def counts(self) -> dict[bytes, KindCounts]:
        """Peers per kind of every swarm that has any: counts only."""
        store = self.swarms.store
        return {info_hash: store.count_by_kind(info_hash) for info_hash in store.info_hashes()}

    def stats(self) -> dict[str, int]:
        """Totals for the admin overview: swarms, web and HTTP peers, sockets, pending offers."""
        return self.swarms.stats()
