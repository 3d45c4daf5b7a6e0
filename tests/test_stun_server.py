"""The STUN binding request and response (RFC 5389) and the instance's coturn, for real.

Each coturn here listens on a free UDP port of 127.0.0.1 with the command `serve` runs.
"""

import os
import socket
import struct
import time
from pathlib import Path

import pytest

from instance.stun import (
    MAGIC_COOKIE,
    XOR_MAPPED_ADDRESS,
    StunError,
    binding_request,
    mapped_address,
    probe,
)
from tests.live import free_udp_port
from tests.stun_helpers import coturn, needs_coturn

TXID = bytes(range(12))


def response(attributes: bytes, *, kind: int = 0x0101, txid: bytes = TXID) -> bytes:
    return struct.pack("!HHI12s", kind, len(attributes), MAGIC_COOKIE, txid) + attributes


def attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def xor_mapped(address: bytes, port: int, family: int) -> bytes:
    key = struct.pack("!I", MAGIC_COOKIE) + TXID
    hidden = bytes(a ^ b for a, b in zip(address, key, strict=False))
    return attribute(
        XOR_MAPPED_ADDRESS, struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + hidden
    )


def test_a_binding_request_is_twenty_bytes_with_the_magic_cookie_and_our_transaction():
    request = binding_request(TXID)
    assert len(request) == 20
    assert request[:8] == bytes.fromhex("000100002112a442") and request[8:] == TXID
    with pytest.raises(ValueError):
        binding_request(b"short")


def test_the_mapped_address_is_read_after_other_attributes_ipv4_and_ipv6():
    software = attribute(0x8022, b"odd")  # 3 bytes, padded to 4
    ipv4 = response(software + xor_mapped(bytes([198, 18, 0, 2]), 54780, 0x01))
    assert mapped_address(ipv4, TXID) == ("198.18.0.2", 54780)
    ipv6 = response(xor_mapped(socket.inet_pton(socket.AF_INET6, "2001:db8::7"), 3478, 0x02))
    assert mapped_address(ipv6, TXID) == ("2001:db8::7", 3478)


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"\x01\x01" * 9,  # shorter than a header
        response(xor_mapped(b"\x7f\0\0\1", 1, 1), txid=bytes(12)),  # another transaction
        response(xor_mapped(b"\x7f\0\0\1", 1, 1), kind=0x0111),  # a binding error
        response(attribute(0x8022, b"no address")),
        response(xor_mapped(b"\x7f\0\0\1", 1, 1))[:-2],  # cut short
        response(xor_mapped(b"\x7f\0\0\1\0\0", 1, 1)),  # IPv4 with 6 bytes
    ],
)
def test_anything_but_a_binding_success_for_our_request_is_refused(answer):
    with pytest.raises(StunError):
        mapped_address(answer, TXID)


@needs_coturn
def test_coturn_tells_a_client_its_address_and_writes_it_nowhere(tmp_path):
    port = free_udp_port()
    turndb = Path("/var/lib/turn/turndb")
    turndb_before = turndb.stat().st_mtime_ns if turndb.exists() else None
    with coturn(tmp_path, port) as output, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.77", 0))  # a "viewer" address nothing else here uses
        sock.settimeout(2)
        for _ in range(3):
            txid = os.urandom(12)
            sock.sendto(binding_request(txid), ("127.0.0.1", port))
            assert mapped_address(sock.recv(2048), txid) == sock.getsockname()
        # A TURN allocation is refused (STUN only): an error answer, or none at all.
        sock.sendto(struct.pack("!HHI12s", 0x0003, 0, MAGIC_COOKIE, TXID), ("127.0.0.1", port))
        try:
            answer = sock.recv(2048)
            assert struct.unpack_from("!H", answer)[0] == 0x0113  # allocate error
        except TimeoutError:
            pass
        time.sleep(0.5)  # its log is line-buffered: let the last lines arrive
        text = output.read_text()
    assert "Listener address to use: 127.0.0.1" in text  # the output was captured
    assert "127.0.0.77" not in text
    # It wrote nothing but its pid file: no log file, no user database.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coturn.out", "pid"]
    assert (turndb.stat().st_mtime_ns if turndb.exists() else None) == turndb_before


@needs_coturn
def test_the_health_probe_sees_coturn_up_then_down(tmp_path):
    port = free_udp_port()
    with coturn(tmp_path, port):
        health = probe("127.0.0.1", port)
        assert health.up and health.milliseconds is not None
    down = probe("127.0.0.1", port, timeout=0.5)
    assert not down.up and down.detail  # refused (ICMP) or no answer
