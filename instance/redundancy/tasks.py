"""Celery tasks of the redundancy program: thin wrappers that take ids and call the domain code.

Beat runs check_redundancy (re-verification of the published copies, then the strategies) every
PEERVEIL_REDUNDANCY_CHECK_INTERVAL seconds and announce_copies every 15 s (instance/settings.py,
CELERY_BEAT_SCHEDULE). instance/celery.py finds this module (autodiscover_tasks: `tasks` of each
installed app).

The tasks keep the names they had in instance/tasks.py (`name=`): the beat schedule names them,
and messages queued by an older release, still in the broker after an upgrade, carry them.

Messages are acknowledged after the task ran (CELERY_TASK_ACKS_LATE): a task cut off by a killed
worker runs again, whole. Each is safe to run twice: a re-verification hashes the next window of
pieces and a check computes the difference to the desired set; a download holds a claim that the
same message, redelivered, takes up again, and resumes from the part file's verified pieces; an
announce is due or not by the copy's row.
"""

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval

from . import check, download, lifecycle, seeding, verify

# Network errors are retried with exponential backoff (5 s, 10 s, 20 s... at most 5 min, with
# jitter), then the copy fails with the last error as its reason. The backoff stays below
# STALLED_COPY_AFTER, so a check never mistakes a copy waiting for its retry for a lost one.
DOWNLOAD_RETRIES = 6
RETRY_BACKOFF_SECONDS = 5
RETRY_BACKOFF_MAX_SECONDS = 300


@shared_task(name="instance.tasks.check_redundancy", ignore_result=True)
def check_redundancy() -> None:
    # Published copies are verified first: one found corrupt is failed, and the check that
    # follows may give its room to another file, as after a failed download.
    verify.reverify_published()
    result = check.run_check()
    for copy_id in result.queued + result.unclaimed:
        download_copy.delay(copy_id)


class DownloadTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Called once the retries are spent (a retry itself is not a failure).
        copy_id, claim = (list(args) + [""])[:2]
        lifecycle.copy_failed(copy_id, getattr(exc, "claim", "") or claim, f"Gave up: {exc}")


@shared_task(
    name="instance.tasks.download_copy",
    bind=True,
    base=DownloadTask,
    max_retries=DOWNLOAD_RETRIES,
    ignore_result=True,
)
def download_copy(self, copy_id: int, claim: str = "") -> None:
    # Not autoretry_for: a retry must carry the claim the failed run took (Task.retry(args=)).
    try:
        next_claim = download.download_slice(copy_id, claim, self.request.id)
    except download.TransientDownloadError as error:
        countdown = get_exponential_backoff_interval(
            RETRY_BACKOFF_SECONDS, self.request.retries, RETRY_BACKOFF_MAX_SECONDS, full_jitter=True
        )
        raise self.retry(exc=error, args=(copy_id, error.claim), countdown=countdown) from error
    if next_claim:
        download_copy.delay(copy_id, next_claim)


@shared_task(name="instance.tasks.announce_copies", ignore_result=True)
def announce_copies() -> None:
    seeding.announce_due()
