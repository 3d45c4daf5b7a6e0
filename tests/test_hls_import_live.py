"""`import_video` on a file that is not one of the demo videos gives playable HLS: every
rendition decodes in Chromium through hls.js, and the SHA-256 list matches the served segments
(recomputed here from the playlists, over HTTP)."""

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from instance.demo_media import generate_demo_video
from tests.browser import chromium_available
from tests.viewer import browser, viewer_factory, watch_path  # noqa: F401 (browser: a fixture)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def new_viewer(browser, import_instance) -> Iterator:  # noqa: F811
    yield from viewer_factory(browser, import_instance.url)


def media_playlist_segments(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def test_imported_video_has_hls_whose_every_rendition_decodes_in_chromium(
    new_viewer, import_instance, tmp_path
):
    source = generate_demo_video(tmp_path / "clip.mp4", seconds=6, width=480, height=270, seed=31)
    started = time.monotonic()
    uuid = import_instance.manage("import_video", str(source), "--name", "Imported 270p").split()[0]
    imported = time.monotonic()
    base = f"{import_instance.url}/static/streaming-playlists/hls/{uuid}/"

    # The master playlist names each rendition's playlist; each lists its segments; the
    # SHA-256 list holds exactly those, each with the hash of the bytes served.
    master = httpx.get(base + "master.m3u8").text
    resolutions = [
        line.split("RESOLUTION=")[1].split(",")[0]
        for line in master.splitlines()
        if "RESOLUTION=" in line
    ]
    segments = {}
    for playlist in media_playlist_segments(master):
        text = httpx.get(base + playlist).text
        for name in media_playlist_segments(text):
            segments[name] = hashlib.sha256(httpx.get(base + name).content).hexdigest()
    listed = httpx.get(base + "segments-sha256.json").json()
    assert listed == segments and len(segments) >= 2 * 3  # 6 s in 2 s segments, 2 renditions

    page = new_viewer().open(watch_path({"uuid": uuid}, "?p2p=0"))
    page.wait_until_playing()
    levels = page.page.evaluate(
        "window.peerveilPlayer.hls.levels.map(l => ({width: l.width, height: l.height}))"
    )
    sizes = [f"{level['width']}x{level['height']}" for level in levels]
    assert sorted(sizes) == sorted(resolutions) and {lv["height"] for lv in levels} == {270, 240}
    decoded = {}
    for index, level in enumerate(levels):
        frames = page.video()["frames"]
        page.page.evaluate(
            f"""() => {{ const video = document.getElementById("player");
                window.peerveilPlayer.hls.currentLevel = {index};
                video.currentTime = 0; video.play(); }}"""
        )
        state = page.wait_for_video(
            f"v.width === {level['width']} && v.frames > {frames} && v.time > 0.5"
        )
        decoded[f"{level['width']}x{level['height']}"] = state["frames"] - frames
    print(
        f"\nimport_video of a 6 s 480x270 file: {imported - started:.1f} s, HLS "
        f"{json.dumps(resolutions)}; frames decoded per forced level: {decoded}"
    )
    assert not page.video()["error"]
