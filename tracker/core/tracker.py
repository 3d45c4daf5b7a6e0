"""The swarms' state machine: WebSocket signalling (webtorrent), and classic HTTP announces
(http_swarm.py).

Sans-I/O: the front door (front_door.py) passes in parsed requests, the clock and the random
generator, and gets back the typed messages to send (outgoing.py). A request it refuses (an
unknown or switched-off torrent, a peer_id held elsewhere, an answer to no offer) raises
LocalProtocolError, which the front door answers with a failure reason. Nothing about a peer is
logged here.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .config import TrackerConfig
from .connections import ConnectionBook
from .http_swarm import HttpSwarm
from .message_types import (
    Event,
    LocalProtocolError,
    WebAnnounce,
    WebAnswer,
    WebScrape,
)
from .outgoing import (
    CROWD_WARNING,
    AnnounceReply,
    Failure,
    RelayedAnswer,
    RelayedOffer,
    RemoteAnswer,
    RemoteOffer,
    ScrapeReply,
    WebMessage,
)
from .pending_offers import PendingOffers
from .swarm import Peer, RemoteConnection, SwarmStore

PEER_ID_TAKEN = "peer_id is in use by another connection"

Outgoing = list[tuple[object, WebMessage]]
WebRequest = WebAnnounce | WebAnswer | WebScrape


def _no_threshold(info_hash: bytes) -> int:
    return 1


class Tracker(HttpSwarm):
    """`access(info_hash)` is None when the torrent may be tracked, else the failure reason.
    `threshold(info_hash)` is the swarm's crowd threshold: below that many distinct viewers
    (Peer.source) no offer is relayed in it, no answer either, and no peer is listed; 1 is no
    threshold.

    Connections are opaque hashable ids chosen by the caller (one per WebSocket).
    """

    def __init__(
        self,
        config: TrackerConfig,
        store: SwarmStore,
        access: Callable[[bytes], str | None],
        threshold: Callable[[bytes], int] = _no_threshold,
    ) -> None:
        self.store = store
        self.access = access
        self.threshold = threshold
        self._connections = ConnectionBook(
            config.max_infohashes_per_connection, config.max_peer_ids_per_connection
        )
        self._offers = PendingOffers(config.max_pending_offers_per_connection)
        self.apply_config(config)

    def apply_config(self, config: TrackerConfig) -> None:
        """New limits apply from the next message on (state already above a lowered limit is
        not cut, it only cannot grow). Only the front door calls it, from apply()."""
        self.config = config
        self._connections.max_memberships = config.max_infohashes_per_connection
        self._connections.max_peer_ids = config.max_peer_ids_per_connection
        self._offers.limit = config.max_pending_offers_per_connection

    # WebSocket

    def handle_web_message(
        self,
        connection: object,
        message: WebRequest,
        now: float,
        rng: random.Random,
        viewer: str | None = None,
    ) -> Outgoing:
        """A request parsed by the front door (the guard looks at it before the tracker);
        `viewer` is the socket's source key (None: an exempt source, not counted)."""
        if isinstance(message, WebScrape):
            return [(connection, self._web_scrape(message))]
        refusal = self.access(message.info_hash)
        if refusal is not None:
            # P2P may have been switched off since this peer joined: forget it right away.
            self._leave(connection, message.info_hash, message.peer_id)
            raise LocalProtocolError(refusal, message.info_hash)
        if isinstance(message, WebAnswer):
            return self._web_answer(connection, message, now)
        return self._web_announce(connection, message, now, rng, viewer)

    def crowd_shortfall(self, info_hash: bytes) -> int | None:
        """The swarm's threshold if it has fewer distinct viewers than that, else None."""
        threshold = self.threshold(info_hash)
        if threshold > 1 and self.store.viewers(info_hash) < threshold:
            return threshold
        return None

    def _web_announce(
        self,
        connection: object,
        message: WebAnnounce,
        now: float,
        rng: random.Random,
        viewer: str | None,
    ) -> Outgoing:
        info_hash, peer_id = message.info_hash, message.peer_id
        owner = self._connections.owner(peer_id)
        existing = self.store.get(info_hash, peer_id)
        if (owner is not None and owner != connection) or (
            existing is not None and existing.connection != connection
        ):
            raise LocalProtocolError(PEER_ID_TAKEN, info_hash)
        if message.event == Event.STOPPED:
            self._leave(connection, info_hash, peer_id)
            return [(connection, self._announce_reply(info_hash))]
        if existing is None:
            # Any first message is a join: a webtorrent seeder sends "completed" ~100 ms
            # before "started" (measured with webtorrent 2.8.5).
            refusal = self._connections.join(connection, info_hash, peer_id)
            if refusal is not None:
                raise LocalProtocolError(refusal, info_hash)
        left = message.left
        if message.event == Event.COMPLETED:
            # "completed" means the whole torrent is there, whatever `left` says.
            left = 0
            if existing is not None and not existing.seeder:
                self.store.record_completed(info_hash)
        self.store.put(info_hash, Peer(peer_id, connection, None, None, left, now, b"", viewer))
        # After the put: the announcing viewer counts, so the one that brings the swarm to its
        # threshold has its own offers relayed.
        below = self.crowd_shortfall(info_hash)
        outgoing = [(connection, self._announce_reply(info_hash, below))]
        if below is None:
            outgoing += self._relay_offers(connection, message, now, rng)
        return outgoing

    def taken_elsewhere(self, info_hash: bytes, peer_id: bytes) -> Outgoing:
        """The shared store found `peer_id` held by a socket of another process: the claim of
        this process's socket is dropped and refused, as it would have been had the other
        been here."""
        connection = self._connections.owner(peer_id)
        if connection is None:
            return []
        if self._connections.leave(connection, info_hash, peer_id):
            self.store.remove(info_hash, peer_id)
        return [(connection, Failure("announce", PEER_ID_TAKEN, info_hash))]

    def _leave(self, connection: object, info_hash: bytes, peer_id: bytes) -> None:
        if self._connections.leave(connection, info_hash, peer_id):
            self.store.remove(info_hash, peer_id)

    def _relay_offers(
        self, connection: object, message: WebAnnounce, now: float, rng: random.Random
    ) -> Outgoing:
        # The reference forwards as many offers as it has peers for (numwant = offer count);
        # the client's numwant and our caps can only lower that.
        config = self.config
        wanted = min(
            len(message.offers),
            message.numwant,
            config.max_peers_per_reply,
            config.max_relayed_offers,
        )
        if wanted == 0:
            return []
        info_hash, peer_id = message.info_hash, message.peer_id
        targets = [
            peer
            for peer in self.store.sample_web(info_hash, wanted, rng, exclude=peer_id)
            # Never to a peer on the sender's own socket: it would be offered to itself.
            if peer.connection != connection
        ]
        expires = now + self.config.offer_ttl
        outgoing: Outgoing = []
        # One offer per target, each target a different peer (an RTCPeerConnection offer can
        # be answered by one peer only). Fewer targets than offers: the rest are dropped.
        for offer, target in zip(message.offers, targets, strict=False):
            relayed = RelayedOffer(info_hash, peer_id, offer.offer_id, offer.offer)
            recipient = target.connection
            if type(recipient) is RemoteConnection:
                # The process holding the target records the pending offer (relayed_in).
                outgoing.append((recipient, RemoteOffer(target.peer_id, connection, relayed)))
                continue
            key = (info_hash, peer_id, offer.offer_id, target.peer_id)
            self._offers.add(key, connection, recipient, expires)
            outgoing.append((recipient, relayed))
        return outgoing

    def offer_from_elsewhere(
        self,
        connection: object,
        target: bytes,
        sender: RemoteConnection,
        offer: RelayedOffer,
        now: float,
    ) -> Outgoing:
        """An offer another process relayed to `target`, a peer of this process on
        `connection`: pending for its answer, then sent on; dropped if the peer left."""
        if self._connections.owner(target) != connection:
            return []
        key = (offer.info_hash, offer.peer_id, offer.offer_id, target)
        self._offers.add(key, sender, connection, now + self.config.offer_ttl)
        return [(connection, offer)]

    def answer_from_elsewhere(
        self, connection: object, to_peer_id: bytes, answer: RelayedAnswer
    ) -> Outgoing:
        """An answer another process checked against its pending offer, for `to_peer_id`: sent
        on only if that peer is still on `connection` (the offer's socket)."""
        if self._connections.owner(to_peer_id) != connection:
            return []
        return [(connection, answer)]

    def _web_answer(self, connection: object, message: WebAnswer, now: float) -> Outgoing:
        info_hash = message.info_hash
        owner = self._connections.owner(message.peer_id)
        if owner != connection:
            # Only a peer that announced on this socket can have been sent an offer here.
            reason = "unknown peer_id" if owner is None else PEER_ID_TAKEN
            raise LocalProtocolError(reason, info_hash)
        key = (info_hash, message.to_peer_id, message.offer_id, message.peer_id)
        sender = self._offers.take(connection, key, now)
        # An offer from another process: that process checks the offering peer is still on
        # its socket. From here: it must still be on the socket the offer came from.
        remote = type(sender) is RemoteConnection
        if not remote and (sender is None or self._connections.owner(message.to_peer_id) != sender):
            raise LocalProtocolError("no pending offer", info_hash)
        if self.crowd_shortfall(info_hash) is not None:
            # The swarm fell below its threshold since the offer went out: off at once, the
            # answer (the answerer's address in its SDP) goes nowhere. The offer is taken, so
            # the answer cannot be sent again later; the offerer gives up on it by itself.
            return []
        relayed = RelayedAnswer(info_hash, message.peer_id, message.offer_id, message.answer)
        if remote:
            return [(sender, RemoteAnswer(message.to_peer_id, relayed))]
        # The answerer gets no reply on success, as with the reference tracker.
        return [(sender, relayed)]

    def _announce_reply(self, info_hash: bytes, below: int | None = None) -> AnnounceReply:
        complete, incomplete, _ = self.store.counts(info_hash)
        warning = None if below is None else CROWD_WARNING.format(threshold=below)
        return AnnounceReply(
            info_hash, self.config.announce_interval, complete, incomplete, warning
        )

    def _web_scrape(self, message: WebScrape) -> WebMessage:
        # A refused infohash is left out of the reply rather than failing the whole scrape
        # (one bad entry must not hide the others); a scrape where nothing is allowed,
        # including the usual single-infohash scrape, gets the first refusal as a failure.
        files, refusal = self._scrape(message.info_hashes)
        if not files:
            raise LocalProtocolError(refusal, message.info_hashes[0], action="scrape")
        return ScrapeReply(files)

    def _scrape(self, info_hashes: tuple[bytes, ...]) -> tuple[dict[bytes, tuple], str]:
        files: dict[bytes, tuple[int, int, int]] = {}
        first_refusal = ""
        for info_hash in info_hashes:
            refusal = self.access(info_hash)
            if refusal is not None:
                first_refusal = first_refusal or refusal
                continue
            files[info_hash] = self.store.counts(info_hash)
        return files, first_refusal

    def handle_disconnect(self, connection: object) -> None:
        # A closed tab closes its socket (1001) without "stopped": drop its peers everywhere.
        for info_hash, peer_id in self._connections.disconnect(connection):
            self.store.remove(info_hash, peer_id)
        self._offers.drop_connection(connection)

    # Housekeeping

    def expire(self, now: float) -> None:
        for info_hash, peer in self.store.expire(now, self.config.peer_ttl):
            self._forget_membership(info_hash, peer)
        self._offers.expire(now)

    def drop_swarm(self, info_hash: bytes) -> list[Peer]:
        """Forget every peer of a torrent (P2P switched off); returns the peers dropped."""
        dropped = self.store.drop_swarm(info_hash)
        for peer in dropped:
            self._forget_membership(info_hash, peer)
        return dropped

    def _forget_membership(self, info_hash: bytes, peer: Peer) -> None:
        if peer.is_web:
            self._connections.leave(peer.connection, info_hash, peer.peer_id)

    def stats(self) -> dict[str, int]:
        """Counts only, for the admin overview."""
        web = http = 0
        info_hashes = self.store.info_hashes()
        for info_hash in info_hashes:
            counts = self.store.count_by_kind(info_hash)
            web += counts.web_seeders + counts.web_leechers
            http += counts.http_seeders + counts.http_leechers
        return {
            "swarms": len(info_hashes),
            "web_peers": web,
            "http_peers": http,
            "connections": len(self._connections),
            "pending_offers": len(self._offers),
        }
