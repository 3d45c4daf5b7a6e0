"""The redundancy strategies' form, with sizes written as PeerTube's config writes them ("10GB")."""

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from instance.redundancy.models import RedundancyStrategy, RedundancyStrategyName

# Binary units, as PeerTube's config reads sizes (its "10GB" is 10 x 1024^3 bytes).
UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}
# ASCII digits: \d would also take other scripts' digits.
SIZE_PATTERN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?i?b?)\s*", re.IGNORECASE | re.ASCII)
MAX_BUDGET = 1024**5


def parse_size(text: str) -> int:
    """Bytes; any size above MAX_BUDGET reads as MAX_BUDGET + 1, which no budget accepts."""
    match = SIZE_PATTERN.fullmatch(text or "")
    if not match:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    unit = unit.lower().replace("i", "")
    if unit and not unit.endswith("b"):
        unit += "b"
    # Decimal, not float: float("9" * 400) is inf, which int() refuses (OverflowError).
    # Compared before multiplying: Decimal's context overflows past a million digits.
    value = Decimal(number)
    if value > MAX_BUDGET:
        return MAX_BUDGET + 1
    return int(min(value * UNITS[unit], MAX_BUDGET + 1))


def format_size(size: int, *, exact: bool = False) -> str:
    """The size in its largest unit, rounded to one decimal (10GB, 1.5MB, 800B). Exact: the
    largest unit that divides it, else bytes, so that a form saved unchanged changes nothing."""
    for unit in ("TB", "GB", "MB", "KB"):
        factor = UNITS[unit.lower()]
        if size >= factor and (not exact or size % factor == 0):
            value = size / factor
            return f"{value:g}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{size}B"


class SizeField(forms.Field):
    default_error_messages = {
        "invalid": "Write a size such as 10GB, 500MB or 800KB (1GB = 1024MB).",
        "too_large": "At most 1024TB.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def validate(self, value):
        super().validate(value)
        if value is not None and value > MAX_BUDGET:
            raise ValidationError(self.error_messages["too_large"], code="too_large")

    def prepare_value(self, value):
        return format_size(value, exact=True) if isinstance(value, int) else value


class RedundancyStrategyForm(forms.ModelForm):
    size_budget = SizeField(
        label="Size budget",
        help_text="Room its copies may take, e.g. 10GB or 500MB (1GB = 1024MB).",
    )

    class Meta:
        model = RedundancyStrategy
        fields = ["enabled", "size_budget", "min_lifetime_hours", "trending_days", "min_views"]
        labels = {
            "enabled": "On",
            "min_lifetime_hours": "Minimum lifetime (hours)",
            "trending_days": "Views of the last (days)",
            "min_views": "Minimum views",
        }

    def __init__(self, *args, **kwargs):
        instance = kwargs["instance"]
        kwargs.setdefault("prefix", instance.name)
        super().__init__(*args, **kwargs)
        # Each strategy shows only its own parameter.
        if instance.name != RedundancyStrategyName.TRENDING:
            del self.fields["trending_days"]
        if instance.name != RedundancyStrategyName.RECENTLY_ADDED:
            del self.fields["min_views"]
