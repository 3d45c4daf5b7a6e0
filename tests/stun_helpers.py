"""A real coturn for tests, started with the command `serve` runs (instance/stun.py)."""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from instance.stun import probe, turnserver_command

TURNSERVER = Path("/usr/bin/turnserver")
needs_coturn = pytest.mark.skipif(not TURNSERVER.exists(), reason="needs coturn (make coturn)")


@contextmanager
def coturn(tmp_path: Path, port: int) -> Iterator[Path]:
    """The instance's coturn (its command as `serve` runs it); yields its output file."""
    output = tmp_path / "coturn.out"
    command = turnserver_command(str(TURNSERVER), "127.0.0.1", port, tmp_path / "pid")
    with output.open("wb") as stream:
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not probe("127.0.0.1", port, timeout=0.2).up:
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
        yield output
    finally:
        process.terminate()
        process.wait(10)
