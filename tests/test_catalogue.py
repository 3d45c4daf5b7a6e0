"""The video catalogue: importing videos, their torrents, magnets and the read-only API."""

import hashlib
import io
from pathlib import Path

import bencode
import pytest
from django.core.management import CommandError, call_command

from instance.models import InstanceSettings, P2PSetting, Video, VideoFile
from instance.torrents import tracker_urls

pytestmark = pytest.mark.django_db


def import_demo(demo_video_path, name="Clip") -> Video:
    out = io.StringIO()
    call_command("import_video", str(demo_video_path), "--name", name, stdout=out)
    uuid, info_hash = out.getvalue().split()
    video = Video.objects.get(uuid=uuid)
    assert video.files.get().info_hash == info_hash
    return video


def expected_info_hash(path, name: str, piece_length: int) -> str:
    """The v1 infohash computed from the file bytes alone (BEP 3), with another bencoder."""
    data = path.read_bytes()
    pieces = b"".join(
        hashlib.sha1(data[offset : offset + piece_length]).digest()
        for offset in range(0, len(data), piece_length)
    )
    info = {"length": len(data), "name": name, "piece length": piece_length, "pieces": pieces}
    return hashlib.sha1(bencode.encode(info)).hexdigest()


def test_import_video_stores_file_probe_and_an_infohash_computed_independently(demo_video_path):
    video = import_demo(demo_video_path)
    video_file = video.files.get()
    assert video.duration == 3
    assert (video_file.width, video_file.resolution) == (640, 360)
    assert video_file.size == demo_video_path.stat().st_size
    assert Path(video_file.file.path).read_bytes() == demo_video_path.read_bytes()
    assert video_file.info_hash == expected_info_hash(
        demo_video_path, video_file.filename, video_file.piece_length
    )


def test_stored_torrent_announces_this_instance_trackers_and_webseed(demo_video_path, client):
    video_file = import_demo(demo_video_path).files.get()
    response = client.get(f"/lazy-static/torrents/{video_file.torrent_filename}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-bittorrent"
    metainfo = bencode.decode(response.content)
    assert metainfo["announce"] == "ws://testserver/tracker/socket"
    assert metainfo["announce-list"] == [[url] for url in tracker_urls()]
    assert tracker_urls()[1] == "http://testserver/tracker/announce"
    assert metainfo["url-list"] == [f"http://testserver/static/web-videos/{video_file.filename}"]
    info_hash = hashlib.sha1(bencode.encode(metainfo["info"])).hexdigest()
    assert info_hash == video_file.info_hash
    assert "private" not in metainfo["info"]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (b"this is a text file, not a video\n" * 100, ".mp4", "not a playable video"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000, ".mp4", "not a playable video"),
        (b"", ".webm", "not a playable video"),
        (b"whatever", ".txt", "unsupported extension"),
    ],
)
def test_importing_a_non_video_fails_clearly_and_leaves_nothing(
    tmp_path, settings, content, suffix, message
):
    source = tmp_path / f"input{suffix}"
    source.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_video", str(source), "--name", "Not a video")
    assert not Video.objects.exists() and not VideoFile.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_importing_a_missing_file_fails_clearly(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_video", str(tmp_path / "absent.mp4"), "--name", "Absent")
    assert not Video.objects.exists()


def test_a_failure_while_building_the_torrent_removes_the_copied_file(
    demo_video_path, settings, monkeypatch
):
    def broken_build(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("instance.video_import.build_torrent", broken_build)
    with pytest.raises(OSError):
        call_command("import_video", str(demo_video_path), "--name", "Clip")
    assert not Video.objects.exists()
    assert not any(p.is_file() for p in settings.MEDIA_ROOT.rglob("*"))


def test_api_lists_videos_in_peertube_shape_with_pagination(demo_video_path, client):
    first = import_demo(demo_video_path, "First")
    second = import_demo(demo_video_path, "Second")
    body = client.get("/api/v1/videos").json()
    assert body["total"] == 2
    assert [v["uuid"] for v in body["data"]] == [str(second.uuid), str(first.uuid)]
    page = client.get("/api/v1/videos?start=1&count=1").json()
    assert page["total"] == 2 and [v["name"] for v in page["data"]] == ["First"]
    video = page["data"][0]
    assert video["p2pEnabled"] is True and video["duration"] == 3 and video["views"] == 0
    (file_json,) = video["files"]
    video_file = first.files.get()
    assert file_json["infoHash"] == video_file.info_hash
    assert file_json["size"] == video_file.size
    assert file_json["resolution"]["id"] == 360
    assert file_json["fileUrl"] == f"http://testserver/static/web-videos/{video_file.filename}"
    assert file_json["torrentUrl"].endswith(f"/lazy-static/torrents/{video_file.torrent_filename}")
    magnet = file_json["magnetUri"]
    assert magnet.startswith("magnet:?xs=http://testserver/lazy-static/torrents/")
    assert f"xt=urn:btih:{video_file.info_hash}" in magnet
    assert "tr=ws://testserver/tracker/socket" in magnet
    assert "tr=http://testserver/tracker/announce" in magnet
    assert f"ws=http://testserver/static/web-videos/{video_file.filename}" in magnet


@pytest.mark.parametrize("query", ["start=-1", "count=101", "count=abc", "start=1.5"])
def test_api_rejects_bad_pagination_with_a_json_error(client, query):
    response = client.get(f"/api/v1/videos?{query}")
    assert response.status_code == 400
    assert "count" in response.json()["detail"]


def test_api_answers_an_unknown_uuid_with_a_json_404(client):
    response = client.get("/api/v1/videos/7d0c6a40-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": 404, "title": "Not Found", "detail": "Video not found"}


@pytest.mark.parametrize(
    ("instance_p2p", "video_p2p", "effective"),
    [
        (True, P2PSetting.INHERIT, True),
        (False, P2PSetting.INHERIT, False),
        (True, P2PSetting.OFF, False),
        (False, P2PSetting.ON, True),
        (True, P2PSetting.ON, True),
        (False, P2PSetting.OFF, False),
    ],
)
def test_effective_p2p_is_the_video_choice_else_the_instance_switch(
    demo_video_path, client, instance_p2p, video_p2p, effective
):
    video = import_demo(demo_video_path)
    Video.objects.filter(pk=video.pk).update(p2p=video_p2p)
    settings_row = InstanceSettings.load()
    settings_row.p2p_enabled = instance_p2p
    settings_row.save()
    assert client.get(f"/api/v1/videos/{video.uuid}").json()["p2pEnabled"] is effective
    enabled = Video.objects.p2p_enabled(instance_p2p)
    assert enabled.filter(pk=video.pk).exists() is effective


def test_admin_account_password_is_generated_and_printed_only_once(settings):
    settings.ADMIN_PASSWORD = ""
    first, second = io.StringIO(), io.StringIO()
    call_command("ensure_admin", stdout=first)
    call_command("ensure_admin", stdout=second)
    assert "password" in first.getvalue() and second.getvalue() == ""
    from django.contrib.auth.models import User

    password = first.getvalue().split("password ")[1].split("'")[1]
    assert User.objects.get(username="admin").check_password(password)
