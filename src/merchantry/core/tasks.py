"""Platform housekeeping jobs."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from merchantry.core.jobs import job, periodic
from merchantry.core.logging import get_logger

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
