"""
Inventory reads for the APIs and the admin, each with its joins spelled out.

Lists run one query for the page (the caller paginates) plus a fixed number
for what the items need; the Store availability of a page of products is
three queries whatever the page holds (see ``tests/inventory/test_store_api.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from merchantry.catalog.models import Product, ProductVariant
from merchantry.core.actors import Actor
from merchantry.core.errors import NotFound
from merchantry.inventory.availability import channel_stock, evaluate
from merchantry.inventory.models import (
    ChannelInventory,
    StockLevel,
    StockLocation,
    StockMovement,
)
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "VariantAvailability",
    "level_list",
    "location_detail",
    "location_list",
    "movement_list",
    "store_availability",
    "store_variants",
    "variant_levels",
]


def location_list(*, actor: Actor, shop: Shop) -> QuerySet[StockLocation]:
    actor.require(Perm.INVENTORY_VIEW)
    return StockLocation.objects.for_shop(shop)


def location_detail(*, actor: Actor, shop: Shop, location_id: int) -> StockLocation:
    actor.require(Perm.INVENTORY_VIEW)
    location = StockLocation.objects.for_shop(shop).filter(pk=location_id).first()
    if location is None:
        raise NotFound("No such location.")
    return location


def level_list(
    *,
    actor: Actor,
    shop: Shop,
    location_id: int | None = None,
    variant_id: int | None = None,
    low_stock: bool = False,
    sku: str | None = None,
) -> QuerySet[StockLevel]:
    """The shop's stock levels, filtered; each with its variant (SKU) joined."""
    actor.require(Perm.INVENTORY_VIEW)
    levels = StockLevel.objects.for_shop(shop).select_related("variant")
    if location_id is not None:
        levels = levels.filter(location_id=location_id)
    if variant_id is not None:
        levels = levels.filter(variant_id=variant_id)
    if low_stock:
        levels = levels.low_stock()
    if sku:
        levels = levels.filter(variant__sku__icontains=sku)
    return levels


def variant_levels(*, actor: Actor, shop: Shop, variant_id: int) -> list[StockLevel]:
    """A variant's stock at each location that has a level for it."""
    actor.require(Perm.INVENTORY_VIEW)
    if not ProductVariant.objects.for_shop(shop).filter(pk=variant_id).exists():
        raise NotFound("No such variant.")
    return list(
        StockLevel.objects.for_shop(shop)
        .filter(variant_id=variant_id)
        .select_related("variant", "location")
        .order_by("location__name", "pk")
    )


def movement_list(
    *,
    actor: Actor,
    shop: Shop,
    variant_id: int | None = None,
    location_id: int | None = None,
    reason: str | None = None,
    reference: str | None = None,
    sku: str | None = None,
    since: datetime | None = None,
) -> QuerySet[StockMovement]:
    """The ledger, filtered; the caller paginates (newest first)."""
    actor.require(Perm.INVENTORY_VIEW)
    movements = StockMovement.objects.for_shop(shop)
    if variant_id is not None:
        movements = movements.filter(variant_id=variant_id)
    if location_id is not None:
        movements = movements.filter(location_id=location_id)
    if reason:
        movements = movements.filter(reason=reason)
    if reference:
        movements = movements.filter(reference=reference)
    if sku:
        movements = movements.filter(sku=sku)
    if since is not None:
        movements = movements.filter(created_at__gte=since)
    return movements


# -- Store API ---------------------------------------------------------------------


def store_variants(
    *,
    channel: Channel,
    product_ids: Sequence[int] | None = None,
    variant_ids: Sequence[int] | None = None,
) -> QuerySet[ProductVariant]:
    """Variants of the products ``channel`` sells (optionally only some); the caller paginates."""
    products = Product.objects.visible_in(channel)
    if product_ids is not None:
        products = products.filter(pk__in=list(product_ids))
    variants = ProductVariant.objects.filter(
        shop_id=channel.shop_id, product_id__in=products.values("pk")
    )
    if variant_ids is not None:
        variants = variants.filter(Q(pk__in=list(variant_ids)))
    return variants


@dataclass(frozen=True, slots=True)
class VariantAvailability:
    """A variant's availability on a channel, as the Store API shows it."""

    pk: int
    product_id: int
    sku: str | None
    status: str
    quantity: int | None
    """Shown only when the channel shows quantities and the variant is tracked."""


def store_availability(
    *, channel: Channel, variants: Iterable[ProductVariant], now: datetime | None = None
) -> list[VariantAvailability]:
    """
    Evaluate the variants' availability on ``channel`` (three queries: the
    channel's settings, its locations, the levels), by the rules a
    reservation follows, so what is shown can be bought.
    """
    items = list(variants)
    if not items:
        return []
    now = now or timezone.now()
    settings = ChannelInventory.objects.filter(channel=channel).first()
    show = settings is not None and settings.show_quantity
    stock = channel_stock([channel.pk], [v.pk for v in items], now=now)
    result = []
    for variant in items:
        availability = evaluate(
            stock.states(channel.pk, variant.pk),
            tracked=variant.track_inventory,
            allow_backorder=variant.allow_backorder,
        )
        result.append(
            VariantAvailability(
                pk=variant.pk,
                product_id=variant.product_id,
                sku=variant.sku,
                status=availability.status,
                quantity=availability.quantity if show else None,
            )
        )
    return result
