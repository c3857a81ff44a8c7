"""
What reservations and allocations share: reading the lines of a cart, the
channel's locations and settings, and planning where each unit comes from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from merchantry.core.errors import NotFound, invalid_field
from merchantry.inventory.availability import LevelState, evaluate
from merchantry.inventory.errors import InsufficientStock, Shortage
from merchantry.inventory.levels import StockBatch, VariantInfo, variant_infos
from merchantry.inventory.models import (
    AllocationLine,
    AllocationStrategy,
    ChannelInventory,
    ChannelLocation,
    ReservationLine,
    StockLevel,
)
from merchantry.inventory.services import check_quantity
from merchantry.tenancy.models import Channel, Shop

__all__ = [
    "MAX_LINES",
    "channel_setup",
    "hold_minutes",
    "line_keys",
    "lock_for_channel",
    "parse_lines",
    "plan",
    "required_text",
    "shop_variants",
]

MAX_LINES = 250


# -- input ---------------------------------------------------------------------------


def parse_lines(lines: Sequence[Any]) -> tuple[dict[int, int], dict[int, int]]:
    """Return quantities summed per variant, and each variant's first line index."""
    if not lines:
        raise invalid_field("lines", "Give at least one line.", "empty")
    if len(lines) > MAX_LINES:
        raise invalid_field("lines", f"At most {MAX_LINES} lines.", "too_many")
    totals: dict[int, int] = defaultdict(int)
    first: dict[int, int] = {}
    for index, line in enumerate(lines):
        if isinstance(line, Mapping):
            variant_id, quantity = line.get("variant_id"), line.get("quantity")
        else:
            variant_id, quantity = line
        if isinstance(variant_id, bool) or not isinstance(variant_id, int) or variant_id <= 0:
            raise invalid_field(("lines", index, "variant_id"), "No such variant.", "not_found")
        totals[variant_id] += check_quantity(quantity, ("lines", index, "quantity"))
        first.setdefault(variant_id, index)
        check_quantity(totals[variant_id], ("lines", index, "quantity"))
    return dict(totals), first


def required_text(value: str, field: str, *, required: bool = True) -> str:
    """Return ``value`` stripped (an owner, a reference), or raise a field error."""
    text = (value or "").replace("\x00", "").strip()
    if required and not text:
        raise invalid_field(field, "This field is required.", "required")
    if len(text) > 255:
        raise invalid_field(field, "At most 255 characters.", "too_long")
    return text


def shop_variants(shop: Shop, variant_ids: Iterable[int]) -> dict[int, VariantInfo]:
    """Return the variants of ``shop``; any other id is :class:`NotFound`."""
    wanted = set(variant_ids)
    infos = variant_infos(wanted, shop=shop)
    if set(infos) != wanted:
        raise NotFound("No such variant.")
    return infos


def channel_setup(shop: Shop, channel: Channel) -> tuple[ChannelInventory, list[int]]:
    """Return the channel's settings and its active locations' ids, in priority order."""
    if channel.shop_id != shop.pk:
        raise NotFound("No such channel.")
    settings = ChannelInventory.objects.filter(channel=channel).first() or ChannelInventory(
        shop=shop, channel=channel
    )
    locations = list(
        ChannelLocation.objects.filter(channel=channel, location__is_active=True)
        .order_by("position", "pk")
        .values_list("location_id", flat=True)
    )
    return settings, locations


def hold_minutes(value: int | None, settings: ChannelInventory | None) -> int:
    """Return how long to hold: ``value``, checked, or the channel's setting."""
    if value is None:
        return settings.reservation_minutes if settings is not None else 15
    minutes = check_quantity(value, "minutes")
    if minutes > 1440:
        raise invalid_field("minutes", "At most 1440 (a day).", "out_of_range")
    return minutes


# -- planning ------------------------------------------------------------------------


def _state(level: StockLevel | None) -> LevelState | None:
    if level is None:
        return None
    return LevelState(
        level.location_id, level.available, level.backorder_limit, level.low_stock_threshold
    )


def plan(
    batch: StockBatch,
    totals: Mapping[int, int],
    first_line: Mapping[int, int],
    locations: Sequence[int],
    strategy: str,
) -> list[tuple[StockLevel, int]]:
    """
    Decide where each variant's quantity comes from, on the locked levels:
    in strategy order, what each location has; then any backorder at the
    channel's first location. Raise for every variant that cannot be had.
    """
    takes: list[tuple[StockLevel, int]] = []
    shortages: list[Shortage] = []
    for variant_id in sorted(totals):
        info = batch.variants[variant_id]
        if not info.track_inventory:
            continue
        wanted = totals[variant_id]
        levels = [batch.level(variant_id, location) for location in locations]
        states = [_state(level) for level in levels]
        availability = evaluate(states, tracked=True, allow_backorder=info.allow_backorder)
        if availability.orderable is not None and wanted > availability.orderable:
            shortages.append(
                Shortage(
                    variant_id,
                    info.sku,
                    wanted,
                    availability.orderable,
                    ("lines", first_line[variant_id], "quantity"),
                )
            )
            continue
        order = list(range(len(levels)))
        if strategy == AllocationStrategy.MOST_STOCK:
            order.sort(key=lambda i: (-(levels[i].available if levels[i] else 0), i))
        split: dict[int, int] = defaultdict(int)
        remaining = wanted
        for i in order:
            level = levels[i]
            take = min(max(level.available, 0), remaining) if level is not None else 0
            if take:
                split[i] += take
                remaining -= take
            if not remaining:
                break
        if remaining:
            split[0] += remaining  # backorder, at the first location (checked above)
        takes.extend((levels[i], quantity) for i, quantity in sorted(split.items()))
    if shortages:
        raise InsufficientStock(shortages)
    return takes


def lock_for_channel(
    batch: StockBatch,
    totals: Mapping[int, int],
    locations: Sequence[int],
    extra: Iterable[tuple[int, int]] = (),
) -> None:
    """Lock the levels of the tracked variants at the channel's locations (and ``extra``)."""
    tracked = [v for v in totals if batch.variants[v].track_inventory]
    keys = {(v, location) for v in tracked for location in locations} | set(extra)
    # A backorder lands on the first location: its level must exist to be locked.
    create = (
        {(v, locations[0]) for v in tracked if batch.variants[v].allow_backorder}
        if locations
        else set()
    )
    batch.lock(keys, create=create)
    batch.release_expired()


def line_keys(lines: Iterable[ReservationLine | AllocationLine]) -> set[tuple[int, int]]:
    """The (variant, location) keys of the levels that lines hold stock at."""
    return {(line.level.variant_id, line.level.location_id) for line in lines}
