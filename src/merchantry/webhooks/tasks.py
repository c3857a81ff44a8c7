"""Jobs that deliver webhooks: one per attempt, and a sweep for retries and lost jobs."""

from __future__ import annotations

from datetime import timedelta

from merchantry.core.jobs import job, periodic
from merchantry.webhooks.delivery import deliver, enqueue_due


@job()
def deliver_webhook(delivery_id: int) -> str | None:
    """Make one delivery attempt, if it is still due; return its outcome."""
    delivery = deliver(delivery_id)
    return delivery.status if delivery is not None else None


@periodic(every=timedelta(seconds=30))
@job()
def enqueue_due_webhooks() -> int:
    """Enqueue the delivery attempts that are due (retries, lost jobs)."""
    return enqueue_due()
