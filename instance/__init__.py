"""The peerveil Django project and the instance's content: videos, files, torrents, settings."""

from .celery import app as celery_app

__all__ = ["celery_app"]
