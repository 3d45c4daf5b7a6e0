"""What the redundancy program shows: the copy in the webseed lists only while it is published,
served with Range and CORS; the panel page, its strategy forms (audited) and the FAQ row."""

import datetime
import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from adminpanel.models import AuditEntry
from adminpanel.redundancy_forms import format_size, parse_size
from instance.models import Video
from instance.redundancy.models import CopyState, RedundancyCopy, RedundancyStrategy
from tracker.core import bdecode

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redundancy_root")]


@pytest.fixture
def video(demo_video_path) -> Video:
    call_command("import_video", str(demo_video_path), "--name", "Clip", stdout=io.StringIO())
    return Video.objects.get(name="Clip")


def copy_of(video: Video, state: str, **fields) -> RedundancyCopy:
    video_file = video.files.get()
    copy = RedundancyCopy.objects.create(
        video_file=video_file, strategy="most-views", state=state, **fields
    )
    copy.path.write_bytes(video_file.file.read())
    return copy


def webseeds_everywhere(client, video: Video) -> dict[str, list[str]]:
    """The webseeds as each client sees them: torrent url-list, magnet ws=, API magnet."""
    video_file = video.files.get()
    torrent = bdecode(client.get(f"/lazy-static/torrents/{video_file.torrent_filename}").content)
    url_list = torrent[b"url-list"]
    url_list = [url_list] if isinstance(url_list, bytes) else url_list
    api = client.get(f"/api/v1/videos/{video.uuid}").json()["files"][0]["magnetUri"]
    return {
        "torrent": [url.decode() for url in url_list],
        "magnet": re.findall(r"ws=([^&]+)", video_file.magnet_uri),
        "api": re.findall(r"ws=([^&]+)", api),
    }


@pytest.mark.parametrize(
    "state", [CopyState.QUEUED, CopyState.DOWNLOADING, CopyState.VERIFYING, CopyState.FAILED]
)
def test_a_copy_is_neither_listed_nor_served_before_it_is_published(client, video, state):
    copy = copy_of(video, state)
    origin = video.files.get().file_url
    assert webseeds_everywhere(client, video) == {
        "torrent": [origin],
        "magnet": [origin],
        "api": [origin],
    }
    assert client.get(f"/static/redundancy/{copy.filename}").status_code == 404


