"""The swarms' state machine (tracker.core.tracker.Tracker) as its tests talk to it: frames in,
and its typed messages out as the JSON or bencoded dicts they become on the wire."""

import random

from tracker.core import ProtocolError, TrackerConfig, http_dict, web_json
from tracker.core.outgoing import Failure, HttpFailure
from tracker.core.swarm import SwarmStore
from tracker.core.tracker import Tracker
from tracker.core.web_parser import parse_web_message


class WireTracker:
    def __init__(self, config: TrackerConfig, store: SwarmStore, access) -> None:
        self.inner = Tracker(config, store, access)

    @property
    def config(self) -> TrackerConfig:
        return self.inner.config

    @config.setter
    def config(self, config: TrackerConfig) -> None:
        self.inner.apply_config(config)

    @property
    def store(self) -> SwarmStore:
        return self.inner.store

    def handle_web(self, connection, raw, now: float, rng: random.Random) -> list:
        try:
            message = parse_web_message(raw, self.inner.config)
        except ProtocolError as error:
            return [(connection, web_json(Failure(error.action, error.reason, error.info_hash)))]
        try:
            outgoing = self.inner.handle_web_message(connection, message, now, rng)
        except ProtocolError as error:
            return [(connection, web_json(Failure(error.action, error.reason, error.info_hash)))]
        return [(to, web_json(sent)) for to, sent in outgoing]

    def handle_http_announce(self, message, now: float, rng: random.Random, capped=True) -> dict:
        try:
            return http_dict(self.inner.handle_http_announce(message, now, rng, capped))
        except ProtocolError as error:
            return http_dict(HttpFailure(error.reason))

    def handle_http_scrape(self, message, now: float) -> dict:
        try:
            return http_dict(self.inner.handle_http_scrape(message))
        except ProtocolError as error:
            return http_dict(HttpFailure(error.reason))

    def handle_disconnect(self, connection, now: float) -> None:
        self.inner.handle_disconnect(connection)

    def drop_swarm(self, info_hash: bytes) -> int:
        return len(self.inner.drop_swarm(info_hash))

    def expire(self, now: float) -> None:
        self.inner.expire(now)

    def stats(self) -> dict[str, int]:
        return self.inner.stats()
