"""Upgrading a database made by the release before the redundancy app existed: its models moved
from the `instance` app to `redundancy` (instance/redundancy/migrations/0001_initial.py), and
every video, setting, strategy and copy is found again through the new models.

The "before" rows are written with the historical models of that release (the migration graph's
state at instance 0006 and tracker 0002), as that release's code wrote them."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from instance.models import InstanceSettings, Video
from instance.redundancy.models import CopyState, RedundancyCopy, RedundancyStrategy

# The last migrations of the release before the move, and the new app not yet there.
OLD_RELEASE = [("instance", "0006_redundancy_reverify"), ("tracker", "0002_policy_version")]

pytestmark = pytest.mark.django_db(transaction=True)


def migrate_to(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a new loader: it reads what is applied now


def old_release_apps(executor: MigrationExecutor):
    """The historical models at the old release: instance 0006, tracker 0002, the other apps
    (auth, contenttypes...) at their last migration, no redundancy app."""
    others = [
        node
        for node in executor.loader.graph.leaf_nodes()
        if node[0] not in ("instance", "tracker", "redundancy")
    ]
    return executor.loader.project_state([*OLD_RELEASE, *others], at_end=True).apps


def write_old_release_rows(old_apps) -> dict:
    """What the old release's code would have stored: a video, its file, the settings row, a
    strategy switched on, its published copy, and a permission on the copies' content type."""
    now = timezone.now()
    content_type = old_apps.get_model("contenttypes", "ContentType")
    # The old release never had the `redundancy` content types (the test database, made by
    # the current release, has them: they go, as if they had never been made).
    content_type.objects.filter(app_label="redundancy").delete()
    copy_type, _ = content_type.objects.get_or_create(app_label="instance", model="redundancycopy")
    permission = old_apps.get_model("auth", "Permission").objects.create(
        name="Can view redundancy copy", content_type=copy_type, codename="view_redundancycopy_old"
    )
    old_apps.get_model("instance", "InstanceSettings").objects.update_or_create(
        pk=1, defaults={"p2p_enabled": True, "max_videos_per_address": 7}
    )
    video = old_apps.get_model("instance", "Video").objects.create(
        name="Kept through the upgrade", duration=3, views=12
    )
    video_file = old_apps.get_model("instance", "VideoFile").objects.create(
        video=video,
        resolution=240,
        width=426,
        size=123456,
        file="web-videos/kept-240.mp4",
        torrent="torrents/kept-240.torrent",
        info_hash="ab" * 20,
        piece_length=16384,
    )
    old_apps.get_model("instance", "RedundancyStrategy").objects.update_or_create(
        name="most-views", defaults={"enabled": True, "size_budget": 5 * 1024**3}
    )
    copy = old_apps.get_model("instance", "RedundancyCopy").objects.create(
        video_file=video_file,
        strategy="most-views",
        state="published",
        bytes_done=123456,
        published_at=now,
        expires_at=now + timedelta(hours=48),
        peer_id="-PV0100-abcdefghijkl",
        verified_at=now,
        verify_cursor=5,
    )
    return {"copy": copy.pk, "video": video.pk, "permission": permission.pk, "type": copy_type.pk}


def test_an_old_release_database_keeps_its_videos_settings_strategies_and_copies():
    executor = migrate_to([*OLD_RELEASE, ("redundancy", None)])
    old_apps = old_release_apps(executor)
    with pytest.raises(LookupError):
        old_apps.get_model("redundancy", "RedundancyCopy")  # not an app yet in that release
    before = write_old_release_rows(old_apps)

    migrate_to(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    video = Video.objects.get()
    assert (video.pk, video.name, video.views) == (before["video"], "Kept through the upgrade", 12)
    assert InstanceSettings.load().max_videos_per_address == 7
    strategy = RedundancyStrategy.objects.get(name="most-views")
    assert strategy.enabled and strategy.size_budget == 5 * 1024**3
    copy = RedundancyCopy.objects.select_related("video_file__video").get()
    assert copy.pk == before["copy"] and copy.video_file.video == video
    assert (copy.state, copy.peer_id, copy.verify_cursor) == (
        CopyState.PUBLISHED,
        "-PV0100-abcdefghijkl",
        5,
    )
    # The catalogue still lists the copy as a webseed, through the registry the app fills.
    assert copy.video_file.webseeds == [copy.video_file.file_url, copy.url]
    # The content type moved with the model, and the permission granted on it with it.
    copy_type = ContentType.objects.get_for_model(RedundancyCopy)
    assert (copy_type.pk, copy_type.app_label) == (before["type"], "redundancy")
    assert Permission.objects.get(pk=before["permission"]).content_type == copy_type
    assert not ContentType.objects.filter(app_label="instance", model="redundancycopy").exists()


def test_the_move_can_be_undone_without_losing_a_copy():
    executor = migrate_to([*OLD_RELEASE, ("redundancy", None)])
    before = write_old_release_rows(old_release_apps(executor))
    executor = migrate_to(executor.loader.graph.leaf_nodes())
    executor = migrate_to([*OLD_RELEASE, ("redundancy", None)])
    old_apps = old_release_apps(executor)
    assert list(
        old_apps.get_model("instance", "RedundancyCopy").objects.values_list("pk", "state")
    ) == [(before["copy"], "published")]
    copy_type = old_apps.get_model("contenttypes", "ContentType").objects.get(pk=before["type"])
    assert copy_type.app_label == "instance"
    migrate_to(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


def test_the_models_and_the_migrations_agree():
    # `makemigrations --check` exits with an error when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())
