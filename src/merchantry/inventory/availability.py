"""
What a variant can be sold as on a channel, by one set of rules.

The Store API's availability, the listings' ``in_stock`` flag and the
reservation planner all evaluate :func:`evaluate` over the same numbers (a
level's ``on_hand - reserved - allocated`` with expired holds given back), so
what a storefront shows is exactly what a reservation will accept.

The rules:

- a variant that does not track inventory is always in stock, without a quantity;
- the channel's quantity is the sum of the positive available quantities at
  its active locations;
- past that, a variant that allows backorder can be promised at the
  channel's first location, up to that level's ``backorder_limit`` beyond
  zero (no limit when it is empty);
- low stock: the quantity is at or below the sum of the channel levels'
  low-stock thresholds (when any is set).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from merchantry.catalog.models import ProductChannelListing, ProductVariant
from merchantry.inventory.models import ChannelLocation, LineStatus, ReservationLine, StockLevel

__all__ = [
    "Availability",
    "ChannelStock",
    "LevelState",
    "StockStatus",
    "channel_stock",
    "evaluate",
    "refresh_in_stock",
]


class StockStatus:
    IN_STOCK = "in_stock"
    LOW_STOCK = "low_stock"
    OUT_OF_STOCK = "out_of_stock"
    BACKORDER = "backorder"


@dataclass(frozen=True, slots=True)
class LevelState:
    """One level as availability sees it: expired holds already given back."""

    location_id: int
    available: int
    backorder_limit: int | None = None
    low_stock_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class Availability:
    status: str
    quantity: int | None
    """Units in stock for the channel; None when the variant is not tracked."""
    orderable: int | None
    """The most one reservation can take now; None without limit."""

    @property
    def purchasable(self) -> bool:
        return self.status != StockStatus.OUT_OF_STOCK


def evaluate(
    levels: Sequence[LevelState | None],
    *,
    tracked: bool,
    allow_backorder: bool,
) -> Availability:
    """
    Return the availability of a variant from its levels at a channel's
    locations, in the channel's order (None where the variant has no level).
    """
    if not tracked:
        return Availability(StockStatus.IN_STOCK, None, None)
    quantity = sum(max(level.available, 0) for level in levels if level is not None)
    backorder = backorder_capacity(levels, allow_backorder=allow_backorder)
    orderable = None if backorder is None else quantity + backorder
    if quantity > 0:
        thresholds = [
            level.low_stock_threshold
            for level in levels
            if level is not None and level.low_stock_threshold is not None
        ]
        low = bool(thresholds) and quantity <= sum(thresholds)
        return Availability(
            StockStatus.LOW_STOCK if low else StockStatus.IN_STOCK, quantity, orderable
        )
    if backorder is None or backorder > 0:
        return Availability(StockStatus.BACKORDER, 0, orderable)
    return Availability(StockStatus.OUT_OF_STOCK, 0, 0)


def backorder_capacity(levels: Sequence[LevelState | None], *, allow_backorder: bool) -> int | None:
    """Return how many units may be promised beyond stock (None: no limit)."""
    if not allow_backorder or not levels:
        return 0
    first = levels[0]
    if first is None or first.backorder_limit is None:
        return None
    return max(0, first.backorder_limit + min(first.available, 0))


# -- reading the numbers -------------------------------------------------------------


def expired_holds(now: datetime) -> Coalesce:
    """Annotation: the units a level's expired, unreleased holds still count."""
    held = (
        ReservationLine.objects.filter(
            level=OuterRef("pk"), status=LineStatus.ACTIVE, expires_at__lte=now
        )
        .values("level")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    return Coalesce(Subquery(held, output_field=IntegerField()), Value(0))


@dataclass(slots=True)
class ChannelStock:
    """The channels' ordered locations and the levels of some variants there."""

    locations: dict[int, list[int]]
    """Channel id -> its active locations' ids, in priority order."""
    levels: dict[tuple[int, int], LevelState]
    """(variant id, location id) -> the level's state."""

    def states(self, channel_id: int, variant_id: int) -> list[LevelState | None]:
        return [
            self.levels.get((variant_id, location_id))
            for location_id in self.locations.get(channel_id, [])
        ]


def channel_stock(
    channel_ids: Iterable[int], variant_ids: Iterable[int], *, now: datetime
) -> ChannelStock:
    """Read the levels of ``variant_ids`` at the channels' locations (two queries)."""
    locations: dict[int, list[int]] = defaultdict(list)
    rows = (
        ChannelLocation.objects.filter(channel_id__in=list(channel_ids), location__is_active=True)
        .order_by("channel_id", "position", "id")
        .values_list("channel_id", "location_id")
    )
    for channel_id, location_id in rows:
        locations[channel_id].append(location_id)
    location_ids = {pk for ids in locations.values() for pk in ids}
    levels: dict[tuple[int, int], LevelState] = {}
    if location_ids:
        found = (
            StockLevel.objects.filter(
                variant_id__in=list(variant_ids), location_id__in=sorted(location_ids)
            )
            .annotate(expired=expired_holds(now))
            .values_list(
                "variant_id",
                "location_id",
                "on_hand",
                "reserved",
                "allocated",
                "expired",
                "backorder_limit",
                "low_stock_threshold",
            )
        )
        for variant_id, location_id, on_hand, reserved, allocated, expired, limit, low in found:
            levels[(variant_id, location_id)] = LevelState(
                location_id=location_id,
                available=on_hand - reserved - allocated + expired,
                backorder_limit=limit,
                low_stock_threshold=low,
            )
    return ChannelStock(locations=dict(locations), levels=levels)


def refresh_in_stock(
    product_ids: Iterable[int], *, now: datetime, location_ids: Iterable[int] | None = None
) -> int:
    """
    Recompute ``ProductChannelListing.in_stock`` of the products' listings
    (only on channels selling from ``location_ids``, when given); return how
    many flags changed.

    Call it inside the transaction of the change, after the stock levels are
    written. The listings are locked first (in primary-key order, after the
    levels, as every stock change does) so two changes to variants of one
    product cannot both decide from a view without the other. A fixed number
    of queries whatever the number of products.
    """
    products = sorted(set(product_ids))
    if not products:
        return 0
    listings = ProductChannelListing.objects.filter(product_id__in=products)
    if location_ids is not None:
        channels = ChannelLocation.objects.filter(location_id__in=list(location_ids)).values(
            "channel_id"
        )
        listings = listings.filter(channel_id__in=channels)
    rows = list(
        listings.select_for_update()
        .order_by("pk")
        .values_list("pk", "product_id", "channel_id", "in_stock")
    )
    if not rows:
        return 0
    variants: dict[int, list[tuple[int, bool, bool]]] = defaultdict(list)
    for pk, product_id, tracked, backorder in ProductVariant.objects.filter(
        product_id__in=products
    ).values_list("pk", "product_id", "track_inventory", "allow_backorder"):
        variants[product_id].append((pk, tracked, backorder))
    stock = channel_stock(
        {row[2] for row in rows},
        [pk for items in variants.values() for pk, _, _ in items],
        now=now,
    )
    turn_on, turn_off = [], []
    for pk, product_id, channel_id, current in rows:
        value = any(
            evaluate(
                stock.states(channel_id, variant_id), tracked=tracked, allow_backorder=backorder
            ).purchasable
            for variant_id, tracked, backorder in variants.get(product_id, [])
        )
        if value != current:
            (turn_on if value else turn_off).append(pk)
    if turn_on:
        ProductChannelListing.objects.filter(pk__in=turn_on).update(in_stock=True)
    if turn_off:
        ProductChannelListing.objects.filter(pk__in=turn_off).update(in_stock=False)
    return len(turn_on) + len(turn_off)
