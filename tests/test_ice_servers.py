"""Which STUN/TURN servers the players use and who runs them: the default (the instance's own
STUN server), the admin's choice (environment or panel), and what the pages say about them."""

import html
import io
import os
import re
import subprocess
import sys

import pytest
from django.core.management import call_command

from adminpanel.models import AuditEntry
from instance.ice import THIRD_PARTY, THIS_INSTANCE, ice_servers, servers_shown
from instance.models import InstanceSettings, Video
from tests.live import ROOT, free_udp_port
from tests.stun_helpers import coturn, needs_coturn
from tests.test_watch_pages import player_config

pytestmark = pytest.mark.django_db
OWN = "v.example:3478"


@pytest.fixture
def own_stun(settings):
    """The instance runs its STUN server (turnserver installed), reached as stun:v.example."""
    settings.STUN_SERVER_BINARY, settings.STUN_PUBLIC = "/usr/bin/turnserver", OWN
    settings.ICE_SERVERS = None
    return settings


@pytest.fixture
def video(demo_video_path) -> Video:
    out = io.StringIO()
    call_command("import_video", str(demo_video_path), "--name", "Clip", stdout=out)
    return Video.objects.get(uuid=out.getvalue().split()[0])


def ice_list(page: str) -> list[tuple[str, str]]:
    """(url, operator) of each server a page names."""
    return re.findall(r'data-ice-url="([^"]+)" data-operator="([\w-]+)"', page)


def test_the_panel_list_wins_over_the_environment_which_wins_over_the_own_server(own_stun):
    row = InstanceSettings.load()
    assert ice_servers(row) == [{"urls": "stun:v.example:3478"}]
    own_stun.ICE_SERVERS = [{"urls": "stun:env.example"}]
    assert ice_servers(row) == [{"urls": "stun:env.example"}]
    row.ice_servers = []
    assert ice_servers(row) == []  # the admin chose none
    row.ice_servers = [{"urls": ["stun:panel.example:3478"]}]
    assert ice_servers(row) == [{"urls": ["stun:panel.example:3478"]}]


def test_only_the_instances_own_server_is_shown_as_the_instances(own_stun):
    row = InstanceSettings.load()
    row.ice_servers = [
        {"urls": ["stun:V.example", "stun:v.example:3479"]},  # default port; another port
        {"urls": "turn:v.example:3478?transport=udp", "username": "u", "credential": "c"},
    ]
    shown = [(s.url, s.kind, s.operator) for s in servers_shown(row)]
    assert shown == [
        ("stun:V.example", "STUN", THIS_INSTANCE),
        ("stun:v.example:3479", "STUN", THIRD_PARTY),
        ("turn:v.example:3478?transport=udp", "TURN", THIRD_PARTY),
    ]
    own_stun.STUN_SERVER_BINARY = None  # not running: the same address is nobody's we know
    assert {s.operator for s in servers_shown(row)} == {THIRD_PARTY}


@pytest.mark.parametrize("page", ["/videos/watch/{}", "/videos/embed/{}"])
def test_watch_and_embed_pages_name_each_server_and_who_runs_it(client, video, own_stun, page):
    url = page.format(video.uuid)
    body = client.get(url).content.decode()
    assert ice_list(body) == [("stun:v.example:3478", "instance")]
    assert "run by\n    this instance" in body
    InstanceSettings(ice_servers=[{"urls": "stun:stun.example.org:3478"}]).save()
    body = client.get(url).content.decode()
    assert ice_list(body) == [("stun:stun.example.org:3478", "third-party")]
    assert f"<strong>{html.escape(THIRD_PARTY)}</strong>" in body
    assert player_config(client.get(url))["iceServers"] == [{"urls": "stun:stun.example.org:3478"}]
    InstanceSettings(ice_servers=[]).save()
    body = client.get(url).content.decode()
    assert ice_list(body) == [] and "No STUN server is used" in body


