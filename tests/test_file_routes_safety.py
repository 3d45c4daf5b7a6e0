"""No URL reaches a file outside the folder its route serves: every file route (webseeds,
torrents, redundancy copies, assets, HLS playlists) answers 404, without a byte of the target,
to absolute paths, encoded separators, `..` in every spelling, NUL, and symlinks that lead out
of its folder."""

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from instance.file_serving import resolve_file
from tests.file_route_helpers import HLS_UUID, MARKER, body, make_roots


@pytest.fixture
def roots(settings, tmp_path) -> dict[str, Path]:
    return make_roots(settings, tmp_path)


PASSWD_MARK = b"root:"
# (route prefix, a name that exists under its folder)
ROUTES = [
    ("/static/web-videos/", "good.mp4"),
    ("/lazy-static/torrents/", "good.torrent"),
    ("/static/redundancy/", "good.mp4"),
    ("/assets/", "instance/player.js"),
    (f"/static/streaming-playlists/hls/{HLS_UUID}/", "master.m3u8"),
]


def attacks(outside: Path) -> list[str]:
    """Names that try to leave a route's folder, as they would appear in the URL."""
    secret = str(outside / "secret")
    up = "../" * 12  # more than deep enough from any root to reach "/"
    names = []
    for target in ("/etc/passwd", secret, f"{secret}.mp4", f"{secret}.torrent"):
        relative = target.lstrip("/")
        names += [
            target,  # /assets//etc/passwd
            quote(target, safe=""),  # %2Fetc%2Fpasswd
            quote(quote(target, safe=""), safe=""),  # %252Fetc%252Fpasswd
            up + relative,
            quote(up + relative, safe=""),  # ..%2F..%2F
            (up + relative).replace("..", "%2E%2E"),
            (up + relative).replace("..", "%2e%2e").replace("/", "%2F"),
            quote((up + relative).replace("/", "\\"), safe=""),  # ..%5C..%5C
            quote(target.replace("/", "\\"), safe=""),  # %5Cetc%5Cpasswd
            (up + relative).replace("/", "%5C"),
            quote(up + relative, safe="") + "%00",
            relative + "%00.mp4",
            "..%00/" + relative,
        ]
    names += [
        "..",
        "%2E%2E",
        "../outside/secret.mp4",
        "..%2Foutside%2Fsecret.torrent",
        "../../outside/secret.mp4",
        "%2E%2E%2F%2E%2E%2Foutside%2Fsecret.torrent",
        "..%5C..%5Coutside%5Csecret.mp4",
        "good.mp4%00",
        "%00",
    ]
    return names


@pytest.mark.django_db
@pytest.mark.parametrize(("prefix", "good"), ROUTES)
def test_every_file_route_refuses_every_way_out_of_its_folder(client, roots, prefix, good):
    assert client.get(prefix + good).status_code == 200  # the route itself works
    for name in attacks(roots["outside"]):
        for method in (client.get, client.head):
            response = method(prefix + name)
            assert response.status_code == 404, (method.__name__, prefix + name)
            content = body(response)
            assert MARKER not in content and PASSWD_MARK not in content, prefix + name


@pytest.mark.django_db
def test_files_symlinked_out_of_their_folder_are_not_served(client, roots):
    secret = roots["outside"] / "secret"
    media, redundancy, assets = roots["media"], roots["redundancy"], roots["assets"]
    for link in (media / "web-videos" / "good.mp4", media / "torrents" / "good.torrent"):
        link.unlink()
        link.symlink_to(secret)
    (redundancy / "good.mp4").unlink()
    (redundancy / "good.mp4").symlink_to(secret)
    (assets / "leak.js").symlink_to(secret)
    (roots["hls"] / "master.m3u8").unlink()
    (roots["hls"] / "master.m3u8").symlink_to(secret)
    (assets / "etc").symlink_to("/etc")  # a linked folder: what lies behind it is outside too
    for path in (
        "/static/web-videos/good.mp4",
        "/lazy-static/torrents/good.torrent",
        "/static/redundancy/good.mp4",
        "/assets/leak.js",
        "/assets/etc/passwd",
        f"/static/streaming-playlists/hls/{HLS_UUID}/master.m3u8",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert MARKER not in body(response) and PASSWD_MARK not in body(response), path


@pytest.mark.django_db
def test_folders_and_special_files_are_404_not_errors(client, roots):
    os.mkfifo(roots["assets"] / "pipe.js")  # opening it would block the reading thread forever
    (roots["assets"] / "folder.js").mkdir()
    (roots["media"] / "web-videos" / "good.mp4").unlink()
    (roots["media"] / "web-videos" / "good.mp4").mkdir()
    (roots["hls"] / "folder.m4s").mkdir()
    for path in (
        f"/static/streaming-playlists/hls/{HLS_UUID}/folder.m4s",
        f"/static/streaming-playlists/hls/{HLS_UUID}/",
        "/assets/pipe.js",
        "/assets/folder.js",
        "/assets/instance",
        "/assets/instance/",
        "/assets/",
        "/static/web-videos/good.mp4",
    ):
        assert client.get(path).status_code == 404, path


@pytest.mark.django_db
def test_collected_assets_and_those_of_the_finders_are_both_served(client, roots):
    (roots["assets"] / "collected.css").write_text("body {}")
    assert body(client.get("/assets/collected.css")) == b"body {}"
    # STATICFILES_DIRS entries keep their prefix: webtorrent's bundle from node_modules.
    response = client.get("/assets/vendor/webtorrent/sw.min.js")
    assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=3600"
    assert client.get("/assets/sw.min.js").status_code == 404  # not without its prefix


def test_resolve_file_accepts_plain_relative_names_only(tmp_path):
    root = tmp_path / "root"
    hls = root / "7d0c6a40-0000-4000-8000-000000000000"  # HLS: <uuid>/<file>
    hls.mkdir(parents=True)
    (hls / "master.m3u8").write_text("#EXTM3U")
    (tmp_path / "secret").write_bytes(MARKER)
    assert resolve_file(root, f"{hls.name}/master.m3u8") == (hls / "master.m3u8").resolve()
    for name in (
        "",
        "/etc/passwd",
        str(tmp_path / "secret"),
        "../secret",
        f"{hls.name}/../../secret",
        f"{hls.name}/./master.m3u8",
        f"{hls.name}//master.m3u8",
        f"{hls.name}\\master.m3u8",
        f"{hls.name}/master.m3u8\x00",
        hls.name,  # a folder
        "missing",
    ):
        assert resolve_file(root, name) is None, name


def test_resolve_file_follows_symlinks_only_within_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "real" / "file").write_bytes(b"inside")
    (root / "alias").symlink_to(root / "real" / "file")
    (root / "out").symlink_to(tmp_path)
    (tmp_path / "secret").write_bytes(MARKER)
    assert resolve_file(root, "alias") == (root / "real" / "file").resolve()
    assert resolve_file(root, "out/secret") is None
    # A root that is itself a symlink (media on another disk) still serves its own files.
    (tmp_path / "linked-root").symlink_to(root)
    assert resolve_file(tmp_path / "linked-root", "real/file") == (root / "real/file").resolve()
