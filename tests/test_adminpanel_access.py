"""Who may reach the staff panel: staff only, every form with CSRF; the FAQ is public."""

import re

import pytest
from django.test import Client

from adminpanel.models import AuditEntry
from instance.models import InstanceSettings, P2PSetting, Video
from tests.tracker_helpers import add_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def video() -> Video:
    add_video("access")
    return Video.objects.get(name="access")


def panel_pages(video) -> list[str]:
    return [
        "/admin-panel/",
        "/admin-panel/videos/",
        "/admin-panel/videos/?q=acc&page=1",
        f"/admin-panel/videos/{video.uuid}/",
        "/admin-panel/audit/",
    ]


def panel_posts(video) -> list[tuple[str, dict]]:
    return [
        ("/admin-panel/p2p", {"p2p_requires_consent": "on"}),  # p2p_enabled unchecked: off
        ("/admin-panel/limits", {"max_peers_per_reply": "5", "announce_interval": "60"}),
        (f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": P2PSetting.OFF}),
    ]


def assert_nothing_changed(video) -> None:
    row = InstanceSettings.load()
    assert row.p2p_enabled and row.max_peers_per_reply == 20 and row.announce_interval == 120
    video.refresh_from_db()
    assert video.p2p == P2PSetting.INHERIT
    assert not AuditEntry.objects.exists()


def test_anonymous_visitors_are_sent_to_the_panel_login_and_change_nothing(client, video):
    for url in panel_pages(video):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin-panel/login/?next=/admin-panel/")
    for url, data in panel_posts(video):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin-panel/login/")
    assert_nothing_changed(video)


def test_logged_in_users_who_are_not_staff_get_403_and_change_nothing(
    client, django_user_model, video
):
    user = django_user_model.objects.create_user("viewer", password="viewer-password")
    client.force_login(user)
    for url in panel_pages(video):
        assert client.get(url).status_code == 403, url
    for url, data in panel_posts(video):
        assert client.post(url, data).status_code == 403, url
    assert_nothing_changed(video)


def test_staff_posts_without_a_csrf_token_are_refused(admin_user, video):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    for url, data in panel_posts(video):
        assert client.post(url, data).status_code == 403, url
    assert_nothing_changed(video)


def test_every_panel_form_carries_a_csrf_token_that_makes_its_post_succeed(admin_user, video):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    pages = [client.get(url).content.decode() for url in panel_pages(video)]
    forms = [
        form
        for page in pages
        for form in re.findall(r"<form [^>]*method=\"post\".*?</form>", page, re.S)
    ]
    assert len(forms) >= 5  # instance P2P, limits, a video row, the video page, log out
    assert all('name="csrfmiddlewaretoken"' in form for form in forms)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', pages[0]).group(1)
    response = client.post(
        f"/admin-panel/videos/{video.uuid}/p2p", {"p2p": "off", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    video.refresh_from_db()
    assert video.p2p == P2PSetting.OFF


def test_staff_log_in_on_the_panel_login_page_and_land_on_the_panel(client, admin_user):
    page = client.get("/admin-panel/login/?next=/admin-panel/audit/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post(
        "/admin-panel/login/",
        {"username": "admin", "password": "password", "next": "/admin-panel/audit/"},
    )
    assert response.status_code == 302 and response["Location"] == "/admin-panel/audit/"
    assert client.get("/admin-panel/audit/").status_code == 200


def test_a_wrong_password_does_not_log_in(client, admin_user):
    response = client.post("/admin-panel/login/", {"username": "admin", "password": "nope"})
    assert response.status_code == 200
    assert client.get("/admin-panel/").status_code == 302


def test_panel_pages_are_never_cached(admin_client):
    assert "no-store" in admin_client.get("/admin-panel/")["Cache-Control"]


def test_the_privacy_faq_is_public(client):
    response = client.get("/about/privacy")
    assert response.status_code == 200
    assert b"What this instance does" in response.content