def test_the_admin_sets_servers_in_the_panel_audited_without_credentials(admin_client, own_stun):
    servers = '[{"urls": "turn:relay.example:3478", "username": "u", "credential": "s3cret"}]'
    response = admin_client.post("/admin-panel/ice-servers", {"ice_servers": servers})
    assert response.status_code == 302
    assert InstanceSettings.load().ice_servers[0]["credential"] == "s3cret"
    entry = AuditEntry.objects.get()
    assert (entry.setting, entry.old_value, entry.new_value) == (
        "STUN / TURN servers",
        "default",
        "turn:relay.example:3478",
    )
    assert "s3cret" not in str(entry.__dict__)
    # Emptied: the default again (the instance's own server).
    admin_client.post("/admin-panel/ice-servers", {"ice_servers": ""})
    assert InstanceSettings.load().ice_servers is None
    assert ice_servers(InstanceSettings.load()) == [{"urls": "stun:v.example:3478"}]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("stun:x", "Not JSON"),
        ('{"urls": "stun:x"}', "A JSON list"),
        ('[{"url": "stun:x"}]', "Server 1: an object with &quot;urls&quot;"),
        ('[{"urls": "http://x"}]', "is not a stun:, stuns:, turn: or turns: URL"),
        ('[{"urls": []}]', "a URL or a list of URLs"),
        ('[{"urls": "stun:x", "password": "p"}]', "unknown key password"),
        ('[{"urls": "turn:x", "credential": 5}]', "is a string"),
    ],
)
def test_bad_servers_get_a_clear_error_and_change_nothing(admin_client, value, message):
    InstanceSettings(ice_servers=[{"urls": "stun:kept.example"}]).save()
    response = admin_client.post("/admin-panel/ice-servers", {"ice_servers": value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert InstanceSettings.load().ice_servers == [{"urls": "stun:kept.example"}]
    assert not AuditEntry.objects.exists()


def health_line(admin_client) -> tuple[str, str]:
    page = admin_client.get("/admin-panel/").content.decode()
    match = re.search(r'<p id="stun-health" data-state="([\w-]+)">(.*?)</p>', page, re.S)
    return match[1], " ".join(re.sub(r"<[^>]+>", "", match[2]).split())


@needs_coturn
def test_the_panel_health_line_asks_the_stun_server_for_real(admin_client, settings, tmp_path):
    port = free_udp_port()
    settings.STUN_PORT, settings.STUN_HOST = port, "127.0.0.1"
    settings.STUN_SERVER_BINARY = "/usr/bin/turnserver"
    with coturn(tmp_path, port):
        state, text = health_line(admin_client)
        assert state == "up" and f"up on UDP port {port}" in text
    state, text = health_line(admin_client)
    assert state == "down" and f"down on UDP port {port}" in text


def test_without_turnserver_the_panel_and_faq_say_p2p_is_lan_only(admin_client, client, settings):
    settings.STUN_SERVER_BINARY, settings.ICE_SERVERS = None, None
    state, text = health_line(admin_client)
    assert state == "not-installed" and "apt-get install coturn" in text
    assert "P2P is LAN-only" in admin_client.get("/admin-panel/").content.decode()
    faq = client.get("/about/privacy").content.decode()
    assert "P2P connects you only with viewers your browser reaches directly" in faq
    settings.STUN_PORT = 0
    assert health_line(admin_client)[0] == "off"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STUN_PORT", "70000", "a port number from 0 to 65535"),
        ("STUN_PORT", "udp", "a port number from 0 to 65535"),
        ("STUN_PUBLIC", "stun.example.org", "host:port"),
        ("STUN_PUBLIC", "stun:stun.example.org:3478", "host:port"),
        ("ICE_SERVERS", '[{"url": "stun:x"}]', "a JSON list of {urls, ...} objects"),
    ],
)
def test_bad_stun_settings_stop_the_instance_with_a_clear_error(tmp_path, name, value, message):
    env = {**os.environ, "PEERVEIL_DATA_DIR": str(tmp_path), f"PEERVEIL_{name}": value}
    result = subprocess.run(
        [sys.executable, "-c", "import instance.settings"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"PEERVEIL_{name}: {message}" in result.stderr
