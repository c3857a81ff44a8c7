"""Platform housekeeping jobs."""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from merchantry.core.events import dispatch_outbox
from merchantry.core.jobs import job, periodic
from merchantry.core.logging import get_logger
from merchantry.core.models import OutboxEvent, OutboxStatus

logger = get_logger(__name__)

JOB_RESULT_RETENTION = timedelta(days=7)


@periodic(every=timedelta(hours=1))
@job()
def prune_job_results() -> int:
    """Delete finished job results older than a week from the database queue."""
    if not settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db."):
        return 0  # RQ expires its own results.
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - JOB_RESULT_RETENTION
    deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    logger.info("job_results_pruned", deleted=deleted)
    return deleted


# -- the outbox ---------------------------------------------------------------------

OUTBOX_RETENTION = timedelta(days=30)
SWEEP_TIME_BUDGET = 20.0  # seconds: finish well before the next sweep is due
PRUNE_BATCH = 1000


@job()
def dispatch_events(event_ids: list[int]) -> int:
    """Deliver just-committed outbox events to the sinks; return how many are done."""
    return dispatch_outbox(event_ids=event_ids).done


@periodic(every=timedelta(seconds=30))
@job()
def sweep_outbox() -> int:
    """
    Deliver every due outbox event: retries, and events whose dispatch job was
    lost (a crash between the commit and the enqueue). Return how many were claimed.
    """
    started = time.monotonic()
    claimed = 0
    while time.monotonic() - started < SWEEP_TIME_BUDGET:
        report = dispatch_outbox()
        claimed += report.claimed
        if report.claimed == 0:
            break
    return claimed


@periodic(every=timedelta(hours=1))
@job()
def prune_outbox() -> int:
    """Delete outbox events delivered more than 30 days ago (and what hangs off them)."""
    cutoff = timezone.now() - OUTBOX_RETENTION
    deleted = 0
    while True:
        # In batches: one huge DELETE would hold its locks for minutes.
        ids = list(
            OutboxEvent.objects.filter(status=OutboxStatus.DONE, dispatched_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            break
        OutboxEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    logger.info("outbox_pruned", deleted=deleted)
    return deleted
