"""The instance's own STUN server: coturn's command line, and a binding request to check it.

A STUN server learns the public address of every browser that asks it (that is its job), so
the instance runs its own: P2P then connects viewers behind NATs without telling a third party
who watches. coturn (Debian's `coturn`, measured in ../shared/interop-notes.md) runs STUN only,
quiet: it writes a client's address only with --log-binding, which is never given.

The wire format (RFC 5389) is small enough to check the server without a library: a binding
request is 20 bytes, and the answer's XOR-MAPPED-ADDRESS says the server saw us.
"""

import ipaddress
import os
import shutil
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
XOR_MAPPED_ADDRESS = 0x0020
HEADER = struct.Struct("!HHI12s")  # type, length of the attributes, magic cookie, transaction id
FAMILY_IPV4, FAMILY_IPV6 = 0x01, 0x02
# A loopback or LAN round trip takes well under a millisecond; this bounds a server that is down.
PROBE_TIMEOUT_SECONDS = 1.0


class StunError(ValueError):
    """An answer that is not a binding success for our request."""


def binding_request(transaction_id: bytes) -> bytes:
    """A STUN binding request with no attributes (20 bytes)."""
    if len(transaction_id) != 12:
        raise ValueError("a STUN transaction id is 12 bytes")
    return HEADER.pack(BINDING_REQUEST, 0, MAGIC_COOKIE, transaction_id)


def mapped_address(response: bytes, transaction_id: bytes) -> tuple[str, int]:
    """The address and port a binding success response for `transaction_id` reports."""
    if len(response) < HEADER.size:
        raise StunError(f"{len(response)} bytes: shorter than a STUN header")
    kind, length, cookie, answered = HEADER.unpack_from(response)
    if cookie != MAGIC_COOKIE or answered != transaction_id:
        raise StunError("not an answer to this request")
    if kind != BINDING_SUCCESS:
        raise StunError(f"message type {kind:#06x}, not a binding success")
    if HEADER.size + length > len(response):
        raise StunError("attributes cut short")
    offset, end = HEADER.size, HEADER.size + length
    while offset + 4 <= end:
        attribute, size = struct.unpack_from("!HH", response, offset)
        value = response[offset + 4 : offset + 4 + size]
        if len(value) != size:
            raise StunError("attribute cut short")
        if attribute == XOR_MAPPED_ADDRESS:
            return _xor_address(value, transaction_id)
        offset += 4 + (size + 3) // 4 * 4  # attributes are padded to 4 bytes
    raise StunError("no XOR-MAPPED-ADDRESS")


def _xor_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    if len(value) < 4:
        raise StunError("XOR-MAPPED-ADDRESS cut short")
    family, port = value[1], struct.unpack_from("!H", value, 2)[0] ^ (MAGIC_COOKIE >> 16)
    key = struct.pack("!I", MAGIC_COOKIE) + transaction_id
    raw = value[4:]
    if (family, len(raw)) not in ((FAMILY_IPV4, 4), (FAMILY_IPV6, 16)):
        raise StunError(f"address family {family} with {len(raw)} bytes")
    address = bytes(a ^ b for a, b in zip(raw, key, strict=False))
    return str(ipaddress.ip_address(address)), port


@dataclass(frozen=True)
class StunHealth:
    up: bool
    host: str
    port: int
    detail: str = ""  # why it is down; never an address the server reported
    milliseconds: float | None = None


def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> StunHealth:
    """Ask the STUN server at host:port for our address, as a browser would."""
    transaction_id = os.urandom(12)
    started = time.monotonic()
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect((host, port))  # answers from elsewhere are not ours
            sock.send(binding_request(transaction_id))
            deadline = started + timeout
            while True:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    mapped_address(sock.recv(2048), transaction_id)
                    break
                except StunError:
                    continue  # a stray datagram: wait for ours until the deadline
    except TimeoutError:
        return StunHealth(False, host, port, f"no answer within {timeout:g} s")
    except OSError as error:
        return StunHealth(False, host, port, error.strerror or type(error).__name__)
    return StunHealth(True, host, port, milliseconds=(time.monotonic() - started) * 1000)


def turnserver_command(binary: str, host: str, port: int, pid_file: Path) -> list[str]:
    """coturn as a STUN server only, on one UDP address, that writes nothing about clients."""
    command = [
        binary,
        "-n",  # no configuration file: /etc/turnserver.conf would add to these options
        "--stun-only",  # every TURN request (relay, credentials) is refused
        "--listening-port", str(port),
        "--no-tcp", "--no-tls", "--no-dtls",  # browsers ask stun: URLs over UDP
        "--no-cli",  # no telnet console on 5766
        "--no-software-attribute",  # the answer does not name the server's version
        # Its log goes to our output (serve's), nowhere else: no file under /var/log. Never
        # --log-binding nor -v (--verbose): measured, -v logs "New UDP endpoint: ... remote
        # addr <the viewer's address>" for every client. Without them, no address is logged.
        "--log-file", "stdout", "--simple-log",
        # In memory: otherwise coturn creates /var/lib/turn/turndb even for STUN alone.
        "--userdb", ":memory:",
        "--pidfile", str(pid_file),
    ]  # fmt: skip
    if host not in ("", "0.0.0.0", "::"):
        command += ["--listening-ip", host]  # else every address of the machine
    # coturn writes its log through stdio, block-buffered into a pipe or file: one line at a time.
    stdbuf = shutil.which("stdbuf")
    return [stdbuf, "-oL", *command] if stdbuf else command
