"""
What happens to a variant's stock when the variant is deleted.

Catalog deletes variants (``variant_delete``, ``variants_generate`` dropping
a combination, a bulk upsert, a product deleted with its variants) and may not
call inventory, which sits above it. So inventory listens: a ``pre_delete``
receiver for :class:`~merchantry.catalog.models.ProductVariant`, connected in
the app's ``ready``, runs inside the deletion's transaction, before any row
goes, whatever the path. It

- **refuses** the deletion while checkouts hold (``reserved``) or orders were
  promised (``allocated``) some of the variant's stock at any location:
  :class:`~merchantry.inventory.errors.VariantHasStockCommitments` (409) is
  raised and the transaction rolls back, so nothing is deleted;
- otherwise **writes off** what is on hand: one ledger row per level, reason
  ``delete``, bringing ``on_hand`` to zero, so the variant's ledger rows sum
  to zero. The levels (and their finished reservation and allocation lines)
  then cascade away with the variant, while its ledger rows stay, with their
  SKU, and lose only the link to the variant (``SET NULL``).

A shop deleted wholesale takes its ledger along; nothing is refused or
written then.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from merchantry.catalog.models import ProductVariant
from merchantry.core.context import current_actor_key
from merchantry.core.logging import get_logger
from merchantry.inventory.errors import Commitment, VariantHasStockCommitments
from merchantry.inventory.models import MovementReason, StockLevel, StockMovement
from merchantry.tenancy.models import Shop

__all__ = ["variant_pre_delete", "variant_stock_close"]

logger = get_logger(__name__)


def variant_stock_close(
    *, variant: ProductVariant, actor: str | None = None
) -> list[StockMovement]:
    """
    Write off ``variant``'s stock before it is deleted; return the ledger rows.

    Must run in the deleting transaction: the levels are locked (``FOR
    UPDATE``, key order) so no reservation can take stock between the check
    and the deletion. Raise :class:`VariantHasStockCommitments`, writing
    nothing, when any level has units reserved or allocated.
    """
    levels = list(
        StockLevel.objects.filter(variant_id=variant.pk)
        .select_related("location")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    commitments = [
        Commitment(level.location_id, level.location.name, level.reserved, level.allocated)
        for level in levels
        if level.reserved or level.allocated
    ]
    if commitments:
        raise VariantHasStockCommitments(
            variant_id=variant.pk, sku=variant.sku, commitments=commitments
        )
    actor_key = (actor or current_actor_key() or "system")[:255]
    rows = StockMovement.objects.bulk_create(
        StockMovement(
            shop_id=level.shop_id,
            variant_id=variant.pk,
            sku=variant.sku,
            location_id=level.location_id,
            on_hand_delta=-level.on_hand,
            reason=MovementReason.DELETE,
            actor=actor_key,
            reference=f"variant:{variant.pk}",
            note="variant deleted",
        )
        for level in levels
        if level.on_hand
    )
    if rows:
        logger.info(
            "variant_stock_written_off",
            variant=variant.pk,
            sku=variant.sku,
            units=sum(-row.on_hand_delta for row in rows),
        )
    return rows


def _shop_deletion(origin: Any) -> bool:
    """Whether the deletion started from a shop (one, or a queryset of them)."""
    if isinstance(origin, Shop):
        return True
    return isinstance(origin, QuerySet) and issubclass(origin.model, Shop)


def variant_pre_delete(sender: type, instance: ProductVariant, **kwargs: Any) -> None:
    """``pre_delete`` receiver of variants: refuse, or write their stock off."""
    if _shop_deletion(kwargs.get("origin")):
        return
    variant_stock_close(variant=instance)
