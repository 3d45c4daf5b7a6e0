from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from instance.models import InstanceSettings, P2PSetting


def bounds(field_name: str) -> tuple[int, int]:
    """The lowest and highest value the model accepts for a setting."""
    validators = InstanceSettings._meta.get_field(field_name).validators
    low = next(v.limit_value for v in validators if isinstance(v, MinValueValidator))
    high = next(v.limit_value for v in validators if isinstance(v, MaxValueValidator))
    return low, high


def range_messages(field_name: str, what: str) -> dict[str, str]:
    """One clear message for every way a number can be wrong, with the limits of the model."""
    low, high = bounds(field_name)
    message = f"{what} must be a whole number from {low} to {high}."
    return {code: message for code in ("required", "invalid", "min_value", "max_value")}


class InstanceP2PForm(forms.ModelForm):
    def __init__(self, data=None, *args, instance=None, **kwargs):
        # A client that posts only the switches (an older page, a script) keeps the saved
        # threshold; an unchecked box is absent by design, so only the number is filled in.
        if data is not None and instance is not None and "p2p_min_viewers" not in data:
            data = data.copy()
            data["p2p_min_viewers"] = instance.p2p_min_viewers
        super().__init__(data, *args, instance=instance, **kwargs)
        low, high = bounds("p2p_min_viewers")
        self.fields["p2p_min_viewers"].help_text += f" From {low} to {high}."

    class Meta:
        model = InstanceSettings
        fields = ["p2p_enabled", "p2p_requires_consent", "p2p_min_viewers"]
        error_messages = {
            "p2p_min_viewers": range_messages("p2p_min_viewers", "P2P only from N viewers")
        }


# Spy defences: per address, within the counting window.
SPY_DEFENCE_FIELDS = [
    "guard_window",
    "max_videos_per_address",
    "max_videos_at_once",
    "max_sockets_per_address",
    "max_messages_per_socket",
    "max_messages_per_address",
    "max_http_requests_per_address",
    "max_http_announces_per_video",
    "max_http_peers_per_address",
    "breaches_before_block",
    "block_seconds",
    "alarm_videos",
    "alarm_early_announces",
    "alarm_unknown_videos",
    "alarm_sockets",
]


