"""What this instance does with viewers' addresses, as the privacy FAQ shows it: live values.

Every value is computed from the instance settings and the code that enforces it, never typed into
the template, so the FAQ changes the moment an admin changes a setting. Later features (request
limits, alarms, redundancy) replace their "not yet" rows here.
"""

from dataclasses import dataclass

from django.conf import settings

from instance.models import InstanceSettings, P2PSetting, Video
from tracker.core import TrackerConfig

from .swarm_history import SAMPLE_SECONDS


@dataclass(frozen=True)
class Fact:
    key: str  # stable, for links (#fact-key) and tests
    label: str
    value: str
    detail: str = ""


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{seconds} s ({minutes} min{f' {rest} s' if rest else ''})"


def tracker_config(row: InstanceSettings) -> TrackerConfig:
    """The limits the tracker applies for these settings (as tracker.access builds them)."""
    return TrackerConfig(
        announce_interval=row.announce_interval,
        max_peers_per_reply=row.max_peers_per_reply,
        max_message_bytes=settings.TRACKER_MAX_MESSAGE_BYTES,
    )


def http_address_kept_seconds(row: InstanceSettings) -> float:
    """The longest an HTTP peer's address stays in memory after its last announce: its TTL
    (two announce intervals) plus one period of the sweep that forgets it."""
    return tracker_config(row).peer_ttl + SAMPLE_SECONDS


def _p2p_fact(row: InstanceSettings) -> Fact:
    own_choice = {
        choice: Video.objects.filter(p2p=choice).count()
        for choice in (P2PSetting.ON, P2PSetting.OFF)
    }
    exceptions = [
        f"{count} video{'s' if count != 1 else ''} with P2P {choice.label.lower()} on its own"
        for choice, count in own_choice.items()
        if count
    ]
    detail = "Every video follows this switch"
    detail += f", except {' and '.join(exceptions)}." if exceptions else "."
    return Fact("p2p", "P2P on this instance", "On" if row.p2p_enabled else "Off", detail)


def _stun_fact() -> Fact:
    urls = []
    for server in settings.ICE_SERVERS:
        urls += [server["urls"]] if isinstance(server["urls"], str) else list(server["urls"])
    if not urls:
        return Fact(
            "stun",
            "STUN / TURN servers",
            "None",
            "No third party learns your address to help peers connect.",
        )
    return Fact(
        "stun",
        "STUN / TURN servers",
        ", ".join(urls),
        "These servers see your address when your player uses P2P.",
    )


def instance_facts(row: InstanceSettings | None = None) -> list[Fact]:
    row = row or InstanceSettings.load()
    config = tracker_config(row)
    return [
        _p2p_fact(row),
        Fact(
            "consent",
            "P2P waits for your consent",
            "Yes" if row.p2p_requires_consent else "No",
            "The video plays over plain HTTP from this server until you accept P2P."
            if row.p2p_requires_consent
            else "P2P starts with the video where it is on.",
        ),
        Fact(
            "peers-per-reply",
            "Peers per reply / offers relayed per announce",
            str(config.max_peers_per_reply),
            "A BitTorrent client gets at most this many addresses per request; a browser's "
            "connection offers go to at most this many peers, chosen at random.",
        ),
        Fact(
            "announce-interval",
            "Announce interval",
            duration(config.announce_interval),
            "How often a player contacts the tracker while the video is open.",
        ),
        Fact(
            "request-limits",
            "Request rate limits",
            "Not enforced yet",
            f"Each request is bounded instead: at most {config.max_offers_per_announce} offers, "
            f"{config.max_infohashes_per_connection} videos per connection and "
            f"{config.max_message_bytes // 1024} KiB per message.",
        ),
        Fact(
            "alarms",
            "Alarms on address collecting",
            "None yet",
            "The tracker does not yet warn the admins about clients that repeat requests.",
        ),
        Fact("redundancy", "Redundancy", "Off", "Not available on this instance yet."),
        Fact(
            "web-address",
            "Your address as a browser (web) peer",
            "Never stored",
            "The tracker keeps only the open connection, never its address. The peers you "
            "connect to see your address.",
        ),
        Fact(
            "http-address",
            "The address of a BitTorrent (HTTP) peer",
            f"In memory only, at most {duration(http_address_kept_seconds(row))}",
            "Forgotten when the client stops, or that long after its last announce (two "
            "announce intervals, checked every minute). Never written to disk or to a log.",
        ),
        _stun_fact(),
    ]