def test_a_published_copy_is_listed_and_served_with_range_and_cors(client, video):
    copy = copy_of(video, CopyState.PUBLISHED)
    origin = video.files.get().file_url
    assert copy.url == f"http://testserver/static/redundancy/{copy.filename}"
    for where, urls in webseeds_everywhere(client, video).items():
        assert urls == [origin, copy.url], where
    response = client.get(f"/static/redundancy/{copy.filename}", headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-19/{video.files.get().size}"
    assert response["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(f"/static/redundancy/{copy.filename}")
    assert "Range" in preflight["Access-Control-Allow-Headers"]


def test_sizes_are_read_and_written_as_peertubes_config_writes_them():
    assert parse_size("10GB") == 10 * 1024**3
    assert parse_size("1.5 MiB") == 1536 * 1024 and parse_size("800kb") == 800 * 1024
    assert parse_size("123456") == 123456
    assert format_size(10 * 1024**3) == "10GB" and format_size(1536 * 1024) == "1.5MB"
    with pytest.raises(ValueError):
        parse_size("ten gigs")
    # The form shows a budget exactly, so that saving it unchanged changes nothing.
    assert format_size(600_000) == "585.9KB" and format_size(600_000, exact=True) == "600000B"
    assert parse_size(format_size(600_000, exact=True)) == 600_000


def test_a_strategy_saved_as_shown_changes_nothing(admin_client):
    RedundancyStrategy.objects.filter(name="most-views").update(size_budget=600_000)
    page = admin_client.get("/admin-panel/redundancy/").content.decode()
    assert 'name="most-views-size_budget" value="600000B"' in page
    admin_client.post(
        "/admin-panel/redundancy/most-views",
        {"most-views-size_budget": "600000B", "most-views-min_lifetime_hours": "48"},
    )
    assert not AuditEntry.objects.exists()
    assert RedundancyStrategy.objects.get(name="most-views").size_budget == 600_000


def test_the_panel_lists_strategies_and_copies_with_state_progress_and_reason(admin_client, video):
    copy = copy_of(video, CopyState.DOWNLOADING, bytes_done=video.files.get().size // 2)
    page = admin_client.get("/admin-panel/redundancy/").content.decode()
    for strategy in ("Most views", "Trending", "Recently added"):
        assert f"<h2>{strategy}" in page
    assert "Run the check now" in page and 'href="/admin-panel/redundancy/"' in page
    row = re.search(rf'<tr data-copy="{copy.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "Downloading" in row and f'value="{copy.progress}"' in row and 40 < copy.progress < 60
    RedundancyCopy.objects.filter(pk=copy.pk).update(
        state=CopyState.FAILED, reason="Piece 3 of 9 does not match the torrent's SHA-1"
    )
    listed = admin_client.get("/admin-panel/redundancy/copies.json").json()["copies"]
    assert [(c["state"], c["reason"][:11], c["url"]) for c in listed] == [
        ("failed", "Piece 3 of ", None)
    ]


def test_the_redundancy_page_is_for_staff_only(client):
    assert client.get("/admin-panel/redundancy/").status_code == 302
    assert client.post("/admin-panel/redundancy/check").status_code == 302


def test_saving_a_strategy_is_audited_and_shows_the_budget_used(admin_client, video):
    response = admin_client.post(
        "/admin-panel/redundancy/trending",
        {
            "trending-enabled": "on",
            "trending-size_budget": "500MB",
            "trending-min_lifetime_hours": "25",
            "trending-trending_days": "3",
        },
    )
    assert response.status_code == 302
    strategy = RedundancyStrategy.objects.get(name="trending")
    assert (strategy.enabled, strategy.size_budget, strategy.min_lifetime_hours) == (
        True,
        500 * 1024**2,
        25,
    )
    assert strategy.trending_days == 3
    changes = {(e.subject, e.setting, e.old_value, e.new_value) for e in AuditEntry.objects.all()}
    assert changes == {
        ("redundancy trending", "On", "off", "on"),
        ("redundancy trending", "Size budget", "10GB", "500MB"),
        ("redundancy trending", "Minimum lifetime (hours)", "48", "25"),
        ("redundancy trending", "Views of the last (days)", "7", "3"),
    }
    copy_of(video, CopyState.PUBLISHED)
    RedundancyCopy.objects.update(strategy="trending")
    page = admin_client.get("/admin-panel/redundancy/").content.decode()
    used = format_size(video.files.get().size)
    assert f"{used} of 500MB used" in page


def test_a_wrong_budget_is_refused_with_a_clear_message(admin_client):
    response = admin_client.post(
        "/admin-panel/redundancy/most-views",
        {"most-views-size_budget": "lots", "most-views-min_lifetime_hours": "0"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Write a size such as 10GB" in page
    assert "greater than or equal to 1" in page
    assert not AuditEntry.objects.exists()


def test_the_privacy_faq_says_whether_redundancy_is_on(client, video):
    faq = client.get("/about/privacy").content.decode()
    assert re.search(r'id="fact-redundancy">.*?<span class="value">Off<', faq, re.S)
    RedundancyStrategy.objects.filter(name="most-views").update(enabled=True)
    copy_of(video, CopyState.PUBLISHED, expires_at=timezone.now() + datetime.timedelta(1))
    faq = client.get("/about/privacy").content.decode()
    row = re.search(r'id="fact-redundancy">(.*?)</tr>', faq, re.S).group(1)
    assert '<span class="value">On<' in row
    assert "(most views)" in row and "1 copy now" in row
