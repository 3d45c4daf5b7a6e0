"""500 sources of one /16 probing the tracker are one incident: one row on the alarm page, one
e-mail, one webhook post, with counts and the network only. The page (and its chart) is
screenshot in Chromium into /tmp/peerveil-screens/ for a person to look at.

A server of its own, with alarms e-mailed to its log (console backend) and posted to a webhook;
each source binds its own 127.77.x.y address (Linux routes all of 127.0.0.0/8 to loopback).
"""

import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import pytest

from tests.browser import chromium, chromium_available
from tests.test_no_ip_at_rest_live import Webhook, alarmed_instance, log_in
from tracker.core.guard import GuardConfig

pytestmark = pytest.mark.e2e

SOURCES = [f"127.77.{n // 250}.{n % 250 + 1}" for n in range(500)]
SCREENS = Path("/tmp/peerveil-screens")


def probe(address: str, url: str) -> None:
    """Announces of unknown infohashes, as many as ring the probing alarm."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=10) as client:
        for n in range(GuardConfig.alarm_unknown_videos):
            info_hash = quote_from_bytes(f"{address}#{n}".encode().ljust(20, b"#")[:20])
            query = f"info_hash={info_hash}&peer_id=-LT2010-PROBE0000001&port=6881&left=0"
            assert client.get(f"{url}/tracker/announce?{query}").status_code == 200


def incident_rows(page: str) -> list[str]:
    return re.findall(r'<tr data-incident="\d+">(.*?)</tr>', page, re.S)


def test_500_sources_of_one_network_are_one_incident_one_mail_one_post_one_row(tmp_path):
    live, hook = alarmed_instance(tmp_path)
    live.start("--no-worker")
    try:
        started = time.monotonic()
        # Together, as a crawl from many addresses is: within the minute an incident's first
        # message may wait for more of its alarms (tracker.alarms.NOTICE_HOLD_SECONDS).
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda address: probe(address, live.url), SOURCES))
        probed = time.monotonic() - started
        panel = log_in(live)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            page = panel.get("/admin-panel/alarms/").text
            rows = incident_rows(page)
            if rows and ">500</td>" in rows[0] and Webhook.received:
                break
            time.sleep(0.5)
        told_at = time.monotonic() - started
        # Longer than the quiet time after which a message goes out: no second one comes.
        time.sleep(8)
        page = panel.get("/admin-panel/alarms/").text
        pk = re.search(r'<tr data-incident="(\d+)">', page).group(1)
        detail = panel.get(f"/admin-panel/alarms/{pk}/").text
        if chromium_available():
            screenshots(live, pk)
    finally:
        live.stop()
        hook.shutdown()
    print(f"500 sources probed in {probed:.1f} s; incident told {told_at:.1f} s after the first")

    rows = incident_rows(page)
    assert len(rows) == 1
    assert "Probing unknown videos" in rows[0] and "127.77.0.0/16" in rows[0]
    assert re.search(r'<td class="num">500</td>', rows[0])
    assert len(re.findall(r'<tr data-alarm="\d+">', detail)) == 100  # a page of its 500 alarms
    assert "Page 1 of 5" in detail
    assert "<svg" in page and page.count("<title>") >= 1  # the chart has its bars
    assert "Probing unknown videos: 500" in page  # the chart's legend
    assert len(Webhook.received) == 1
    [post] = Webhook.received
    assert (post["kind"], post["network"], post["sources"], post["update"]) == (
        "unknown-videos",
        "127.77.0.0/16",
        500,
        False,
    )
    log = live.log()
    assert log.count("Subject: [peerveil] Alarm") == 1
    assert "Probing unknown videos from 127.77.0.0/16" in log and "sources: 500" in log
    # Nothing stores an address: not the incident, the alarms, the log nor the post.
    written = [p for p in live.data_dir.rglob("*") if p.is_file()]
    for path in written:
        data = path.read_bytes()
        for address in SOURCES:
            assert address.encode() not in data and socket.inet_aton(address) not in data, path
    assert not any(address in json.dumps(Webhook.received) for address in SOURCES)


def screenshots(live, pk: str) -> None:
    """The alarm page and the incident's page, as an admin sees them."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live.url}/admin-panel/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "live-admin-password")
        page.click("button[type=submit]")
        page.goto(f"{live.url}/admin-panel/alarms/")
        assert page.locator("svg.alarm-chart rect[fill]").count() >= 1
        page.screenshot(path=str(SCREENS / "alarms-500-sources.png"), full_page=True)
        page.goto(f"{live.url}/admin-panel/alarms/{pk}/")
        page.screenshot(path=str(SCREENS / "incident-500-sources.png"), full_page=True)
