"""Background jobs of the plugin platform: processing the webhook inbox."""

from __future__ import annotations

from datetime import timedelta

# inbox and services import this module to enqueue these jobs; importing the
# module (not names from it) keeps the cycle harmless, as attributes are read
# at call time.
from merchantry.core.jobs import job, periodic
from merchantry.plugins import inbox

__all__ = ["process_webhook_event", "retry_webhook_events"]


@job()
def process_webhook_event(event_id: int) -> str:
    """Process one stored webhook event if it is due (idempotent)."""
    return inbox.process_event(event_id)


@periodic(every=timedelta(minutes=1))
@job()
def retry_webhook_events() -> int:
    """Enqueue due retries the queue does not hold, and take back abandoned events."""
    return inbox.requeue_due()
