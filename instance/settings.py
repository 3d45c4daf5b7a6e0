"""Settings of the peerveil instance.

Every setting comes from the environment (prefix ``PEERVEIL_``) and is read here, once, with an
embedded default that runs the instance on one machine with nothing else installed: SQLite, the
in-memory channel layer, a local-memory cache and Celery's filesystem broker.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from instance.env_values import (
    checked_stun_public,
    database,
    filesystem_broker_options,
    parse_bool,
    parse_ice_servers,
    parse_list,
    parse_networks,
    parse_port,
    secret_key,
)
from tracker.core.config import TrackerConfig

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"PEERVEIL_{name}", default)


def env_bool(name: str, default: bool) -> bool:
    return parse_bool(env(name, "1" if default else "0"))


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_list(name: str, default: str = "") -> list[str]:
    return parse_list(env(name, default))


def env_networks(name: str) -> list:
    return parse_networks(f"PEERVEIL_{name}", env(name))


def env_port(name: str, default: int) -> int:
    return parse_port(f"PEERVEIL_{name}", env(name, str(default)))


DATA_DIR = Path(env("DATA_DIR", str(BASE_DIR / "var"))).resolve()
# Created for its owner only (mode & ~umask can only take bits away); an existing folder is left
# as its admin made it, since the secret key and the database in it are 0600 anyway.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

# An explicit key, else one generated once and kept (0600) in DATA_DIR.
SECRET_KEY = secret_key(env("SECRET_KEY"), DATA_DIR)
DEBUG = env_bool("DEBUG", False)

HOST = env("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000)
# Server processes `serve` runs on that port (its --workers); more than one share the tracker's
# swarms through Redis, so they need REDIS_URL (checked by serve).
WORKERS = env_int("WORKERS", 1)
# The address viewers use: torrents, magnets and the tracker URLs are built from it.
PUBLIC_URL = env("PUBLIC_URL", f"http://{HOST}:{PORT}").rstrip("/")
_public_host = urlsplit(PUBLIC_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", f"{_public_host},127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "instance",
    "instance.redundancy",
    "tracker",
    "adminpanel",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "instance.urls"
ASGI_APPLICATION = "instance.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default: a private file in write-ahead-log mode (instance/env_values.py).
DATABASES = {"default": database(env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Collected assets under /assets/; /static/ is PeerTube's prefix for video files
# (/static/web-videos/...), served by instance.views with HTTP Range.
STATIC_URL = "/assets/"
STATIC_ROOT = DATA_DIR / "assets"
# The players' browser libraries, from npm (package.json), served by the instance: no CDN.
STATICFILES_DIRS = [
    ("vendor/webtorrent", BASE_DIR / "node_modules" / "webtorrent" / "dist"),
    ("vendor/hls.js", BASE_DIR / "node_modules" / "hls.js" / "dist"),
    ("vendor/p2p-media-loader-core", BASE_DIR / "node_modules" / "p2p-media-loader-core" / "dist"),
    (
        "vendor/p2p-media-loader-hlsjs",
        BASE_DIR / "node_modules" / "p2p-media-loader-hlsjs" / "dist",
    ),
]
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
MEDIA_URL = "/media/"
# HLS renditions, a folder per video (PeerTube's streaming-playlists/hls/<uuid>/).
HLS_ROOT = MEDIA_ROOT / "streaming-playlists" / "hls"
# Bytes read per chunk when streaming a video file.
FILE_CHUNK_SIZE = 256 * 1024

ADMIN_USER = env("ADMIN_USER", "admin")
ADMIN_PASSWORD = env("ADMIN_PASSWORD")

# Celery: the filesystem transport needs no server; PEERVEIL_CELERY_BROKER_URL switches to
# Redis or RabbitMQ (e.g. amqp://guest:guest@127.0.0.1:5672//).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "celery" / "broker"
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        CELERY_BROKER_DIR, DATA_DIR / "celery"
    )
    CELERY_BROKER_TRANSPORT = "instance.broker:Transport"
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message a killed worker held comes back after this many seconds. A retry waits in the
    # worker, unacknowledged, for its countdown (at most RETRY_BACKOFF_MAX_SECONDS, 300 s) and a
    # download slice runs about SLICE_SECONDS (60 s): shorter, and Redis would hand a message a
    # live worker still holds to another (kombu's default is an hour).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900}
CELERY_TASK_IGNORE_RESULT = True
# A task's message is acknowledged once it has run, not when the worker takes it: a worker
# killed mid-task (the main process or a pool process) leaves the task to run again, so every
# task is written to be safe to run twice (instance/redundancy/tasks.py).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celery" / "beat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Tracker defaults; the instance-settings row may override the tunable ones from the panel.
TRACKER_ANNOUNCE_INTERVAL = env_int("ANNOUNCE_INTERVAL", TrackerConfig.announce_interval)
TRACKER_MAX_PEERS_PER_REPLY = env_int("MAX_PEERS_PER_REPLY", TrackerConfig.max_peers_per_reply)


# Spy defences. X-Forwarded-For is read only from these proxies (the server ignores it).
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# Sources never limited, blocked or alarmed: e.g. a load generator, or a mirror seeding every video.
TRACKER_EXEMPT_NETWORKS = env_networks("TRACKER_EXEMPT_NETWORKS")
# Alarms go to the admins by e-mail (none configured: no e-mail) and to this URL as JSON.
ALARM_WEBHOOK_URL = env("ALARM_WEBHOOK_URL")
ADMINS = [(address, address) for address in env_list("ADMIN_EMAIL")]
SERVER_EMAIL = env("SERVER_EMAIL", f"peerveil@{_public_host}")
# The console backend writes e-mails to the server's log: alarms carry no address, only hashes.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_SUBJECT_PREFIX = "[peerveil] "

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
# Not an environment setting: the core's limit, which the server's WebSocket frame size follows.
TRACKER_MAX_MESSAGE_BYTES = TrackerConfig.max_message_bytes
# Serves /tracker/test-page, a bare WebTorrent page used by the end-to-end tests.
TRACKER_TEST_PAGE = env_bool("TRACKER_TEST_PAGE", False)
# Beat wakes at least this often, so it also stops within seconds on Ctrl-C.
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
# `serve` restarts its worker when the worker's heartbeat task (sent by beat, run by the pool) has
# not run for this many seconds: a pool that receives tasks and never runs them, as a prefork
# worker does after its pool process is killed. Above the longest task the one-process pool runs
# before it: a download slice (60 s, then at most one chunk's fetch with its 30 s timeout).
WORKER_STUCK_AFTER = env_int("WORKER_STUCK_AFTER", 300)
WORKER_HEARTBEAT_FILE = DATA_DIR / "celery" / "heartbeat"


# The instance's own STUN server (coturn's turnserver, STUN only), run by `serve`: viewers behind
# NATs learn their public address from the instance that already serves them, not from a third
# party. 0 runs none; without turnserver installed there is none either (P2P then connects
# only viewers who reach each other directly: the same network).
STUN_PORT = env_port("STUN_PORT", 3478)
# The address it listens on (0.0.0.0: all), by default the web server's.
STUN_HOST = env("STUN_HOST", HOST)
# The path of turnserver, found once; None when the instance runs no STUN server.
STUN_SERVER_BINARY = (shutil.which(env("TURNSERVER", "turnserver")) or None) if STUN_PORT else None
# What viewers' browsers are told (host:port): the public name and port when a NAT or a proxy
# stands in front of the instance; by default PUBLIC_URL's host and STUN_PORT.
STUN_PUBLIC = checked_stun_public(env("STUN_PUBLIC", f"{_public_host}:{STUN_PORT}"))

# Unset (None): the instance's own STUN server when it runs, else none. An admin may set others
# here ("[]" for none) or in the panel, which wins; every STUN or TURN server sees the IP address
# of every viewer who watches with P2P on, and the watch page and the FAQ name them.
ICE_SERVERS = parse_ice_servers(env("ICE_SERVERS"))

# Redundancy program: automated copies of videos, served as extra webseeds.
REDUNDANCY_ROOT = Path(env("REDUNDANCY_ROOT", str(DATA_DIR / "redundancy"))).resolve()
# Seconds between two checks of the strategies (PeerTube: redundancy.videos.check_interval).
REDUNDANCY_CHECK_INTERVAL = env_int("REDUNDANCY_CHECK_INTERVAL", 600)
# The port a copy announces as a seeder. No BitTorrent listener runs there: the copy is served
# as a webseed (BEP 19) only, as PeerTube's redundancy is; by default the instance's public port.
REDUNDANCY_PEER_PORT = env_int(
    "REDUNDANCY_PEER_PORT",
    urlsplit(PUBLIC_URL).port or (443 if PUBLIC_URL.startswith("https:") else 80),
)
# The redundancy tasks keep these names whatever module defines them (`name=` in
# instance/redundancy/tasks.py): messages already in the broker carry them too.
CELERY_BEAT_SCHEDULE.update(
    {
        "redundancy-check": {
            "task": "instance.tasks.check_redundancy",
            "schedule": REDUNDANCY_CHECK_INTERVAL,
        },
        # Each copy announces when the tracker's interval says so; this only wakes them up
        # often enough for the shortest interval an admin may set (30 s).
        "redundancy-announce": {"task": "instance.tasks.announce_copies", "schedule": 15},
        # Ten per WORKER_STUCK_AFTER. No expiry: a late one still proves the pool runs.
        "worker-heartbeat": {
            "task": "instance.tasks.worker_heartbeat",
            "schedule": max(1, WORKER_STUCK_AFTER // 10),
        },
    }
)
