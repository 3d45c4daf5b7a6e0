"""Network namespaces for NAT tests: a "public" network and homes behind their own NATs.

    with NatTopology(homes=2) as net:
        net.run_in(net.public, ["python", "manage.py", "serve"])   # on 198.18.0.1
        net.homes[0].nat_address                                    # 198.18.0.2, as servers see it

Built with `ip netns`, veth pairs, a bridge in the public namespace and `nft` masquerade in each
NAT namespace (the recipe measured in ../shared/interop-notes.md). Addresses of the public side
come from the benchmarking range 198.18.0.0/15 (RFC 2544), never routed on the internet. Every
namespace and link is named with a prefix of this run, so two runs at once never meet, and all of
them are deleted on leaving the block, whatever happened (deleting a namespace deletes its links).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PUBLIC_NETWORK = "198.18.0"  # /24; .1 is the instance, .2, .3... the homes' NATs
PUBLIC_SERVER = f"{PUBLIC_NETWORK}.1"


def namespaces_available() -> str | None:
    """None when this machine can build the namespaces, else the reason it cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            return f"{tool} is missing (apt-get install -y iproute2 nftables)"
    probe = f"pvprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def sh(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")


@dataclass
class Home:
    namespace: str
    nat_namespace: str
    address: str  # inside the home
    nat_address: str  # the NAT's public side: the address every server sees

    def wrapper(self, folder: Path, program: str) -> Path:
        """An executable that runs `program` with its arguments inside this home."""
        script = folder / f"{self.namespace}-{Path(program).name}"
        script.write_text(f'#!/bin/sh\nexec ip netns exec {self.namespace} {program} "$@"\n')
        script.chmod(0o755)
        return script


@dataclass
class NatTopology:
    homes_count: int = 2
    # The instance's upstream bandwidth (tc rate, e.g. "4mbit"), or None for the veth's speed.
    server_uplink: str | None = None
    prefix: str = field(default_factory=lambda: f"pv{uuid.uuid4().hex[:5]}")
    homes: list[Home] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def public(self) -> str:
        return f"{self.prefix}pub"

    def __enter__(self) -> NatTopology:
        try:
            self.build()
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.delete()

    def add_namespace(self, name: str) -> str:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def build(self) -> None:
        public = self.add_namespace(self.public)
        bridge = "br0"
        sh("ip", "-n", public, "link", "add", bridge, "type", "bridge")
        sh("ip", "-n", public, "addr", "add", f"{PUBLIC_SERVER}/24", "dev", bridge)
        sh("ip", "-n", public, "link", "set", bridge, "up")
        if self.server_uplink:
            # Only what the instance sends leaves through the bridge's own device; traffic
            # between the homes crosses the bridge's ports and is not limited.
            sh("ip", "netns", "exec", public, "tc", "qdisc", "add", "dev", bridge, "root", "tbf",
               "rate", self.server_uplink, "burst", "32kbit", "latency", "400ms")  # fmt: skip
        for number in range(1, self.homes_count + 1):
            self.homes.append(self.add_home(number, bridge))

    def add_home(self, number: int, bridge: str) -> Home:
        nat = self.add_namespace(f"{self.prefix}nat{number}")
        home = self.add_namespace(f"{self.prefix}home{number}")
        nat_address = f"{PUBLIC_NETWORK}.{number + 1}"
        inside = f"10.77.{number}"
        # Links are created in this (the root) namespace, so their names carry the prefix until
        # they are moved; names are at most 15 characters.
        up, down = f"{self.prefix}u{number}", f"{self.prefix}d{number}"
        sh("ip", "link", "add", f"{up}a", "type", "veth", "peer", "name", f"{up}b")
        sh("ip", "link", "set", f"{up}a", "netns", self.public)
        sh("ip", "link", "set", f"{up}b", "netns", nat)
        sh("ip", "link", "add", f"{down}a", "type", "veth", "peer", "name", f"{down}b")
        sh("ip", "link", "set", f"{down}a", "netns", nat)
        sh("ip", "link", "set", f"{down}b", "netns", home)
        sh("ip", "-n", self.public, "link", "set", f"{up}a", "master", bridge)
        sh("ip", "-n", self.public, "link", "set", f"{up}a", "up")
        sh("ip", "-n", nat, "addr", "add", f"{nat_address}/24", "dev", f"{up}b")
        sh("ip", "-n", nat, "link", "set", f"{up}b", "up")
        sh("ip", "-n", nat, "addr", "add", f"{inside}.1/24", "dev", f"{down}a")
        sh("ip", "-n", nat, "link", "set", f"{down}a", "up")
        sh("ip", "-n", home, "addr", "add", f"{inside}.2/24", "dev", f"{down}b")
        sh("ip", "-n", home, "link", "set", f"{down}b", "up")
        sh("ip", "-n", home, "route", "add", "default", "via", f"{inside}.1")
        sh("ip", "netns", "exec", nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # A home router: everything leaving to the public side takes the NAT's address; what
        # comes back is let in only as the answer to a flow from inside (conntrack). Unsolicited
        # packets are dropped before conntrack confirms an entry for them: accepted, such an
        # entry would take the port the next flow out must keep (an answer to a STUN-learnt
        # address arriving before our own first packet to it), and two Linux NATs punching
        # holes at each other would each pick another port, never meeting.
        ruleset = f"""
            table ip nat {{
                chain post {{
                    type nat hook postrouting priority 100;
                    oifname "{up}b" masquerade
                }}
            }}
            table ip filter {{
                chain forward {{
                    type filter hook forward priority 0; policy drop;
                    iifname "{down}a" accept
                    ct state established,related accept
                }}
                chain input {{
                    type filter hook input priority 0; policy drop;
                    iifname {{ "lo", "{down}a" }} accept
                    ct state established,related accept
                }}
            }}
        """
        subprocess.run(
            ["ip", "netns", "exec", nat, "nft", "-f", "-"],
            input=ruleset,
            text=True,
            check=True,
            capture_output=True,
        )
        return Home(home, nat, f"{inside}.2", nat_address)

    def run_in(self, namespace: str, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", namespace, *command]

    def delete(self) -> None:
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        self.namespaces.clear()
