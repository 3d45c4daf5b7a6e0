"""The redundancy node as a seeder: each published copy announces itself to the HTTP tracker.

A copy is served as a webseed (BEP 19), as PeerTube's redundancy is; no BitTorrent listener runs. A
webseed is not in the swarm, though, and the swarm must hold automated peers: only then does an
address in a swarm no longer prove that a person chose to watch. So each published copy announces
like a classic client that has the whole file (left=0), with its own peer_id and
PEERVEIL_REDUNDANCY_PEER_PORT (by default the instance's public port: a client that tries a
BitTorrent handshake there fails at once and keeps the webseed). It asks for no peers (numwant=0)
and reads none from the reply: the node never collects viewers' addresses. It re-announces at the
interval the tracker gives (the tracker forgets a silent peer after two intervals) and sends
"stopped" when the copy is dropped.
"""

import logging
import secrets
import string
from datetime import timedelta
from urllib.parse import quote_from_bytes, urlencode
from urllib.request import Request, urlopen

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from instance.torrents import tracker_urls
from tracker.core import BencodeError, bdecode
from tracker.sources import NODE_HEADER, node_token

from . import USER_AGENT
from .models import RedundancyCopy

logger = logging.getLogger(__name__)

# Azureus-style client id: "PV" for peerveil, version 0.1.0.0.
PEER_ID_PREFIX = "-PV0100-"
TIMEOUT_SECONDS = 10
# After a failed announce (tracker down, P2P off for the video), try again this much later.
RETRY_SECONDS = 60


def new_peer_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return PEER_ID_PREFIX + "".join(secrets.choice(alphabet) for _ in range(12))


def http_tracker_url() -> str:
    return next(url for url in tracker_urls() if url.startswith(("http:", "https:")))


def announce_url(copy: RedundancyCopy, event: str | None) -> str:
    # info_hash and peer_id are raw bytes, percent-encoded, not UTF-8 text (BEP 3).
    query = (
        f"info_hash={quote_from_bytes(copy.video_file.info_hash_bytes)}"
        f"&peer_id={quote_from_bytes(copy.peer_id.encode('latin-1'))}&"
    )
    query += urlencode(
        {
            "port": settings.REDUNDANCY_PEER_PORT,
            "uploaded": 0,
            "downloaded": 0,
            "left": 0,
            "compact": 1,
            "numwant": 0,
            **({"event": event} if event else {}),
        }
    )
    return f"{http_tracker_url()}?{query}"


def announce(copy: RedundancyCopy, event: str | None) -> int | None:
    """Announce `copy` as a seeder; the interval the tracker asks for, or None if it failed."""
    # The node token exempts this instance's own seeder from the spy guard: announcing every
    # copied video from one address is what a crawler does, and must not get the node blocked.
    headers = {"User-Agent": USER_AGENT, NODE_HEADER: node_token()}
    request = Request(announce_url(copy, event), headers=headers)
    try:
        with urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            reply = bdecode(response.read())
    except (OSError, BencodeError) as error:
        logger.warning("redundancy: announce of %s failed: %s", copy.video_file.info_hash, error)
        return None
    if not isinstance(reply, dict) or b"failure reason" in reply:
        reason = reply.get(b"failure reason", b"") if isinstance(reply, dict) else b""
        logger.info(
            "redundancy: tracker refused %s: %s",
            copy.video_file.info_hash,
            reason.decode(errors="replace") if isinstance(reason, bytes) else reason,
        )
        return None
    interval = reply.get(b"interval")
    return interval if isinstance(interval, int) and interval > 0 else RETRY_SECONDS


def _schedule(copy: RedundancyCopy, interval: int | None, now) -> None:
    RedundancyCopy.objects.filter(pk=copy.pk, state=copy.state, peer_id=copy.peer_id).update(
        next_announce_at=now + timedelta(seconds=interval or RETRY_SECONDS)
    )


def start(copy: RedundancyCopy) -> None:
    """The first announce of a copy just published."""
    _schedule(copy, announce(copy, "started"), timezone.now())


def announce_due() -> int:
    """Announce every published copy whose interval has passed; how many were due."""
    now = timezone.now()
    copies = list(
        RedundancyCopy.objects.published()
        .filter(Q(next_announce_at__isnull=True) | Q(next_announce_at__lte=now))
        .select_related("video_file")
    )
    for copy in copies:
        event = "started" if copy.next_announce_at is None else None
        _schedule(copy, announce(copy, event), now)
    return len(copies)


def stop(copy: RedundancyCopy) -> None:
    """Leave the swarm at once rather than after two intervals ("stopped"); best effort."""
    if copy.peer_id:
        announce(copy, "stopped")
