"""Inventory jobs: expired checkout holds, deferred in_stock refreshes, old idempotency keys."""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from merchantry.core.jobs import job, periodic
from merchantry.core.logging import get_logger
from merchantry.inventory.availability import refresh_in_stock
from merchantry.inventory.models import IdempotencyRecord
from merchantry.inventory.reservations import reservations_expire

logger = get_logger(__name__)

IDEMPOTENCY_RETENTION = timedelta(hours=24)
RELEASE_TIME_BUDGET = 40.0  # seconds: done well before the next run is due


@periodic(every=timedelta(minutes=1))
@job()
def release_expired_reservations() -> int:
    """Release every reservation past its expiry (ledger rows included); return how many."""
    started = time.monotonic()
    released = 0
    while time.monotonic() - started < RELEASE_TIME_BUDGET:
        done = reservations_expire()
        released += done
        if done == 0:
            break
    if released:
        logger.info("reservations_expired", released=released)
    return released


@job()
def refresh_listings(product_ids: list[int]) -> int:
    """Recompute the products' ``in_stock`` flags; return how many changed."""
    with transaction.atomic():
        return refresh_in_stock(product_ids, now=timezone.now())


@periodic(every=timedelta(hours=1))
@job()
def prune_idempotency_records() -> int:
    """Forget Idempotency-Key responses older than a day; return how many."""
    cutoff = timezone.now() - IDEMPOTENCY_RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
