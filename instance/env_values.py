"""What instance/settings.py makes of the environment's values: parsing and checks, the private
files the settings create, and the settings derived from others.

Nothing here reads the environment: settings.py reads every PEERVEIL_ variable, once, and hands
the raw strings to these functions. A value that cannot be used stops the start with
ImproperlyConfigured naming its variable.
"""

import json
import os
import re
import secrets
import tempfile
from ipaddress import ip_network
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def parse_bool(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_networks(variable: str, raw: str) -> list:
    """A comma-separated list of CIDR networks (a bare address is a /32 or /128)."""
    try:
        return [ip_network(item, strict=False) for item in parse_list(raw)]
    except ValueError as error:
        raise ImproperlyConfigured(f"{variable}: {error}") from None


def parse_port(variable: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ImproperlyConfigured(f"{variable}: a port number from 0 to 65535")
    return port


def parse_ice_servers(raw: str) -> list[dict] | None:
    """RTCIceServer dicts (JSON) for the watch page's WebRTC connections; None when unset."""
    if not raw.strip():
        return None
    try:
        servers = json.loads(raw)
    except ValueError:
        servers = None
    if not isinstance(servers, list) or not all(
        isinstance(server, dict) and "urls" in server for server in servers
    ):
        raise ImproperlyConfigured("PEERVEIL_ICE_SERVERS: a JSON list of {urls, ...} objects")
    return servers


def checked_stun_public(raw: str) -> str:
    """host:port as viewers' browsers are told it."""
    if not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}", raw):
        raise ImproperlyConfigured("PEERVEIL_STUN_PUBLIC: host:port (an IPv6 address in [ ])")
    return raw


def private_file(path: Path) -> None:
    """Create an empty file readable by its owner only (0600 from the first instant, whatever
    the umask), or take group and other bits off an existing one of ours."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        info = path.stat()
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            path.chmod(info.st_mode & 0o700)


def secret_key(explicit: str, data_dir: Path) -> str:
    """An explicit key from the environment, else one generated once and kept in data_dir."""
    if explicit:
        return explicit
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        # Written to a private (0600) temporary file, then linked into place: the key is never
        # readable by others, and processes starting together all read the one that won.
        handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".secret_key.")
        try:
            with os.fdopen(handle, "w") as stream:
                stream.write(secrets.token_urlsafe(50))
            os.link(temporary, key_file)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    private_file(key_file)
    return key_file.read_text().strip()


def database(url: str) -> dict:
    """Django's default database from its URL; a SQLite file is created private first."""
    default = dj_database_url.parse(url, conn_max_age=60)
    if default["ENGINE"] == "django.db.backends.sqlite3":
        sqlite_file = Path(default["NAME"] or ":memory:")
        if str(sqlite_file) != ":memory:" and sqlite_file.parent.is_dir():
            # SQLite would create the file with 0644 (less the umask); an empty file is an empty
            # database to it, and its journal and WAL files take the database file's mode.
            private_file(sqlite_file)
        default["OPTIONS"] = {
            # Write-ahead log: readers (the tracker's policy reloads, panel pages) never block a
            # writer nor a writer them, so only two writes at once wait for each other. The mode
            # is stored in the file; it needs a local disk (not NFS).
            "init_command": "PRAGMA journal_mode=WAL",
            # Seconds a write waits for another one's lock before "database is locked" (Python's
            # default is 5; a write holds the lock for milliseconds, a loaded machine is slower).
            # Alarms are written again after that too (tracker/alarms.py).
            "timeout": 20,
            **default.get("OPTIONS", {}),
        }
    return default


def filesystem_broker_options(broker_dir: Path, celery_dir: Path) -> dict:
    """kombu's filesystem transport: messages in broker_dir, its other folders in celery_dir."""
    return {
        "data_folder_in": str(broker_dir),
        "data_folder_out": str(broker_dir),
        "processed_folder": str(celery_dir / "processed"),
        # kombu's default is ./control, relative to wherever the worker was started.
        "control_folder": str(celery_dir / "control"),
        "store_processed": False,
        # Messages a worker holds until acknowledged, put back if it dies (instance/broker.py).
        "unacked_folder": str(celery_dir / "unacked"),
    }
