"""The tracker's cached policy: a change made by another process is seen through the policy
version, and an unchanged catalogue costs one small query, not a reload of every file."""

import pytest

from instance.models import P2PSetting, Video
from tests.tracker_helpers import add_video
from tracker.access import FULL_RELOAD_SECONDS, POLICY_MAX_AGE, TrackerPolicy
from tracker.models import PolicyVersion

pytestmark = pytest.mark.django_db


def aged(policy: TrackerPolicy) -> TrackerPolicy:
    policy._loaded_at -= POLICY_MAX_AGE + 1
    assert policy.stale
    return policy


def test_an_unchanged_catalogue_is_checked_with_one_query(django_assert_num_queries):
    info_hash = add_video("steady")
    policy = TrackerPolicy()
    policy.refresh()
    assert policy.current.p2p[info_hash]
    with django_assert_num_queries(1):
        aged(policy).refresh()
    assert not policy.stale and policy.current.p2p[info_hash]


def test_a_change_committed_by_another_process_is_loaded_once_the_cache_is_old():
    info_hash = add_video("elsewhere")
    policy = TrackerPolicy()
    policy.refresh()
    # What another process does: its save's signal bumps the version with the change.
    Video.objects.update(p2p=P2PSetting.OFF)
    PolicyVersion.bump()
    assert policy.current.p2p[info_hash]  # not before the cache is old
    aged(policy).refresh()
    assert policy.current.p2p[info_hash] is False


def test_saving_a_video_bumps_the_policy_version_once_committed(
    django_capture_on_commit_callbacks,
):
    before = PolicyVersion.current()
    with django_capture_on_commit_callbacks(execute=True):
        add_video("saved")
        assert PolicyVersion.current() == before  # the row is not locked during the change
    assert PolicyVersion.current() > before


def test_a_change_written_without_save_is_loaded_by_the_periodic_full_reload():
    info_hash = add_video("console")
    policy = TrackerPolicy()
    policy.refresh()
    Video.objects.update(p2p=P2PSetting.OFF)  # no signal, no version bump
    aged(policy).refresh()
    assert policy.current.p2p[info_hash]
    policy._fully_loaded_at -= FULL_RELOAD_SECONDS
    aged(policy).refresh()
    assert policy.current.p2p[info_hash] is False
