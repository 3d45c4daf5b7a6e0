"""The panel in real Chromium against the real server: a P2P switch reaches the tracker at once,
and the FAQ shows a limit changed in the panel."""

from urllib.parse import quote_from_bytes

import bencode
import httpx
import orjson
import pytest
from playwright.sync_api import Page
from websockets.sync.client import connect

from tests.browser import chromium
from tests.conftest import get_json
from tracker.core import P2P_DISABLED

pytestmark = pytest.mark.e2e
decode = bencode.Bencode(encoding=None).decode

SEEDER = b"-WW0208-PANELSEEDER1"
LEECHER = b"-WW0208-PANELLEECHR1"
HTTP_PEER = b"-LT2010-PANELHTTPPR1"
SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"


def web_announce(socket, info_hash: bytes, peer_id: bytes, *, offers: int = 0, **extra) -> dict:
    message = {
        "action": "announce",
        "info_hash": info_hash.decode("latin-1"),
        "peer_id": peer_id.decode("latin-1"),
        "numwant": offers,
        "left": 100,
        "offers": [
            {"offer": {"type": "offer", "sdp": SDP}, "offer_id": f"panel-offer-{n:08d}"}
            for n in range(offers)
        ],
        **extra,
    }
    socket.send(orjson.dumps(message).decode())
    return orjson.loads(socket.recv(timeout=5))


def http_announce(live, info_hash: bytes, event: str = "started") -> dict:
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(HTTP_PEER)}"
        f"&port=6881&uploaded=0&downloaded=0&left=0&event={event}"
    )
    return decode(httpx.get(f"{live.url}/tracker/announce?{query}").content)


def log_in(page: Page, live) -> None:
    page.goto(f"{live.url}/admin-panel/")
    assert "/admin-panel/login/" in page.url
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "live-admin-password")
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{live.url}/admin-panel/")


def set_video_p2p(page: Page, choice: str) -> None:
    page.select_option("#id_p2p", choice)
    page.click("#video-p2p button[type=submit]")
    page.wait_for_selector(".messages li.success")


def test_a_video_switched_off_in_the_browser_drops_its_peers_until_it_is_switched_on(
    live_instance,
):
    video = get_json(f"{live_instance.url}/api/v1/videos")["data"][-1]
    info_hash = bytes.fromhex(video["files"][0]["infoHash"])
    try:
        with (
            connect(live_instance.ws_tracker) as seeder,
            connect(f"{live_instance.ws_tracker}?client=2") as leecher,
            chromium() as browser,
        ):
            assert "failure reason" not in web_announce(seeder, info_hash, SEEDER, left=0)
            assert web_announce(leecher, info_hash, LEECHER)["complete"] == 1
            page = browser.new_page()
            log_in(page, live_instance)
            page.goto(f"{live_instance.url}/admin-panel/videos/{video['uuid']}/")
            assert page.inner_text("#web-seeders") == "1"
            assert page.inner_text("#web-leechers") == "1"

            set_video_p2p(page, "off")
            assert page.get_attribute("h1 [data-p2p-effective]", "data-p2p-effective") == "off"
            assert page.inner_text("#web-seeders") == "0"  # emptied at once, before any message
            for peer in (seeder, leecher):  # and both told so, without a message of their own
                told = orjson.loads(peer.recv(timeout=5))
                assert told["failure reason"] == P2P_DISABLED
            refused = web_announce(leecher, info_hash, LEECHER, offers=2)
            assert refused["failure reason"] == P2P_DISABLED
            with pytest.raises(TimeoutError):
                seeder.recv(timeout=0.5)  # its offers were not relayed
            assert web_announce(seeder, info_hash, SEEDER, left=0)["failure reason"] == (
                P2P_DISABLED
            )
            assert http_announce(live_instance, info_hash)[b"failure reason"] == (
                P2P_DISABLED.encode()
            )
            assert (
                get_json(f"{live_instance.url}/api/v1/videos/{video['uuid']}")["p2pEnabled"]
                is False
            )

            set_video_p2p(page, "inherit")
            assert page.get_attribute("h1 [data-p2p-effective]", "data-p2p-effective") == "on"
            assert "failure reason" not in web_announce(seeder, info_hash, SEEDER, left=0)
            admitted = web_announce(leecher, info_hash, LEECHER, offers=1)
            assert "failure reason" not in admitted and admitted["complete"] == 1
            offer = orjson.loads(seeder.recv(timeout=5))
            assert offer["peer_id"] == LEECHER.decode() and offer["offer"]["sdp"] == SDP
            assert b"failure reason" not in http_announce(live_instance, info_hash)
            http_announce(live_instance, info_hash, event="stopped")
            audit = page.inner_text("table.audit")
            assert "inherit\toff" in audit and "off\tinherit" in audit
    finally:
        live_instance.manage("p2p", "inherit", "--video", video["uuid"])


def test_the_faq_shows_a_limit_right_after_it_is_changed_in_the_panel(live_instance):
    faq = f"{live_instance.url}/about/privacy"
    with chromium() as browser:
        page = browser.new_page()
        log_in(page, live_instance)
        before = page.input_value("#id_max_peers_per_reply")
        try:
            page.fill("#id_max_peers_per_reply", "51")
            page.click("#tracker-limits button[type=submit]")
            assert "must be a whole number from 1 to 50" in page.inner_text("#tracker-limits")
            page.fill("#id_max_peers_per_reply", "7")
            page.click("#tracker-limits button[type=submit]")
            page.wait_for_selector(".messages li.success")
            page.goto(faq)
            assert page.inner_text("#fact-peers-per-reply .value") == "7"
        finally:
            page.goto(f"{live_instance.url}/admin-panel/")
            page.fill("#id_max_peers_per_reply", before)
            page.click("#tracker-limits button[type=submit]")
            page.wait_for_selector(".messages li")
        page.goto(faq)
        assert page.inner_text("#fact-peers-per-reply .value") == before
