"""The guard's counters (tracker/core/windows.py), which hold nothing until first used."""

from tracker.core.windows import DistinctWindow, RecentEvents


def test_distinct_windows_keep_their_keys_to_themselves():
    used, untouched = DistinctWindow(), DistinctWindow()
    assert used.put(b"a", 0.0) == 1 and used.put(b"b", 1.0) == 2
    used.discard(b"b")
    untouched.discard(b"a")
    assert not untouched.refresh(b"a", 2.0)
    assert len(untouched) == 0 and not untouched and len(DistinctWindow()) == 0
    assert used.refresh(b"a", 2.0) and len(used) == 1


def test_a_distinct_window_forgets_keys_older_than_the_window_oldest_sighting_first():
    window = DistinctWindow()
    window.put(b"a", 0.0)
    window.put(b"b", 5.0)
    window.refresh(b"a", 6.0)  # seen again: now the newest
    assert window.room(12.0, 10.0, 2) is False  # nothing is older than 10 s yet
    assert window.room(15.5, 10.0, 2) is True  # b (5.0) expired, a (6.0) stays
    assert len(window) == 1 and window.refresh(b"a", 16.0)


def test_recent_events_count_within_the_window_and_start_again_when_cleared():
    events = RecentEvents()
    assert [events.add(t, 3, 10.0) for t in (0.0, 1.0, 2.0, 3.0)] == [1, 2, 3, 3]
    assert events.add(12.5, 3, 10.0) == 2  # 0-2 s gone: 3.0 and 12.5 remain
    events.clear()
    assert events.add(13.0, 3, 10.0) == 1
