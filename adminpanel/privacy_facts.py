"""What this instance does with viewers' addresses, as the privacy FAQ shows it: live values.

Every value is computed from the instance settings and the code that enforces it, never typed into
the template, so the FAQ changes the moment an admin changes a setting. Later features (request
limits, alarms, redundancy) replace their "not yet" rows here.
"""

from dataclasses import dataclass

from instance.ice import servers_shown
from instance.models import InstanceSettings, P2PSetting, Video
from instance.redundancy.models import RedundancyCopy, RedundancyStrategy
from tracker.access import guard_config, tracker_config
from tracker.core.addresses import IPV4_SHOWN_PREFIX, IPV6_SHOWN_PREFIX
from tracker.service import SWEEP_SECONDS


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


def http_address_kept_seconds(row: InstanceSettings) -> float:
    """The longest an HTTP peer's address stays in memory after its last announce: its TTL
    (two announce intervals) plus one period of the tracker's sweep that forgets it."""
    return tracker_config(row).peer_ttl + SWEEP_SECONDS


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


def _crowd_fact(row: InstanceSettings) -> Fact:
    threshold = row.p2p_min_viewers
    own = Video.objects.filter(p2p_min_viewers__isnull=False).count()
    exceptions = (
        f" {own} video{'s have' if own != 1 else ' has'} a threshold of its own." if own else ""
    )
    if threshold <= 1:
        return Fact(
            "crowd",
            "P2P only from N viewers",
            "1 (no threshold)",
            "P2P starts as soon as a second viewer watches the same video. In a swarm of two, "
            "each address says a lot about who watched." + exceptions,
        )
    return Fact(
        "crowd",
        "P2P only from N viewers",
        str(threshold),
        f"Until {threshold} different addresses watch the same video, the tracker connects "
        "nobody and the video plays from this server: in a small swarm an address says a lot "
        "about who watched, in a crowd it says little, and a crowd is where P2P saves "
        "bandwidth anyway. One address with many tabs counts once; this instance's own "
        "copies do not count. The watch page shows the count." + exceptions,
    )


def _stun_fact(row: InstanceSettings) -> Fact:
    servers = servers_shown(row)
    if not servers:
        return Fact(
            "stun",
            "STUN / TURN servers",
            "None",
            "No server learns your address to help peers connect, so P2P connects you only "
            "with viewers your browser reaches directly (usually on the same network); "
            "others get the video from this server.",
        )
    third_parties = [server.url for server in servers if server.third_party]
    detail = (
        "Your browser asks these servers for its public address when it uses P2P, so they "
        "learn it: that is what lets viewers behind home routers (NAT) connect."
    )
    if third_parties:
        detail += (
            f" Run by a third party, chosen by this instance's admin: {', '.join(third_parties)}."
        )
    else:
        detail += " Only this instance runs them: no one else learns who watches."
    return Fact(
        "stun",
        "STUN / TURN servers",
        ", ".join(f"{server.url} ({server.kind}, {server.operator})" for server in servers),
        detail,
    )


def _redundancy_fact() -> Fact:
    strategies = [
        s.get_name_display().lower() for s in RedundancyStrategy.objects.filter(enabled=True)
    ]
    if not strategies:
        return Fact("redundancy", "Redundancy", "Off", "This instance makes no automated copies.")
    copies = RedundancyCopy.objects.published().count()
    return Fact(
        "redundancy",
        "Redundancy",
        "On",
        f"This instance copies videos on its own ({', '.join(strategies)}) and each copy joins "
        f"its video's swarm as a seeder ({copies} cop{'y' if copies == 1 else 'ies'} now): an "
        "address in a swarm may be such an automated peer, not a person who chose to watch.",
    )


def _request_limits_fact(row: InstanceSettings) -> Fact:
    guard = guard_config(row)
    window = duration(guard.window)
    return Fact(
        "request-limits",
        "Request limits per address",
        f"{guard.max_videos} videos within {window}",
        f"One address may ask about at most {guard.max_videos} different videos within "
        f"{window} ({guard.video_burst} at once), over at most {guard.max_sockets} connections "
        f"({guard.socket_messages_per_minute} messages a minute each) or {guard.http_requests} "
        "HTTP requests. Asking again and again before an interval is over soon brings no new "
        f"peers. After {guard.breaches_before_block} refused requests the address is blocked for "
        f"{duration(guard.block_seconds)}. Counted in memory only, forgotten {window} after "
        "the last request.",
    )


def _alarms_fact(row: InstanceSettings) -> Fact:
    guard = guard_config(row)
    return Fact(
        "alarms",
        "Alarms on address collecting",
        "On",
        f"The admins are warned when one address asks about {guard.alarm_videos} videos or "
        f"{guard.alarm_unknown_videos} unknown ones, announces {guard.alarm_early_announces} "
        f"times too early, opens {guard.alarm_sockets} connections, or is blocked. An alarm "
        f"names the address only by a keyed hash (the key changes every day) and its "
        f"/{IPV4_SHOWN_PREFIX} (IPv4) or /{IPV6_SHOWN_PREFIX} (IPv6) network.",
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
        _crowd_fact(row),
        Fact(
            "peers-per-reply",
            "Peers per reply / offers relayed per announce",
            str(config.max_peers_per_reply),
            "A BitTorrent client gets at most this many addresses per request; a browser's "
            "connection offers go to at most "
            f"{min(config.max_peers_per_reply, config.max_relayed_offers)} peers per announce, "
            "chosen at random.",
        ),
        Fact(
            "announce-interval",
            "Announce interval",
            duration(config.announce_interval),
            "How often a player contacts the tracker while the video is open.",
        ),
        _request_limits_fact(row),
        Fact(
            "http-peers-per-address",
            "BitTorrent (HTTP) peers per address in one swarm",
            str(config.max_http_peers_per_address),
            "One address (an IPv6 /64 counts as one) holds at most this many places in a "
            "video's swarm; a new one replaces its peer that announced longest ago. So nobody "
            "fills a swarm with itself to become the peer every client connects to, and "
            "learns their addresses.",
        ),
        _alarms_fact(row),
        _redundancy_fact(),
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
        _stun_fact(row),
    ]
