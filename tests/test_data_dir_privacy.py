"""The settings create the data folder, the secret key and the SQLite file for their owner only
(0700, 0600, 0600) whatever the umask, tighten an existing database file, and give processes
that start together one and the same generated key."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.live import ROOT

PRINT_KEY = "import instance.settings as s; print(s.SECRET_KEY)"


def start_settings(data_dir: Path, **env: str) -> subprocess.Popen:
    """A process that reads the settings with umask 000, as a careless service manager runs it."""
    return subprocess.Popen(
        [sys.executable, "-c", PRINT_KEY],
        cwd=ROOT,
        env={**os.environ, "PEERVEIL_DATA_DIR": str(data_dir), **env},
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.umask(0),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_processes_starting_together_share_one_private_key(tmp_path):
    data_dir = tmp_path / "data"
    processes = [start_settings(data_dir) for _ in range(4)]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(keys) == 1 and len(keys.pop()) >= 50
    assert sorted(path.name for path in data_dir.iterdir()) == ["db.sqlite3", "secret_key"]
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "secret_key") == 0o600 and mode(data_dir / "db.sqlite3") == 0o600


def test_an_existing_readable_database_file_is_tightened(tmp_path):
    (tmp_path / "db.sqlite3").touch()
    (tmp_path / "db.sqlite3").chmod(0o644)
    start_settings(tmp_path).communicate(timeout=60)
    assert mode(tmp_path / "db.sqlite3") == 0o600


def test_a_key_from_the_environment_is_never_written(tmp_path):
    process = start_settings(tmp_path, PEERVEIL_SECRET_KEY="from-the-environment")
    assert process.communicate(timeout=60)[0].strip() == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()
