"""Which STUN (and TURN) servers a viewer's browser contacts for P2P, and who runs them.

Each of them learns the public address of every viewer who watches with P2P on. The order of
precedence: the admin panel's list (InstanceSettings.ice_servers), else PEERVEIL_ICE_SERVERS,
else the instance's own STUN server when it runs one, else none (P2P then connects only viewers
who reach each other directly, such as two on the same network). The watch page, the embed and
the privacy FAQ show the list as it is now, each server with who runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError

if TYPE_CHECKING:
    from .models import InstanceSettings

# RFC 7064/7065: stun:host[:port], turn:host[:port][?transport=udp|tcp] (and stuns:, turns:).
ICE_URL = re.compile(
    r"(?P<scheme>stuns?|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/?\[\]@]+)"
    r"(?::(?P<port>\d{1,5}))?(?:\?transport=(?:udp|tcp))?"
)
DEFAULT_PORTS = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}
ICE_SERVER_KEYS = {"urls", "username", "credential"}
THIS_INSTANCE = "this instance"
THIRD_PARTY = "a third party, chosen by this instance's admin"


def own_stun_url() -> str | None:
    """The instance's own STUN server as browsers reach it, or None when it runs none."""
    return f"stun:{settings.STUN_PUBLIC}" if settings.STUN_SERVER_BINARY else None


def ice_servers(row: InstanceSettings) -> list[dict]:
    """The RTCIceServer list the players use now."""
    if row.ice_servers is not None:
        return row.ice_servers
    if settings.ICE_SERVERS is not None:
        return settings.ICE_SERVERS
    own = own_stun_url()
    return [{"urls": own}] if own else []


def server_urls(servers: list[dict]) -> list[str]:
    urls: list[str] = []
    for server in servers:
        urls += [server["urls"]] if isinstance(server["urls"], str) else list(server["urls"])
    return urls


def _endpoint(url: str) -> tuple[str, str, int] | None:
    match = ICE_URL.fullmatch(url)
    if not match:
        return None
    scheme = match["scheme"]
    return scheme, match["host"].lower(), int(match["port"] or DEFAULT_PORTS[scheme])


@dataclass(frozen=True)
class IceServerShown:
    url: str
    kind: str  # "STUN" (learns the address) or "TURN" (also relays the traffic)
    operator: str  # THIS_INSTANCE or THIRD_PARTY

    @property
    def third_party(self) -> bool:
        return self.operator == THIRD_PARTY


def servers_shown(row: InstanceSettings) -> list[IceServerShown]:
    """The servers in use, each with who runs it: only the instance's own STUN server, when it
    runs, is the instance's; any other address is a third party's, even on the same host."""
    own = own_stun_url()
    own_endpoint = _endpoint(own) if own else None
    return [
        IceServerShown(
            url,
            "TURN" if url.startswith("turn") else "STUN",
            THIS_INSTANCE if own_endpoint and _endpoint(url) == own_endpoint else THIRD_PARTY,
        )
        for url in server_urls(ice_servers(row))
    ]


def validate_ice_servers(value: object) -> None:
    """A JSON list of RTCIceServer objects: {"urls": URL or [URL, ...]} with stun:, stuns:,
    turn: or turns: URLs, and for TURN a "username" and a "credential"."""
    if value is None:
        return
    if not isinstance(value, list):
        raise ValidationError('A JSON list, e.g. [{"urls": "stun:stun.example.org:3478"}].')
    for position, server in enumerate(value, 1):
        if not isinstance(server, dict) or "urls" not in server:
            raise ValidationError(f'Server {position}: an object with "urls".')
        unknown = set(server) - ICE_SERVER_KEYS
        if unknown:
            raise ValidationError(
                f"Server {position}: unknown key {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(ICE_SERVER_KEYS))})."
            )
        urls = server["urls"]
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls:
            raise ValidationError(f'Server {position}: "urls" is a URL or a list of URLs.')
        for url in urls:
            if not isinstance(url, str) or not _endpoint(url):
                raise ValidationError(
                    f"Server {position}: {str(url)[:100]!r} is not a stun:, stuns:, turn: or "
                    "turns: URL (e.g. stun:stun.example.org:3478)."
                )
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                raise ValidationError(f'Server {position}: "{key}" is a string.')
