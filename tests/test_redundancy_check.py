"""The redundancy check in the database: which files each strategy selects under its budget, and
how copies are queued, kept, renewed, dropped and retried. Downloads are in the live tests."""

import datetime
import itertools

import pytest
from django.utils import timezone

from instance.models import InstanceSettings, P2PSetting, Video, VideoFile, VideoViewDay
from instance.redundancy import check
from instance.redundancy.models import (
    FAILED_COPY_RETRY_AFTER,
    STALLED_COPY_AFTER,
    CopyState,
    RedundancyCopy,
    RedundancyStrategy,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redundancy_root")]
_numbers = itertools.count()
MB = 1024**2


def add_file(
    name: str, *, size: int = MB, views: int = 0, age_days: int = 0, p2p=None
) -> VideoFile:
    """A video with one file of `size` bytes, `views` in total (today), created `age_days` ago."""
    number = next(_numbers)
    video = Video.objects.create(name=name, duration=1, views=views, p2p=p2p or P2PSetting.INHERIT)
    Video.objects.filter(pk=video.pk).update(
        created=timezone.now() - datetime.timedelta(days=age_days, seconds=number)
    )
    if views:
        VideoViewDay.objects.create(video=video, day=timezone.now().date(), views=views)
    return VideoFile.objects.create(
        video=video,
        resolution=360,
        width=640,
        size=size,
        file=f"web-videos/{name}-{number}.mp4",
        torrent=f"torrents/{name}-{number}.torrent",
        info_hash=f"{number:040x}",
        piece_length=16384,
    )


def configure(name: str, **fields) -> RedundancyStrategy:
    fields.setdefault("enabled", True)
    RedundancyStrategy.objects.filter(name=name).update(**fields)
    return RedundancyStrategy.objects.get(name=name)


def states() -> dict[str, tuple[str, str]]:
    """Video name -> (strategy, state) of its copy."""
    return {
        copy.video_file.video.name: (copy.strategy, copy.state)
        for copy in RedundancyCopy.objects.select_related("video_file__video")
    }


def publish_now(video_file: VideoFile, strategy: str, *, expires_in: datetime.timedelta):
    """A copy as a finished download leaves it: published, its file in the storage."""
    copy = RedundancyCopy.objects.create(
        video_file=video_file,
        strategy=strategy,
        state=CopyState.PUBLISHED,
        published_at=timezone.now(),
        expires_at=timezone.now() + expires_in,
        bytes_done=video_file.size,
    )
    copy.path.write_bytes(b"copy")
    return copy


def test_the_three_strategies_exist_switched_off():
    strategies = {s.name: s.enabled for s in RedundancyStrategy.objects.all()}
    assert strategies == {"most-views": False, "trending": False, "recently-added": False}
    add_file("watched", views=50)
    assert not check.run_check().changed and states() == {}


def test_a_view_counts_in_the_total_and_in_todays_row():
    video = add_file("clip").video
    video.record_view()
    video.record_view()
    video.refresh_from_db()
    assert video.views == 2
    assert VideoViewDay.objects.get(video=video, day=timezone.now().date()).views == 2


def test_the_watch_page_counts_a_view(client):
    video = add_file("clip").video
    client.get(video.get_absolute_url())
    client.head(video.get_absolute_url())
    assert Video.objects.get(pk=video.pk).views == 1


def test_most_views_takes_the_most_viewed_files_that_fit_its_budget():
    add_file("top", size=3 * MB, views=30)
    add_file("second", size=4 * MB, views=20)
    add_file("third", size=2 * MB, views=10)
    add_file("small", size=1 * MB, views=5)
    add_file("unwatched", size=1 * MB)
    configure("most-views", size_budget=5 * MB)
    result = check.run_check()
    # "second" does not fit after "top"; the next ones that fit are taken, in order.
    assert states() == {"top": ("most-views", "queued"), "third": ("most-views", "queued")}
    assert len(result.queued) == 2
    configure("most-views", size_budget=6 * MB)
    check.run_check()
    assert set(states()) == {"top", "third", "small"}


def test_trending_counts_only_the_views_of_its_last_days():
    old_hit = add_file("old hit", views=0)
    VideoViewDay.objects.create(
        video=old_hit.video, day=timezone.now().date() - datetime.timedelta(days=10), views=500
    )
    Video.objects.filter(pk=old_hit.video_id).update(views=500)
    add_file("fresh", views=3)
    add_file("fresher", views=7)
    configure("trending", trending_days=7, size_budget=2 * MB)
    check.run_check()
    assert states() == {"fresher": ("trending", "queued"), "fresh": ("trending", "queued")}
    configure("most-views", size_budget=MB)
    RedundancyCopy.objects.all().delete()
    check.run_check()
    # most-views runs first and counts every view ever: the old hit is its pick.
    assert states()["old hit"] == ("most-views", "queued")


def test_recently_added_takes_the_newest_files_with_enough_views():
    add_file("new but unwatched", age_days=0, views=1)
    add_file("newish", age_days=1, views=10)
    add_file("old", age_days=30, views=40)
    configure("recently-added", min_views=10, size_budget=MB)
    check.run_check()
    assert states() == {"newish": ("recently-added", "queued")}


def test_a_file_is_copied_once_for_the_first_strategy_that_wants_it():
    add_file("hit", views=9)
    add_file("other", views=1)
    configure("most-views", size_budget=MB)
    configure("trending", size_budget=10 * MB)
    check.run_check()
    assert states() == {"hit": ("most-views", "queued"), "other": ("trending", "queued")}


def test_videos_without_p2p_get_no_copy_and_lose_theirs():
    add_file("p2p off", views=9, p2p=P2PSetting.OFF)
    inherits = add_file("inherits", views=1)
    configure("most-views")
    check.run_check()
    assert set(states()) == {"inherits"}
    RedundancyCopy.objects.update(
        state=CopyState.PUBLISHED, expires_at=timezone.now() + datetime.timedelta(1)
    )
    # Even within its lifetime: without P2P nobody loads the torrent its webseed is in.
    InstanceSettings.objects.create(pk=1, p2p_enabled=False)
    assert check.run_check().dropped == [inherits.redundancy_copy.pk]
    assert states() == {"inherits": ("most-views", "expired")}
    assert RedundancyCopy.objects.get().reason.startswith("P2P is off for this video")


def test_running_the_same_check_twice_changes_nothing():
    for n in range(4):
        add_file(f"clip {n}", views=n + 1)
    add_file("was dropped", views=1)
    configure("most-views", size_budget=3 * MB)
    configure("trending", size_budget=MB)
    assert check.run_check().changed
    before = list(RedundancyCopy.objects.values())
    assert not check.run_check().changed
    assert list(RedundancyCopy.objects.values()) == before


def test_a_copy_is_kept_its_minimum_lifetime_before_a_better_candidate_replaces_it(
    redundancy_root,
):
    old = add_file("old favourite", views=5)
    copy = publish_now(old, "most-views", expires_in=datetime.timedelta(hours=1))
    add_file("new favourite", views=50)
    configure("most-views", size_budget=MB)
    assert not check.run_check().changed
    assert states() == {"old favourite": ("most-views", "published")}
    # The lifetime is over: the better candidate takes the room.
    RedundancyCopy.objects.filter(pk=copy.pk).update(expires_at=timezone.now())
    result = check.run_check()
    assert result.dropped == [copy.pk]
    assert states() == {
        "old favourite": ("most-views", "expired"),
        "new favourite": ("most-views", "queued"),
    }
    assert not copy.path.exists()
    assert RedundancyCopy.objects.get(pk=copy.pk).reason.startswith("Lifetime over")


def test_an_expired_copy_its_strategy_still_selects_is_renewed():
    copy = publish_now(
        add_file("evergreen", views=5), "most-views", expires_in=-datetime.timedelta(1)
    )
    configure("most-views", min_lifetime_hours=10)
    result = check.run_check()
    assert result.renewed == [copy.pk] and not result.dropped
    copy.refresh_from_db()
    assert copy.state == CopyState.PUBLISHED and copy.path.exists()
    assert copy.expires_at > timezone.now() + datetime.timedelta(hours=9)


def test_switching_a_strategy_off_drops_its_copies_at_the_next_check():
    copy = publish_now(add_file("hit", views=5), "trending", expires_in=datetime.timedelta(1))
    queued = add_file("queued", views=3)
    configure("trending")
    check.run_check()
    assert states()["queued"] == ("trending", "queued")
    configure("trending", enabled=False)
    result = check.run_check()
    assert sorted(result.dropped) == sorted([copy.pk, queued.redundancy_copy.pk])
    copy.refresh_from_db()
    assert copy.state == CopyState.EXPIRED and copy.reason == "Strategy Trending was switched off."
    assert not copy.path.exists()


def test_a_failed_copy_is_tried_again_only_after_a_day():
    video_file = add_file("corrupt", views=5)
    configure("most-views")
    check.run_check()
    copy = video_file.redundancy_copy
    RedundancyCopy.objects.filter(pk=copy.pk).update(
        state=CopyState.FAILED, reason="Piece 3 of 9 does not match"
    )
    assert not check.run_check().changed
    assert states() == {"corrupt": ("most-views", "failed")}
    RedundancyCopy.objects.filter(pk=copy.pk).update(
        state_changed=timezone.now() - FAILED_COPY_RETRY_AFTER
    )
    assert check.run_check().queued == [copy.pk]
    copy.refresh_from_db()
    assert copy.state == CopyState.QUEUED and copy.reason == ""


def test_a_stalled_download_is_queued_again_and_a_live_one_is_left_alone():
    video_file = add_file("big", views=5)
    configure("most-views")
    check.run_check()
    copy = video_file.redundancy_copy
    RedundancyCopy.objects.filter(pk=copy.pk).update(
        state=CopyState.DOWNLOADING, claim="a" * 32, heartbeat=timezone.now()
    )
    assert not check.run_check().changed
    RedundancyCopy.objects.filter(pk=copy.pk).update(heartbeat=timezone.now() - STALLED_COPY_AFTER)
    assert check.run_check().queued == [copy.pk]
    copy.refresh_from_db()
    assert copy.state == CopyState.QUEUED and copy.claim == ""
    assert "stopped without finishing" in copy.reason


def test_files_no_copy_holds_are_swept_from_the_storage(redundancy_root):
    kept = publish_now(add_file("kept", views=5), "most-views", expires_in=datetime.timedelta(1))
    configure("most-views")
    (redundancy_root / "deleted-video.mp4").write_bytes(b"x")
    (redundancy_root / f"{kept.filename}.part").write_bytes(b"x")
    check.run_check()
    assert sorted(p.name for p in redundancy_root.iterdir()) == [kept.filename]


def test_a_check_run_again_sends_the_unclaimed_downloads_again_and_changes_nothing():
    # The first check's worker may have been killed between the copy's row and its message.
    video_file = add_file("watched", views=5)
    configure("most-views")
    copy_id = check.run_check().queued[0]
    again = check.run_check()
    assert not again.changed and again.unclaimed == [copy_id]
    assert states() == {"watched": ("most-views", "queued")}
    RedundancyCopy.objects.filter(pk=copy_id).update(
        state=CopyState.DOWNLOADING, claim="a" * 32, heartbeat=timezone.now()
    )
    assert check.run_check().unclaimed == []  # claimed: a run holds it
    assert video_file.redundancy_copy.pk == copy_id