class TrackerLimitsForm(forms.ModelForm):
    """The tracker's tunable limits. Later limits (request rates, alarm thresholds, redundancy)
    are added to `fields`; the panel lists whatever fields the form has. A field left out of
    the submitted data keeps its saved value, so a client that knows only some limits (or an
    older page) changes only those."""

    def __init__(self, data=None, *args, instance=None, **kwargs):
        if data is not None and instance is not None:
            data = data.copy()
            for name in self._meta.fields:
                if name not in data:
                    data[name] = getattr(instance, name)
        super().__init__(data, *args, instance=instance, **kwargs)
        for name in SPY_DEFENCE_FIELDS:
            # The spy-defence limits show their default and bounds, from the model.
            low, high = bounds(name)
            default = InstanceSettings._meta.get_field(name).default
            self.fields[name].help_text += f" Default {default}; from {low} to {high}."

    class Meta:
        model = InstanceSettings
        fields = ["max_peers_per_reply", "announce_interval", *SPY_DEFENCE_FIELDS]
        labels = {
            "max_peers_per_reply": "Peers per reply / offers relayed per announce",
            "announce_interval": "Announce interval (seconds)",
            "guard_window": "Counting window (seconds)",
            "max_videos_per_address": "Videos per address",
            "max_videos_at_once": "New videos at once per address",
            "max_sockets_per_address": "Open connections per address",
            "max_messages_per_socket": "Messages per connection per minute",
            "max_messages_per_address": "Messages per address per minute",
            "max_http_requests_per_address": "HTTP requests per address",
            "max_http_announces_per_video": "HTTP announces per address and video",
            "max_http_peers_per_address": "HTTP peers per address in one swarm",
            "breaches_before_block": "Refused requests before a block",
            "block_seconds": "Block duration (seconds)",
            "alarm_videos": "Alarm: videos per address",
            "alarm_early_announces": "Alarm: early announces per address",
            "alarm_unknown_videos": "Alarm: unknown videos per address",
            "alarm_sockets": "Alarm: open connections per address",
        }
        help_texts = {
            "max_peers_per_reply": "Addresses listed in one HTTP tracker reply, and browser "
            "offers relayed to other peers for one announce (5 at most, as many as webtorrent "
            "makes). Smaller lists make collecting the addresses of a swarm slower.",
            "announce_interval": "How often clients contact the tracker. An HTTP peer's address "
            "is forgotten two intervals after its last announce.",
            "guard_window": "The limits and alarms below count requests over this many seconds "
            "(videos: at least one announce interval).",
            "max_videos_per_address": "Different videos one address may announce or scrape "
            "within the window; a viewer plays one at a time, a collector asks about all of "
            "them.",
            "max_videos_at_once": "How many of them may be new at once; after that, one more "
            "every (counting window / videos per address) seconds. A video refused only for "
            "this plays from its web seed without P2P and is no step towards a block. At most "
            "the limit above.",
            "max_sockets_per_address": "A browser opens one per tab.",
            "max_messages_per_socket": "A viewer sends a few per interval (announces, answers).",
            "max_messages_per_address": "All connections of one address together.",
            "max_http_requests_per_address": "BitTorrent clients' announces and scrapes within "
            "the window.",
            "max_http_announces_per_video": "A client announces once per interval; a collector "
            "asks again and again for new random peers.",
            "max_http_peers_per_address": "BitTorrent clients one address (an IPv6 /64) may "
            "have in one video's swarm; a new one replaces the one that announced longest ago. "
            "One address cannot fill a swarm to be the peer everyone connects to.",
            "breaches_before_block": "Refused requests within the window after which the "
            "address is blocked: its connections are closed, new ones refused.",
            "block_seconds": "How long a block lasts, in memory only.",
            "alarm_videos": "Rings when one address asked about this many videos within the "
            "window, refused ones included.",
            "alarm_early_announces": "Rings after this many announces of the same video well "
            "before the interval is over.",
            "alarm_unknown_videos": "Rings after this many infohashes this instance never "
            "published (probing).",
            "alarm_sockets": "Rings when one address has this many connections open (at most "
            "the limit above).",
        }
        error_messages = {
            name: range_messages(name, label)
            for name, label in {
                "max_peers_per_reply": "Peers per reply",
                "announce_interval": "The announce interval",
                "guard_window": "The counting window",
                "max_videos_per_address": "Videos per address",
                "max_videos_at_once": "New videos at once",
                "max_sockets_per_address": "Connections per address",
                "max_messages_per_socket": "Messages per connection",
                "max_messages_per_address": "Messages per address",
                "max_http_requests_per_address": "HTTP requests per address",
                "max_http_announces_per_video": "HTTP announces per video",
                "max_http_peers_per_address": "HTTP peers per address",
                "breaches_before_block": "Refused requests before a block",
                "block_seconds": "The block duration",
                "alarm_videos": "The videos alarm",
                "alarm_early_announces": "The early announces alarm",
                "alarm_unknown_videos": "The unknown videos alarm",
                "alarm_sockets": "The connections alarm",
            }.items()
        }


class IceServersForm(forms.ModelForm):
    """The STUN/TURN servers viewers' browsers use; empty for the default (instance/ice.py)."""

    class Meta:
        model = InstanceSettings
        fields = ["ice_servers"]
        widgets = {"ice_servers": forms.Textarea(attrs={"rows": 3, "cols": 60})}
        error_messages = {
            "ice_servers": {"invalid": 'Not JSON: e.g. [{"urls": "stun:stun.example.org:3478"}].'}
        }


class VideoP2PForm(forms.Form):
    p2p = forms.ChoiceField(label="P2P", choices=P2PSetting.choices)
    # Where to go back to after the change (the list page it was made from); checked in the view.
    next = forms.CharField(required=False, widget=forms.HiddenInput)


def _crowd_field() -> forms.IntegerField:
    low, high = bounds("p2p_min_viewers")
    message = f"N must be a whole number from {low} to {high}, or empty for the instance's."
    return forms.IntegerField(
        label="P2P only from N viewers",
        required=False,
        min_value=low,
        max_value=high,
        error_messages={code: message for code in ("invalid", "min_value", "max_value")},
    )


class VideoCrowdForm(forms.Form):
    """A video's own crowd threshold; empty: the instance's (the same bounds)."""

    min_viewers = _crowd_field()


class VideoSearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=120)
