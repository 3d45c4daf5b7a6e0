"""Nothing about a peer (IP address, peer_id) reaches the database, a log or any file."""

import time
from urllib.parse import quote_from_bytes

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from tests.conftest import get_json

pytestmark = pytest.mark.e2e

SOURCE_ADDRESS = "127.0.0.77"
WEB_PEER_ID = b"-WW0208-PRIVACYWEB01"
HTTP_PEER_ID = b"-LT2010-PRIVACYHTTP1"


def test_peer_addresses_and_ids_are_written_nowhere(live_instance):
    info_hash = bytes.fromhex(
        get_json(f"{live_instance.url}/api/v1/videos")["data"][0]["files"][0]["infoHash"]
    )
    with connect(live_instance.ws_tracker, source_address=(SOURCE_ADDRESS, 0)) as socket:
        socket.send(
            orjson.dumps(
                {
                    "action": "announce",
                    "event": "started",
                    "info_hash": info_hash.decode("latin-1"),
                    "peer_id": WEB_PEER_ID.decode(),
                    "numwant": 0,
                    "left": 0,
                    "offers": [],
                }
            ).decode()
        )
        assert orjson.loads(socket.recv(timeout=5))["complete"] >= 1
        socket.send("not json")  # an error path, which might be tempted to log
        assert "failure reason" in orjson.loads(socket.recv(timeout=5))
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(HTTP_PEER_ID)}"
        "&port=6881&uploaded=0&downloaded=0&left=0&event=started"
    )
    transport = httpx.HTTPTransport(local_address=SOURCE_ADDRESS)
    with httpx.Client(transport=transport) as client:
        reply = client.get(f"{live_instance.url}/tracker/announce?{query}")
        assert reply.status_code == 200 and b"failure" not in reply.content
        client.get(f"{live_instance.url}/tracker/announce?info_hash=bad")
        client.get(f"{live_instance.url}/no-such-page")
    time.sleep(0.5)  # let the server flush its log

    needles = [SOURCE_ADDRESS.encode(), WEB_PEER_ID, HTTP_PEER_ID]
    needles += [needle.hex().encode() for needle in needles[1:]]
    written = [path for path in live_instance.data_dir.rglob("*") if path.is_file()]
    assert any(path.name == "db.sqlite3" for path in written)
    assert any(path.name == "serve.log" for path in written)
    found = [
        (path.name, needle) for path in written for needle in needles if needle in path.read_bytes()
    ]
    assert found == []
