"""The home, watch and embed pages as the server renders them, and what they tell the player."""

import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from instance.env_values import parse_ice_servers
from instance.models import InstanceSettings, P2PSetting, Video
from tests.live import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(demo_video_path) -> Video:
    out = io.StringIO()
    call_command("import_video", str(demo_video_path), "--name", "Clip <b>", stdout=out)
    return Video.objects.get(uuid=out.getvalue().split()[0])


def player_config(response) -> dict:
    """The JSON the page hands to player.js."""
    html = response.content.decode()
    start = html.index('<script id="player-config" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_home_lists_videos_with_links_to_their_watch_pages(client, video):
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/videos/watch/{video.uuid}"' in html
    assert "Clip &lt;b&gt;" in html and "0:03" in html


@pytest.mark.parametrize("prefix", ["/videos/watch/", "/w/", "/videos/embed/"])
def test_player_pages_stream_the_torrent_with_this_instance_tracker_and_webseed(
    client, video, prefix
):
    response = client.get(f"{prefix}{video.uuid}")
    assert response.status_code == 200
    config = player_config(response)
    video_file = video.files.get()
    assert config["torrentUrl"] == video_file.torrent_url
    assert config["torrentUrl"].startswith("http://testserver/lazy-static/torrents/")
    assert config["fileUrl"] == video_file.file_url
    assert config["infoHash"] == video_file.info_hash
    assert config["announce"] == ["ws://testserver/tracker/socket"]
    assert config["webtorrentUrl"] == "/assets/vendor/webtorrent/webtorrent.min.js"
    assert config["p2pAllowed"] is True and config["p2pOffForThisView"] is False
    html = response.content.decode()
    for element_id in ("player", "p2p-stats", "p2p-notice", "p2p-accept", "p2p-decline"):
        assert f'id="{element_id}"' in html
    # The page itself never loads webtorrent: player.js imports it only when P2P starts.
    assert "webtorrent.min.js" not in html.replace(json.dumps(config["webtorrentUrl"]), "")


def test_privacy_notice_names_the_tracker_the_peers_the_ways_out_and_the_faq(client, video):
    html = " ".join(client.get(f"/videos/watch/{video.uuid}").content.decode().split())
    assert "Your IP address is then visible</strong> to this instance's tracker" in html
    assert "the viewers your browser connects to" in html
    assert "turn P2P off here" in html and "VPN or Tor" in html
    assert 'href="http://testserver/about/privacy"' in html


@pytest.mark.parametrize("value", ["0", "false"])
def test_p2p_0_in_the_url_turns_p2p_off_for_that_view(client, video, value):
    for prefix in ("/videos/watch/", "/videos/embed/"):
        config = player_config(client.get(f"{prefix}{video.uuid}?p2p={value}"))
        assert config["p2pOffForThisView"] is True


def test_a_video_with_p2p_off_tells_the_player_p2p_is_not_allowed(client, video):
    video.p2p = P2PSetting.OFF
    video.save()
    assert player_config(client.get(f"/videos/watch/{video.uuid}"))["p2pAllowed"] is False


def test_instance_p2p_off_applies_unless_the_video_turns_it_on(client, video):
    InstanceSettings(p2p_enabled=False).save()
    assert player_config(client.get(f"/videos/watch/{video.uuid}"))["p2pAllowed"] is False
    video.p2p = P2PSetting.ON
    video.save()
    assert player_config(client.get(f"/videos/watch/{video.uuid}"))["p2pAllowed"] is True


def test_consent_requirement_follows_the_instance_setting(client, video):
    assert player_config(client.get(f"/videos/watch/{video.uuid}"))["p2pRequiresConsent"] is True
    InstanceSettings(p2p_requires_consent=False).save()
    config = player_config(client.get(f"/videos/watch/{video.uuid}"))
    assert config["p2pRequiresConsent"] is False
    html = client.get(f"/videos/watch/{video.uuid}").content.decode()
    assert "OK, keep P2P on" in html


def test_ice_servers_setting_reaches_the_player(client, video, settings):
    settings.STUN_SERVER_BINARY, settings.STUN_PUBLIC = "/usr/bin/turnserver", "v.example:3478"
    config = player_config(client.get(f"/videos/watch/{video.uuid}"))
    assert config["iceServers"] == [{"urls": "stun:v.example:3478"}]  # the instance's own
    settings.STUN_SERVER_BINARY = None  # no turnserver: no STUN server at all
    assert player_config(client.get(f"/videos/watch/{video.uuid}"))["iceServers"] == []
    settings.ICE_SERVERS = [{"urls": "stun:stun.example.org"}]
    config = player_config(client.get(f"/videos/watch/{video.uuid}"))
    assert config["iceServers"] == [{"urls": "stun:stun.example.org"}]


@pytest.mark.parametrize("raw", ['{"urls": "stun:x"}', "[1]", '[{"url": "stun:x"}]', "not json"])
def test_ice_servers_setting_refuses_anything_but_a_list_of_ice_servers(raw):
    with pytest.raises(ImproperlyConfigured):
        parse_ice_servers(raw)


def test_embed_may_be_framed_by_other_sites_and_the_watch_page_may_not(client, video):
    assert "X-Frame-Options" not in client.get(f"/videos/embed/{video.uuid}")
    assert client.get(f"/videos/watch/{video.uuid}")["X-Frame-Options"] == "DENY"


def test_unknown_video_is_a_404(client):
    assert client.get("/videos/watch/7d0c6a40-0000-4000-8000-000000000000").status_code == 404
    assert client.get("/videos/embed/7d0c6a40-0000-4000-8000-000000000000").status_code == 404


def test_webtorrent_service_worker_is_served_from_the_site_root_as_javascript(client):
    response = client.get("/webtorrent-sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    body = response.content.decode()
    assert 'importScripts("/assets/vendor/webtorrent/sw.min.js")' in body
    assert client.get("/assets/vendor/webtorrent/sw.min.js").status_code == 200


def test_player_scripts_and_styles_are_served_by_the_instance(client):
    scripts = [p.name for p in (ROOT / "instance/static/instance").glob("*.js")]
    assert {"player.js", "engine-hls.js", "engine-webtorrent.js"} <= set(scripts)
    for name in [*scripts, "instance.css"]:
        assert client.get(f"/assets/instance/{name}").status_code == 200


def import_map(response) -> dict:
    html = response.content.decode()
    start = html.index('<script type="importmap">') + len('<script type="importmap">')
    return json.loads(html[start : html.index("</script>", start)])


@pytest.mark.parametrize("prefix", ["/videos/watch/", "/videos/embed/"])
def test_player_pages_play_the_hls_playlist_with_its_swarm_id_and_segment_hashes(
    client, video, prefix
):
    response = client.get(f"{prefix}{video.uuid}")
    playlist = video.hls_playlist
    assert player_config(response)["hls"] == {
        "playlistUrl": f"http://testserver/static/streaming-playlists/hls/{video.uuid}/master.m3u8",
        "segmentsSha256Url": (
            f"http://testserver/static/streaming-playlists/hls/{video.uuid}/segments-sha256.json"
        ),
        "swarmId": str(video.uuid),
    }
    assert playlist.swarm_id == str(video.uuid)
    # The npm modules import each other by package name: the page maps each name to the copy
    # the instance serves (no CDN), and each is there.
    imports = import_map(response)["imports"]
    assert set(imports) == {"hls.js", "p2p-media-loader-core", "p2p-media-loader-hlsjs"}
    for url in imports.values():
        assert url.startswith("/assets/vendor/")
        served = client.get(url)
        assert served.status_code == 200 and "javascript" in served["Content-Type"]


def test_a_video_without_hls_tells_the_player_to_use_webtorrent(client, video):
    video.hls_playlist.delete()
    assert player_config(client.get(f"/videos/watch/{video.uuid}"))["hls"] is None
