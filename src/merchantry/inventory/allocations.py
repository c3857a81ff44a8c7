"""
Stock promised to orders: allocated directly or from a reservation (see
:func:`merchantry.inventory.reservations.reservation_convert`), then shipped,
cancelled (deallocated) or returned, line by line. Shipping, cancelling and
returns are staff operations on orders and need ``orders.manage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, NotFound
from merchantry.inventory.errors import InsufficientStock, Shortage
from merchantry.inventory.levels import StockBatch
from merchantry.inventory.models import (
    Allocation,
    AllocationLine,
    MovementReason,
    Reservation,
    StockLevel,
)
from merchantry.inventory.planning import (
    channel_setup,
    line_keys,
    lock_for_channel,
    parse_lines,
    plan,
    required_text,
    shop_variants,
)
from merchantry.inventory.services import busy_guard, check_quantity, location_get
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "allocation_cancel",
    "allocation_return",
    "allocation_ship",
    "new_allocation",
    "stock_allocate",
]


def new_allocation(shop: Shop, reference: str, reservation: Reservation | None) -> Allocation:
    try:
        with transaction.atomic():
            return Allocation.objects.create(
                shop=shop, reference=reference, reservation=reservation
            )
    except IntegrityError:
        raise Conflict(
            "Stock is already allocated under this reference.", code="reference_in_use"
        ) from None


@busy_guard()
def stock_allocate(
    *,
    actor: Actor | str,
    shop: Shop,
    channel: Channel,
    reference: str,
    lines: Sequence[Any],
    now: datetime | None = None,
) -> Allocation:
    """Allocate the lines for order ``reference`` directly (no checkout hold), all or nothing."""
    reference = required_text(reference, "reference")
    totals, first_line = parse_lines(lines)
    infos = shop_variants(shop, totals)
    settings, locations = channel_setup(shop, channel)
    with transaction.atomic():
        batch = StockBatch(shop=shop, actor=actor, now=now, variants=infos)
        lock_for_channel(batch, totals, locations)
        takes = plan(batch, totals, first_line, locations, settings.allocation_strategy)
        allocation = new_allocation(shop, reference, None)
        for level, quantity in takes:
            batch.move(
                level, allocated=quantity, reason=MovementReason.ALLOCATE, reference=reference
            )
        AllocationLine.objects.bulk_create(
            AllocationLine(shop=shop, allocation=allocation, level=level, quantity=quantity)
            for level, quantity in takes
        )
        batch.finish()
    return allocation


def _locked_allocation(
    shop: Shop,
    allocation_id: int,
    batch: StockBatch,
    *,
    variant_id: int | None = None,
    extra: Iterable[tuple[int, int]] = (),
) -> tuple[Allocation, list[AllocationLine], dict[int, StockLevel]]:
    """
    Lock the allocation, then its lines' levels (and ``extra``, created if
    missing); with ``variant_id``, only its lines, and refuse when it has none.
    """
    allocation = (
        Allocation.objects.for_shop(shop).select_for_update().filter(pk=allocation_id).first()
    )
    if allocation is None:
        raise NotFound("No such allocation.")
    lines = list(allocation.lines.select_related("level").order_by("pk"))
    if variant_id is not None:
        lines = [line for line in lines if line.level.variant_id == variant_id]
        if not lines:
            raise Conflict(
                "The allocation holds no units of this variant.", code="allocation_exceeded"
            )
    batch.lock(line_keys(lines) | set(extra), create=extra)
    return allocation, lines, {level.pk: level for level in batch.levels.values()}


def _wanted(items: Mapping[int, Any] | None) -> dict[int, int] | None:
    if items is None:
        return None
    return {
        variant_id: check_quantity(quantity, ("items", str(variant_id)))
        for variant_id, quantity in items.items()
    }


def _apply_per_line(
    lines: Sequence[AllocationLine],
    wanted: dict[int, int] | None,
    capacity: Any,
) -> list[tuple[AllocationLine, int]]:
    """Spread the wanted quantities per variant over the lines, up to each line's capacity."""
    remaining = dict(wanted) if wanted is not None else None
    plan = []
    for line in lines:
        room = capacity(line)
        if remaining is not None:
            room = min(room, remaining.get(line.level.variant_id, 0))
            if room:
                remaining[line.level.variant_id] -= room
        if room > 0:
            plan.append((line, room))
    if remaining and any(remaining.values()):
        raise Conflict(
            "The allocation does not hold that many units of these variants.",
            code="allocation_exceeded",
        )
    return plan


