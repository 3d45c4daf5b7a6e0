"""Celery tasks of the instance itself; the redundancy program's are instance/redundancy/tasks.py.

Beat runs worker_heartbeat (instance/settings.py, CELERY_BEAT_SCHEDULE).
"""

import os

from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True)
def worker_heartbeat() -> None:
    # Its time on disk is what `serve` watches: proof the pool runs what it receives. The pool
    # process's id, for whoever needs to know which one runs the tasks: written aside and renamed
    # into place, so that a reader never finds the file truncated and not yet written (seen
    # once: an empty file read between write_text's truncation and its write).
    path = settings.WORKER_HEARTBEAT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}")
    fresh.write_text(f"{os.getpid()}\n")
    os.replace(fresh, path)
