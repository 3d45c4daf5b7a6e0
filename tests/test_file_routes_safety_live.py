"""The real server never sends a file of its data folder or of the system through a file route,
with the path sent exactly as written (http.client; urllib would normalise it), keeps the
secret key and the database readable by their owner only, whatever the umask it started with,
and answers absurd numbers with a 4xx (or the Range RFC 9110 gives), never a 500."""

import http.client
import os
import stat
from urllib.parse import quote

import pytest

from instance.demo_media import generate_demo_video
from tests.live import LiveInstance

pytestmark = pytest.mark.e2e

PREFIXES = ("/assets/", "/static/web-videos/", "/lazy-static/torrents/", "/static/redundancy/")
HLS_PREFIX = "/static/streaming-playlists/hls/{uuid}/"


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """A server whose data folder it creates itself, started with umask 000: every mode it
    ends up with is one it chose. It has one video, with HLS renditions."""
    folder = tmp_path_factory.mktemp("safe-files")
    instance = LiveInstance(folder / "data")
    clip = generate_demo_video(folder / "clip.mp4", seconds=2, width=160, height=90, fps=12)
    previous = os.umask(0)
    try:
        instance.manage("migrate", "--noinput")
        imported = instance.manage("import_video", str(clip), "--name", "Safe files")
        instance.hls_prefix = HLS_PREFIX.format(uuid=imported.split()[0])
        instance.start("--no-worker")
    finally:
        os.umask(previous)
    yield instance
    instance.stop()


def raw_get(instance: LiveInstance, path: str, **headers: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_data_folder_the_secret_key_and_the_database_are_private(instance):
    modes = {
        name: stat.S_IMODE((instance.data_dir / name).stat().st_mode)
        for name in ("", "secret_key", "db.sqlite3")
    }
    assert modes == {"": 0o700, "secret_key": 0o600, "db.sqlite3": 0o600}


def test_no_file_route_sends_a_file_named_by_an_absolute_path(instance):
    secret_key = (instance.data_dir / "secret_key").read_bytes().strip()
    database = instance.data_dir / "db.sqlite3"
    targets = ["/etc/passwd", str(instance.data_dir / "secret_key"), str(database)]
    assert raw_get(instance, "/assets/instance/player.js")[0] == 200  # the route works
    assert raw_get(instance, instance.hls_prefix + "master.m3u8")[0] == 200
    for prefix in (*PREFIXES, instance.hls_prefix):
        for target in targets:
            for path in (
                prefix + target,  # /assets//etc/passwd
                prefix + quote(target, safe=""),  # /assets/%2Fetc%2Fpasswd
                prefix + "../" * 12 + target.lstrip("/"),
                prefix + quote("../" * 12 + target.lstrip("/"), safe=""),
                prefix + quote("../" * 12 + target.lstrip("/"), safe="").replace("%2F", "%5C"),
            ):
                status, content = raw_get(instance, path)
                assert status == 404, path
                assert b"root:" not in content, path
                assert secret_key not in content, path
                assert b"SQLite format 3" not in content, path


def test_absurd_numbers_get_their_answer_not_a_500_from_the_real_server(instance):
    nines = "9" * 5000
    assert raw_get(instance, "/assets/instance/player.js", Range=f"bytes={nines}-")[0] == 416
    assert raw_get(instance, "/assets/instance/player.js", Range=f"bytes=-{nines}")[0] == 206
    for query in ("start=%C2%B2", f"count={nines}"):
        status, content = raw_get(instance, f"/api/v1/videos?{query}")
        assert status == 400 and b"start must be a whole number" in content, query
