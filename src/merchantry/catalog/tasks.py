"""Catalog jobs: product CSV imports and exports, and a sweep for lost ones."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from merchantry.catalog import transfers
from merchantry.catalog.models_io import CatalogTransfer, TransferKind, TransferStatus
from merchantry.core.jobs import job, periodic

# A queued transfer still waiting after this lost its job (a crash between
# the commit and the enqueue); a running one not updated for this long lost
# its worker (it records progress every batch, within seconds).
QUEUED_GRACE = timedelta(minutes=10)
RUNNING_TIMEOUT = timedelta(hours=1)


@job()
def import_products(transfer_id: int) -> None:
    """Run the queued product import ``transfer_id``."""
    transfers.run_import(transfer_id)


@job()
def export_products(transfer_id: int) -> None:
    """Run the queued product export ``transfer_id``."""
    transfers.run_export(transfer_id)


@periodic(every=timedelta(minutes=5))
@job()
def sweep_transfers() -> int:
    """Re-enqueue lost transfers and fail stalled ones; return how many were touched."""
    now = timezone.now()
    lost = CatalogTransfer.objects.filter(
        status=TransferStatus.QUEUED, created_at__lt=now - QUEUED_GRACE
    ).values_list("pk", "kind")
    for pk, kind in lost:
        task = import_products if kind == TransferKind.IMPORT else export_products
        task.enqueue(transfer_id=pk)
    stalled = CatalogTransfer.objects.filter(
        status=TransferStatus.RUNNING, updated_at__lt=now - RUNNING_TIMEOUT
    ).update(
        status=TransferStatus.FAILED,
        failure="The job running this stopped (the worker was restarted); start it again.",
        finished_at=now,
        updated_at=now,
    )
    return len(lost) + stalled
