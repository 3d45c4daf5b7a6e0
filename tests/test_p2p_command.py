"""`manage.py p2p on|off|inherit [--video UUID]`: the panel's switches, for scripts."""

import io
import time
import uuid
from urllib.parse import quote_from_bytes

import bencode
import httpx
import pytest
from django.core.management import CommandError, call_command

from adminpanel.models import AuditEntry
from instance.models import InstanceSettings, P2PSetting, Video
from tests.conftest import get_json
from tests.tracker_helpers import add_video
from tracker.access import POLICY_PROPAGATION_SECONDS
from tracker.core import P2P_DISABLED

decode = bencode.Bencode(encoding=None).decode


def p2p(*args: str) -> str:
    out = io.StringIO()
    call_command("p2p", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_switching_the_instance_off_and_on_is_saved_and_audited_as_cli():
    output = p2p("off")
    assert "P2P for the instance switched off." in output
    assert f"within {POLICY_PROPAGATION_SECONDS:g} s" in output
    assert InstanceSettings.load().p2p_enabled is False
    assert "was already off" in p2p("off")
    p2p("on")
    assert InstanceSettings.load().p2p_enabled is True
    entries = [(e.actor, e.subject, e.old_value, e.new_value) for e in AuditEntry.objects.all()]
    assert entries == [("cli", "instance", "off", "on"), ("cli", "instance", "on", "off")]


@pytest.mark.django_db
def test_a_video_can_be_set_on_off_or_back_to_inherit_and_the_state_in_effect_is_printed():
    add_video("cli video")
    video = Video.objects.get(name="cli video")
    assert "set to off; in effect: off." in p2p("off", "--video", str(video.uuid))
    video.refresh_from_db()
    assert video.p2p == P2PSetting.OFF
    p2p("off")  # the instance
    assert "set to inherit; in effect: off." in p2p("inherit", "--video", str(video.uuid))
    assert "set to on; in effect: on." in p2p("on", "--video", str(video.uuid))
    video_entries = AuditEntry.objects.about_video(video.uuid)
    assert [e.new_value for e in video_entries] == ["on", "inherit", "off"]
    assert {e.actor for e in video_entries} == {"cli"}


@pytest.mark.django_db
def test_inherit_needs_a_video_and_an_unknown_video_is_an_error():
    with pytest.raises(CommandError, match="inherit applies to a video only"):
        p2p("inherit")
    with pytest.raises(CommandError, match="no video with uuid"):
        p2p("off", "--video", str(uuid.uuid4()))
    with pytest.raises(CommandError, match="no video with uuid"):
        p2p("off", "--video", "not-a-uuid")
    assert not AuditEntry.objects.exists()


def test_the_help_says_when_a_running_server_applies_the_change():
    from adminpanel.management.commands.p2p import Command

    assert f"within {POLICY_PROPAGATION_SECONDS:g} s" in Command.help


def announce_until(live, query: str, refused: bool) -> bytes:
    """Announce until the reply is (or is not) a refusal; the server sees a change made by
    another process within POLICY_PROPAGATION_SECONDS."""
    deadline = time.monotonic() + POLICY_PROPAGATION_SECONDS + 3
    while True:
        reply = decode(httpx.get(f"{live.url}/tracker/announce?{query}").content)
        if (b"failure reason" in reply) == refused or time.monotonic() > deadline:
            return reply
        time.sleep(0.25)


@pytest.mark.e2e
def test_the_command_switches_a_video_of_a_running_server(live_instance):
    video = get_json(f"{live_instance.url}/api/v1/videos")["data"][-1]
    info_hash = bytes.fromhex(video["files"][0]["infoHash"])
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(b'-LT2010-P2PCOMMAND01')}"
        "&port=6881&uploaded=0&downloaded=0&left=0"
    )
    assert b"failure reason" not in decode(
        httpx.get(f"{live_instance.url}/tracker/announce?{query}").content
    )
    try:
        started = time.monotonic()
        live_instance.manage("p2p", "off", "--video", video["uuid"])
        refused = announce_until(live_instance, query, refused=True)
        assert refused[b"failure reason"] == P2P_DISABLED.encode()
        assert time.monotonic() - started < POLICY_PROPAGATION_SECONDS + 3
        detail = get_json(f"{live_instance.url}/api/v1/videos/{video['uuid']}")
        assert detail["p2pEnabled"] is False
    finally:
        live_instance.manage("p2p", "inherit", "--video", video["uuid"])
    admitted = announce_until(live_instance, query, refused=False)
    assert b"failure reason" not in admitted and admitted[b"complete"] == 1
    # Leave the swarm as it was for the other tests of this live instance.
    httpx.get(f"{live_instance.url}/tracker/announce?{query}&event=stopped")