@busy_guard()
def allocation_ship(
    *,
    actor: Actor,
    shop: Shop,
    allocation_id: int,
    items: Mapping[int, Any] | None = None,
    now: datetime | None = None,
) -> Allocation:
    """Ship allocated units (all open ones, or ``{variant_id: quantity}``)."""
    actor.require(Perm.ORDERS_MANAGE)
    wanted = _wanted(items)
    with transaction.atomic():
        batch = StockBatch(shop=shop, actor=actor, now=now)
        allocation, lines, levels = _locked_allocation(shop, allocation_id, batch)
        plan = _apply_per_line(lines, wanted, lambda line: line.open_quantity)
        short = []
        for line, quantity in plan:
            level = levels[line.level_id]
            if level.on_hand < quantity:
                info = batch.variants[level.variant_id]
                short.append(Shortage(info.pk, info.sku, quantity, level.on_hand))
        if short:
            raise InsufficientStock(
                short, detail="Backordered units cannot ship before they arrive."
            )
        for line, quantity in plan:
            batch.move(
                levels[line.level_id],
                on_hand=-quantity,
                allocated=-quantity,
                reason=MovementReason.SHIP,
                reference=allocation.reference,
            )
            AllocationLine.objects.filter(pk=line.pk).update(shipped=F("shipped") + quantity)
        batch.finish()
    return allocation


@busy_guard()
def allocation_cancel(
    *,
    actor: Actor,
    shop: Shop,
    allocation_id: int,
    items: Mapping[int, Any] | None = None,
    now: datetime | None = None,
) -> Allocation:
    """Give back allocated, unshipped units (the order or some lines were cancelled)."""
    actor.require(Perm.ORDERS_MANAGE)
    wanted = _wanted(items)
    with transaction.atomic():
        batch = StockBatch(shop=shop, actor=actor, now=now)
        allocation, lines, levels = _locked_allocation(shop, allocation_id, batch)
        for line, quantity in _apply_per_line(lines, wanted, lambda line: line.open_quantity):
            batch.move(
                levels[line.level_id],
                allocated=-quantity,
                reason=MovementReason.DEALLOCATE,
                reference=allocation.reference,
            )
            AllocationLine.objects.filter(pk=line.pk).update(
                deallocated=F("deallocated") + quantity
            )
        batch.finish()
    return allocation


@busy_guard()
def allocation_return(
    *,
    actor: Actor,
    shop: Shop,
    allocation_id: int,
    variant_id: int,
    quantity: Any,
    location_id: int | None = None,
    now: datetime | None = None,
) -> StockLevel:
    """
    Put ``quantity`` shipped units of a variant back on hand: at the location
    they shipped from, or at ``location_id``.
    """
    actor.require(Perm.ORDERS_MANAGE)
    quantity = check_quantity(quantity, "quantity")
    target = location_get(shop=shop, location_id=location_id) if location_id else None
    with transaction.atomic():
        batch = StockBatch(shop=shop, actor=actor, now=now)
        extra = [(variant_id, target.pk)] if target is not None else []
        allocation, lines, levels = _locked_allocation(
            shop, allocation_id, batch, variant_id=variant_id, extra=extra
        )
        plan = _apply_per_line(
            lines,
            {variant_id: quantity},
            lambda line: line.shipped - line.returned,
        )
        for line, count in plan:
            level = batch.level(variant_id, target.pk) if target else levels[line.level_id]
            batch.move(
                level, on_hand=count, reason=MovementReason.RETURN, reference=allocation.reference
            )
            AllocationLine.objects.filter(pk=line.pk).update(returned=F("returned") + count)
        batch.finish()
    return level
