"""The tracker behind the guard: what a request must pass before the tracker handles it.

For a socket: the message rate (before parsing, so a flood costs little), then the videos it asks
about (a refused announce joins no swarm and gets no offer relayed), then the early-announce
detector (an announce that only resamples the swarm is answered without its offers relayed).
For HTTP: the block and the request budget, then the announces of that video, then the videos,
then the same detector (no peers listed). Sources the
caller exempts (key None, meter None) go straight to the tracker.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from .guard import Guard, SocketMeter, Source, Verdict
from .message_types import (
    EVENT_STOPPED,
    HttpAnnounce,
    HttpScrape,
    ProtocolError,
    WebAnnounce,
    WebScrape,
)
from .replies import http_failure, web_failure
from .tracker import Outgoing, Tracker
from .web_parser import parse_web_message


class GuardedTracker:
    """`known(info_hash)` tells whether this instance publishes the infohash at all."""

    def __init__(self, tracker: Tracker, guard: Guard, known: Callable[[bytes], bool]) -> None:
        self.tracker = tracker
        self.guard = guard
        self.known = known

    # WebSocket

    def open_socket(self, key: str | None, now: float) -> tuple[SocketMeter | None, Verdict | None]:
        if key is None:
            return None, None
        return self.guard.open_socket(key, now)

    def close_socket(self, meter: SocketMeter | None, now: float) -> None:
        if meter is not None:
            self.guard.close_socket(meter, now)

    def meter_control_frame(self, meter: SocketMeter | None, now: float) -> Verdict | None:
        """A ping or pong costs a message of the socket's budget (a ping flood pinned the
        server's core while no message was counted); the refusal if it is over."""
        if meter is None:
            return None
        return self.guard.meter_message(meter, now)

    def handle_web(
        self,
        connection: object,
        meter: SocketMeter | None,
        raw: str | bytes,
        now: float,
        rng: random.Random,
    ) -> tuple[Outgoing, Verdict | None]:
        tracker = self.tracker
        if meter is None:
            return tracker.handle_web(connection, raw, now, rng), None
        verdict = self.guard.meter_message(meter, now)
        if verdict is not None:
            return [(connection, self._refusal(raw, verdict.refusal))], verdict
        try:
            message = parse_web_message(raw, tracker.config)
        except ProtocolError as error:
            return [(connection, web_failure(error.action, error.reason, error.info_hash))], None
        if isinstance(message, WebScrape):
            info_hashes, action = message.info_hashes, "scrape"
        elif isinstance(message, WebAnnounce):
            info_hashes, action = (message.info_hash,), "announce"
        else:
            # An answer can only go to a peer whose offer this socket was sent: nothing new.
            return tracker.handle_web_message(connection, message, now, rng), None
        source = meter.source
        verdict = self.guard.request_videos(source, info_hashes, self.known, now)
        if verdict is not None and verdict.refusal is not None:
            return [(connection, web_failure(action, verdict.refusal, info_hashes[0]))], verdict
        if action == "announce" and message.offers and message.event != EVENT_STOPPED:
            sample, verdict = self.guard.sample(
                source, meter.announced, message.info_hash, now, verdict
            )
            if not sample:
                message = replace(message, offers=())
        return tracker.handle_web_message(connection, message, now, rng), verdict

    def _refusal(self, raw: str | bytes, reason: str) -> dict:
        # Parsed only to name the right action and info_hash in the reply (a webtorrent client
        # ignores a reply for another torrent); the guard has already refused the message.
        try:
            message = parse_web_message(raw, self.tracker.config)
        except ProtocolError as error:
            return web_failure(error.action, reason, error.info_hash)
        if isinstance(message, WebScrape):
            return web_failure("scrape", reason, message.info_hashes[0])
        return web_failure("announce", reason, message.info_hash)

    # HTTP

    def admit_http(self, key: str | None, now: float) -> tuple[Source | None, Verdict | None]:
        """The source of an HTTP request, counted; the refusal if it is blocked or over its
        request budget. None for a source exempt from the guard (key None)."""
        if key is None:
            return None, None
        source = self.guard.source(key, now)
        return source, self.guard.http_request(source, now)

    def handle_http_announce(
        self, source: Source | None, message: HttpAnnounce, now: float, rng: random.Random
    ) -> tuple[dict, Verdict | None]:
        tracker = self.tracker
        if source is None:
            return tracker.handle_http_announce(message, now, rng, capped=False), None
        info_hash = message.info_hash
        verdict = self.guard.http_announce(source, info_hash, now)
        if verdict is not None:
            return http_failure(verdict.refusal), verdict
        verdict = self.guard.request_videos(source, (info_hash,), self.known, now)
        if verdict is not None and verdict.refusal is not None:
            return http_failure(verdict.refusal), verdict
        if message.event != EVENT_STOPPED and message.numwant != 0:
            sample, verdict = self.guard.sample(source, source.announced, info_hash, now, verdict)
            if not sample:
                message = replace(message, numwant=0)
        return tracker.handle_http_announce(message, now, rng), verdict

    def handle_http_scrape(
        self, source: Source | None, message: HttpScrape, now: float
    ) -> tuple[dict, Verdict | None]:
        tracker = self.tracker
        if source is None:
            return tracker.handle_http_scrape(message, now), None
        verdict = self.guard.request_videos(source, message.info_hashes, self.known, now)
        if verdict is not None and verdict.refusal is not None:
            return http_failure(verdict.refusal), verdict
        return tracker.handle_http_scrape(message, now), verdict
