"""The single settings row of the instance: P2P, the tracker's limits, the spy guard's."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from tracker.core import HARD_MAX_PEERS, MAX_CROWD_THRESHOLD, GuardConfig, TrackerConfig

from ..ice import validate_ice_servers


def default_max_peers_per_reply() -> int:
    # The tracker never lists more than HARD_MAX_PEERS peers in one reply, whatever is set.
    return min(settings.TRACKER_MAX_PEERS_PER_REPLY, HARD_MAX_PEERS)


def default_announce_interval() -> int:
    return settings.TRACKER_ANNOUNCE_INTERVAL


class InstanceSettings(models.Model):
    """The single settings row of the instance (primary key 1)."""

    p2p_enabled = models.BooleanField(
        "P2P enabled", default=True, help_text="Share video bandwidth between viewers."
    )
    p2p_requires_consent = models.BooleanField(
        "P2P waits for the viewer's consent",
        default=True,
        help_text="Play over HTTP until the viewer accepts the P2P privacy notice.",
    )
    # 1 (no threshold) is what the tracker always did, so existing instances keep it.
    p2p_min_viewers = models.PositiveIntegerField(
        "P2P only from N viewers",
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CROWD_THRESHOLD)],
        help_text="Below this many distinct viewers (addresses) in a video's swarm, the "
        "tracker connects nobody there and the video plays from the server. 1: no threshold.",
    )
    max_peers_per_reply = models.PositiveSmallIntegerField(
        default=default_max_peers_per_reply,
        validators=[MinValueValidator(1), MaxValueValidator(HARD_MAX_PEERS)],
        help_text="Peers listed per HTTP tracker reply and offers relayed per announce.",
    )
    announce_interval = models.PositiveIntegerField(
        default=default_announce_interval,
        validators=[MinValueValidator(30), MaxValueValidator(3600)],
        help_text="Seconds between a client's announces.",
    )
    # Spy defences: per-address request limits, alarms and blocks, counted in memory only.
    # The defaults are the core's (tracker/core/guard.py GuardConfig, which says why); its float
    # durations are whole seconds here.
    guard_window = models.PositiveIntegerField(
        "counting window",
        default=int(GuardConfig.window),
        validators=[MinValueValidator(60), MaxValueValidator(86400)],
    )
    max_videos_per_address = models.PositiveIntegerField(
        "videos per address",
        default=GuardConfig.max_videos,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    max_videos_at_once = models.PositiveIntegerField(
        "videos at once per address",
        default=GuardConfig.video_burst,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    max_sockets_per_address = models.PositiveIntegerField(
        "connections per address",
        default=GuardConfig.max_sockets,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
    )
    max_messages_per_socket = models.PositiveIntegerField(
        "messages per connection per minute",
        default=GuardConfig.socket_messages_per_minute,
        validators=[MinValueValidator(10), MaxValueValidator(100000)],
    )
    max_messages_per_address = models.PositiveIntegerField(
        "messages per address per minute",
        default=GuardConfig.source_messages_per_minute,
        validators=[MinValueValidator(10), MaxValueValidator(1000000)],
    )
    max_http_requests_per_address = models.PositiveIntegerField(
        "HTTP requests per address",
        default=GuardConfig.http_requests,
        validators=[MinValueValidator(10), MaxValueValidator(1000000)],
    )
    max_http_announces_per_video = models.PositiveIntegerField(
        "HTTP announces per address and video",
        default=GuardConfig.http_announces_per_video,
        validators=[MinValueValidator(2), MaxValueValidator(100000)],
    )
    breaches_before_block = models.PositiveIntegerField(
        "breaches before a block",
        default=GuardConfig.breaches_before_block,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    block_seconds = models.PositiveIntegerField(
        "block duration",
        default=int(GuardConfig.block_seconds),
        validators=[MinValueValidator(60), MaxValueValidator(604800)],
    )
    alarm_videos = models.PositiveIntegerField(
        "alarm: videos per address",
        default=GuardConfig.alarm_videos,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    alarm_early_announces = models.PositiveIntegerField(
        "alarm: early announces per address",
        default=GuardConfig.alarm_early_announces,
        validators=[MinValueValidator(1), MaxValueValidator(100000)],
    )
    alarm_unknown_videos = models.PositiveIntegerField(
        "alarm: unknown videos per address",
        default=GuardConfig.alarm_unknown_videos,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    alarm_sockets = models.PositiveIntegerField(
        "alarm: connections per address",
        default=GuardConfig.alarm_sockets,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
    )
    # One address (an IPv4 address, an IPv6 /64) holds at most this many HTTP peers of one
    # swarm; the core's TrackerConfig says why and has the default.
    max_http_peers_per_address = models.PositiveIntegerField(
        "HTTP peers per address and swarm",
        default=TrackerConfig.max_http_peers_per_address,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    # Empty (None): the default, PEERVEIL_ICE_SERVERS or else the instance's own STUN server
    # (instance/ice.py). Each server set here learns every P2P viewer's address.
    ice_servers = models.JSONField(
        "STUN / TURN servers",
        null=True,
        blank=True,
        default=None,
        validators=[validate_ice_servers],
        help_text='Leave empty for the default. A JSON list, e.g. [{"urls": '
        '"stun:stun.example.org:3478"}]; [] for none.',
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "instance settings"
        verbose_name_plural = "instance settings"

    def __str__(self):
        return "Instance settings"

    def clean(self):
        # Above its limit, a burst or an alarm threshold could never be reached.
        errors = {
            name: f"At most the limit ({getattr(self, limit)}), or it is never reached."
            for name, limit in (
                ("max_videos_at_once", "max_videos_per_address"),
                ("alarm_sockets", "max_sockets_per_address"),
            )
            if isinstance(getattr(self, name), int)
            and isinstance(getattr(self, limit), int)
            and getattr(self, name) > getattr(self, limit)
        }
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "InstanceSettings":
        """The settings row, or the defaults (unsaved) before an admin first saves them.

        Reading never writes: the tracker reloads this while other code may be saving it."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)
