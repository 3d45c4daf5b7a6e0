"""Offers forwarded to a connection and still waiting for that connection's answer.

The reference tracker relays any answer to any peer_id; this one is stricter:
relay an answer only if the matching offer was forwarded to the answering connection within
the offer lifetime, and only once. This book is what makes that check possible.
"""

from __future__ import annotations

from typing import NamedTuple

# (info_hash, offering peer_id, offer_id, peer_id the offer was forwarded to)
OfferKey = tuple[bytes, bytes, bytes, bytes]


class _Pending(NamedTuple):
    sender: object  # connection of the offering peer, where the answer goes
    expires: float


class PendingOffers:
    """Per recipient connection, at most `limit` pending offers, oldest first.

    A flood of offers to one connection can only push out that connection's own oldest
    pending offers, so memory is bounded by limit x open connections whatever clients send.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # recipient connection -> its pending offers; dicts keep insertion order, and every
        # entry gets the same lifetime, so the oldest (first to expire) entry comes first.
        self._inboxes: dict[object, dict[OfferKey, _Pending]] = {}
        # sender connection -> where its pending offers sit, to forget them when it leaves.
        self._outboxes: dict[object, set[tuple[object, OfferKey]]] = {}

    def __len__(self) -> int:
        return sum(len(inbox) for inbox in self._inboxes.values())

    def add(self, key: OfferKey, sender: object, recipient: object, expires: float) -> None:
        inbox = self._inboxes.setdefault(recipient, {})
        old = inbox.pop(key, None)
        if old is not None:
            self._forget_sent(old.sender, recipient, key)
        elif len(inbox) >= self.limit:
            oldest = next(iter(inbox))
            self._forget_sent(inbox.pop(oldest).sender, recipient, oldest)
        inbox[key] = _Pending(sender, expires)
        self._outboxes.setdefault(sender, set()).add((recipient, key))

    def take(self, recipient: object, key: OfferKey, now: float) -> object | None:
        """Consume the pending offer; return the sender's connection if it had not expired."""
        inbox = self._inboxes.get(recipient)
        pending = None if inbox is None else inbox.pop(key, None)
        if pending is None:
            return None
        if not inbox:
            del self._inboxes[recipient]
        self._forget_sent(pending.sender, recipient, key)
        return pending.sender if pending.expires > now else None

    def drop_connection(self, connection: object) -> None:
        """Forget offers waiting at this connection and offers it sent elsewhere."""
        for key, pending in self._inboxes.pop(connection, {}).items():
            self._forget_sent(pending.sender, connection, key)
        for recipient, key in self._outboxes.pop(connection, ()):
            inbox = self._inboxes.get(recipient)
            if inbox is not None:
                inbox.pop(key, None)
                if not inbox:
                    del self._inboxes[recipient]

    def expire(self, now: float) -> None:
        for recipient in list(self._inboxes):
            inbox = self._inboxes[recipient]
            while inbox:
                key, pending = next(iter(inbox.items()))
                if pending.expires > now:
                    break
                del inbox[key]
                self._forget_sent(pending.sender, recipient, key)
            if not inbox:
                del self._inboxes[recipient]

    def _forget_sent(self, sender: object, recipient: object, key: OfferKey) -> None:
        sent = self._outboxes.get(sender)
        if sent is not None:
            sent.discard((recipient, key))
            if not sent:
                del self._outboxes[sender]
