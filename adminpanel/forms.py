from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from instance.models import InstanceSettings, P2PSetting


def range_messages(field_name: str, what: str) -> dict[str, str]:
    """One clear message for every way a number can be wrong, with the limits of the model."""
    validators = InstanceSettings._meta.get_field(field_name).validators
    low = next(v.limit_value for v in validators if isinstance(v, MinValueValidator))
    high = next(v.limit_value for v in validators if isinstance(v, MaxValueValidator))
    message = f"{what} must be a whole number from {low} to {high}."
    return {code: message for code in ("required", "invalid", "min_value", "max_value")}


class InstanceP2PForm(forms.ModelForm):
    class Meta:
        model = InstanceSettings
        fields = ["p2p_enabled", "p2p_requires_consent"]


class TrackerLimitsForm(forms.ModelForm):
    """The tracker's tunable limits. Later limits (request rates, alarm thresholds, redundancy)
    are added to `fields`; the panel lists whatever fields the form has."""

    class Meta:
        model = InstanceSettings
        fields = ["max_peers_per_reply", "announce_interval"]
        labels = {
            "max_peers_per_reply": "Peers per reply / offers relayed per announce",
            "announce_interval": "Announce interval (seconds)",
        }
        help_texts = {
            "max_peers_per_reply": "Addresses listed in one HTTP tracker reply, and browser "
            "offers relayed to other peers for one announce. Smaller lists make collecting "
            "the addresses of a swarm slower.",
            "announce_interval": "How often clients contact the tracker. An HTTP peer's address "
            "is forgotten two intervals after its last announce.",
        }
        error_messages = {
            "max_peers_per_reply": range_messages("max_peers_per_reply", "Peers per reply"),
            "announce_interval": range_messages("announce_interval", "The announce interval"),
        }


class VideoP2PForm(forms.Form):
    p2p = forms.ChoiceField(label="P2P", choices=P2PSetting.choices)
    # Where to go back to after the change (the list page it was made from); checked in the view.
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class VideoSearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=120)
