"""Inventory's reaction to catalog events, delivered through the outbox."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from merchantry.core.events import DomainEvent
from merchantry.core.ids import pk_or_none
from merchantry.inventory.availability import refresh_in_stock

__all__ = ["catalog_changes"]


def catalog_changes(event: DomainEvent) -> None:
    """
    Recompute a changed product's ``in_stock`` flags: publishing it, adding a
    variant, or switching ``track_inventory`` or ``allow_backorder`` changes
    what can be bought, and catalog (below inventory) cannot say so itself.
    """
    if event.type != "product.changed":
        return
    product_id = pk_or_none(str(event.payload.get("product_id", "")))
    if product_id is None:
        return
    with transaction.atomic():
        refresh_in_stock([product_id], now=timezone.now())
