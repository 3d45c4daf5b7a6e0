"""Whether the instance's own STUN server answers, for the panel: a real binding request."""

from dataclasses import dataclass

from django.conf import settings

from instance.stun import StunHealth, probe

# Where a STUN server listening on every address (0.0.0.0 or ::) is asked from this machine.
ANY_ADDRESS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


@dataclass(frozen=True)
class OwnStun:
    state: str  # "up", "down", "not-installed" or "off"
    port: int
    health: StunHealth | None = None


def own_stun_health() -> OwnStun:
    if not settings.STUN_PORT:
        return OwnStun("off", 0)
    if not settings.STUN_SERVER_BINARY:
        return OwnStun("not-installed", settings.STUN_PORT)
    host = ANY_ADDRESS.get(settings.STUN_HOST, settings.STUN_HOST)
    health = probe(host, settings.STUN_PORT)
    return OwnStun("up" if health.up else "down", settings.STUN_PORT, health)
