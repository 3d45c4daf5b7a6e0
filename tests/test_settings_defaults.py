"""The instance settings' tunable limits start at the tracker core's defaults.

The mapping from settings fields to core fields is the one tracker.access applies, read from its
behaviour: each integer field is changed alone, and the core fields that change to that value are
the ones it feeds (a derived field, like min_interval from announce_interval, takes another value).
"""

import dataclasses

from django.db import models

from instance.models import InstanceSettings
from tracker.access import guard_config, tracker_config
from tracker.core import GuardConfig, TrackerConfig

CONFIGS = {GuardConfig: guard_config, TrackerConfig: tracker_config}


def integer_fields() -> list[str]:
    return [
        field.name
        for field in InstanceSettings._meta.get_fields()
        if isinstance(field, models.PositiveIntegerField | models.PositiveSmallIntegerField)
    ]


def core_fields_fed_by(name: str) -> list[tuple[type, str]]:
    """The (core config, field) pairs that take the value of settings field `name`."""
    before, after = InstanceSettings(), InstanceSettings()
    value = getattr(before, name) + 1  # stays within every validator and HARD_MAX_PEERS
    setattr(after, name, value)
    return [
        (config, field.name)
        for config, build in CONFIGS.items()
        for field in dataclasses.fields(config)
        if getattr(build(after), field.name) == value != getattr(build(before), field.name)
    ]


def settings_to_core() -> dict[tuple[type, str], str]:
    return {core: name for name in integer_fields() for core in core_fields_fed_by(name)}


def test_every_guard_limit_is_fed_by_a_settings_field():
    mapped = {field for config, field in settings_to_core() if config is GuardConfig}
    assert mapped == {field.name for field in dataclasses.fields(GuardConfig)}


def test_the_tracker_limits_an_admin_sets_are_fed_by_settings_fields():
    mapped = {field for config, field in settings_to_core() if config is TrackerConfig}
    assert {"announce_interval", "max_peers_per_reply", "max_http_peers_per_address"} <= mapped


def test_every_settings_field_mapped_to_a_core_limit_has_the_core_default():
    row = InstanceSettings()  # the defaults, as a fresh instance gets them
    mismatches = {
        f"{name} -> {config.__name__}.{field}": (getattr(row, name), getattr(config(), field))
        for (config, field), name in settings_to_core().items()
        if getattr(row, name) != getattr(config(), field)
    }
    assert not mismatches
