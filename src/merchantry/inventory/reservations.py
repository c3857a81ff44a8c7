"""
Stock held for checkouts (reservations) and promised to orders (allocations).

The life of a unit: a checkout **reserves** it (``reserved`` +), for a while;
the reservation is **extended**, **released**, or it **expires** (a periodic
job gives it back; until then availability and other buyers already ignore
it). When the order is placed the reservation is **converted** into an
**allocation** (``reserved`` -, ``allocated`` +); the order then **ships** it
(``on_hand`` and ``allocated`` - together), or is cancelled and
**deallocates** it; a shipped unit may come back on **return**
(``on_hand`` +).

All of a reservation's lines are taken or none is: the levels are locked in
one ordered round, the plan is made on the locked rows, and each take is a
guarded UPDATE; one shortage rolls everything back with
:class:`~merchantry.inventory.errors.InsufficientStock`. Lines of one variant
are summed before they are checked.

Reserving, extending, releasing, converting and allocating are done on a
shopper's behalf by checkout code, which authorises the shopper; they take
the ``actor`` for the ledger only. Shipping, cancelling and returns are staff
operations on orders and need ``orders.manage``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, NotFound, invalid_field
from merchantry.inventory.availability import LevelState, evaluate
from merchantry.inventory.errors import InsufficientStock, Shortage
from merchantry.inventory.levels import StockBatch, VariantInfo, variant_infos
from merchantry.inventory.models import (
    Allocation,
    AllocationLine,
    AllocationStrategy,
    ChannelInventory,
    ChannelLocation,
    LineStatus,
    MovementReason,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)
from merchantry.inventory.services import busy_guard, check_quantity, location_get
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "MAX_LINES",
    "active_reservation",
    "allocation_cancel",
    "allocation_return",
    "allocation_ship",
    "reservation_convert",
    "reservation_extend",
    "reservation_release",
    "reservations_expire",
    "reserve",
    "stock_allocate",
]

MAX_LINES = 250


# -- input ---------------------------------------------------------------------------


def _parse_lines(lines: Sequence[Any]) -> tuple[dict[int, int], dict[int, int]]:
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


def _text(value: str, field: str, *, required: bool = True) -> str:
    text = (value or "").replace("\x00", "").strip()
    if required and not text:
        raise invalid_field(field, "This field is required.", "required")
    if len(text) > 255:
        raise invalid_field(field, "At most 255 characters.", "too_long")
    return text


def _variants(shop: Shop, variant_ids: Iterable[int]) -> dict[int, VariantInfo]:
    wanted = set(variant_ids)
    infos = variant_infos(wanted, shop=shop)
    if set(infos) != wanted:
        raise NotFound("No such variant.")
    return infos


def _channel_setup(shop: Shop, channel: Channel) -> tuple[ChannelInventory, list[int]]:
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


def _minutes(value: int | None, settings: ChannelInventory | None) -> int:
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


def _plan(
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
        plan: dict[int, int] = defaultdict(int)
        remaining = wanted
        for i in order:
            level = levels[i]
            take = min(max(level.available, 0), remaining) if level is not None else 0
            if take:
                plan[i] += take
                remaining -= take
            if not remaining:
                break
        if remaining:
            plan[0] += remaining  # backorder, at the first location (checked above)
        takes.extend((levels[i], quantity) for i, quantity in sorted(plan.items()))
    if shortages:
        raise InsufficientStock(shortages)
    return takes


def _lock_for_channel(
    batch: StockBatch,
    totals: Mapping[int, int],
    locations: Sequence[int],
    extra: Iterable[tuple[int, int]] = (),
) -> None:
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


# -- reservations --------------------------------------------------------------------


def active_reservation(*, shop: Shop, owner: str) -> Reservation | None:
    """Return the owner's active reservation (possibly past its expiry), if any."""
    return (
        Reservation.objects.for_shop(shop)
        .filter(owner=owner, status=ReservationStatus.ACTIVE)
        .first()
    )


def _lock_reservation(shop: Shop, reservation_id: int) -> Reservation:
    reservation = (
        Reservation.objects.for_shop(shop).select_for_update().filter(pk=reservation_id).first()
    )
    if reservation is None:
        raise NotFound("No such reservation.")
    return reservation


def _line_keys(lines: Iterable[ReservationLine | AllocationLine]) -> set[tuple[int, int]]:
    return {(line.level.variant_id, line.level.location_id) for line in lines}


def _release_lines(batch: StockBatch, reservation: Reservation, *, note: str) -> None:
    """Give back the reservation's holding lines; the levels must be locked."""
    by_pk = {level.pk: level for level in batch.levels.values()}
    lines = list(reservation.lines.filter(status=LineStatus.ACTIVE).order_by("pk"))
    for line in lines:
        batch.move(
            by_pk[line.level_id],
            reserved=-line.quantity,
            reason=MovementReason.RELEASE,
            reference=f"reservation:{reservation.pk}",
            note=note,
        )
    ReservationLine.objects.filter(pk__in=[line.pk for line in lines]).update(
        status=LineStatus.RELEASED
    )


@busy_guard()
def reserve(
    *,
    actor: Actor | str,
    shop: Shop,
    channel: Channel,
    owner: str,
    lines: Sequence[Any],
    minutes: int | None = None,
    now: datetime | None = None,
) -> Reservation:
    """
    Hold the lines' quantities for ``owner`` (a checkout) on ``channel``, all
    or nothing, for ``minutes`` (default: the channel's setting). An active
    reservation of the same owner is replaced, in the same transaction.

    ``lines`` are ``(variant_id, quantity)`` pairs or ``{"variant_id",
    "quantity"}`` mappings. Raise :class:`InsufficientStock` when any variant
    cannot be had; nothing is then held (and a replaced reservation stays).
    """
    owner = _text(owner, "owner")
    totals, first_line = _parse_lines(lines)
    infos = _variants(shop, totals)
    settings, locations = _channel_setup(shop, channel)
    ttl = timedelta(minutes=_minutes(minutes, settings))
    with transaction.atomic():
        now = now or timezone.now()
        previous = (
            Reservation.objects.for_shop(shop)
            .select_for_update()
            .filter(owner=owner, status=ReservationStatus.ACTIVE)
            .first()
        )
        old_lines = []
        if previous is not None:
            holding = previous.lines.filter(status=LineStatus.ACTIVE)
            old_lines = list(holding.select_related("level"))
            previous.status = ReservationStatus.RELEASED
            previous.save(update_fields=["status", "updated_at"])
        # The new row is made before the levels are locked, to keep that
        # critical section short; a failure below rolls it back.
        try:
            reservation = Reservation.objects.create(
                shop=shop, channel=channel, owner=owner, expires_at=now + ttl
            )
        except IntegrityError:
            # Another request of the same checkout reserved at this moment
            # (the exception rolls this transaction back).
            raise Conflict(
                "This checkout is reserving already; try again.", code="reservation_busy"
            ) from None
        batch = StockBatch(shop=shop, actor=actor, now=now, variants=infos)
        _lock_for_channel(batch, totals, locations, _line_keys(old_lines))
        if previous is not None:
            _release_lines(batch, previous, note="replaced")
        takes = _plan(batch, totals, first_line, locations, settings.allocation_strategy)
        for level, quantity in takes:
            batch.move(
                level,
                reserved=quantity,
                reason=MovementReason.RESERVE,
                reference=f"reservation:{reservation.pk}",
            )
        ReservationLine.objects.bulk_create(
            ReservationLine(
                shop=shop,
                reservation=reservation,
                level=level,
                quantity=quantity,
                expires_at=reservation.expires_at,
            )
            for level, quantity in takes
        )
        batch.finish()
    return reservation


@busy_guard()
def reservation_extend(
    *,
    actor: Actor | str,
    shop: Shop,
    reservation_id: int,
    minutes: int | None = None,
    now: datetime | None = None,
) -> Reservation:
    """Hold the stock ``minutes`` more from now; an expired hold cannot be extended."""
    with transaction.atomic():
        now = now or timezone.now()
        reservation = _lock_reservation(shop, reservation_id)
        if reservation.status != ReservationStatus.ACTIVE or reservation.expires_at <= now:
            raise Conflict(
                "This reservation has expired or was released; reserve again.",
                code="reservation_expired",
            )
        settings = (
            ChannelInventory.objects.filter(channel_id=reservation.channel_id).first()
            if reservation.channel_id
            else None
        )
        expires_at = now + timedelta(minutes=_minutes(minutes, settings))
        lines = reservation.lines.filter(status=LineStatus.ACTIVE)
        # Lines are only touched with their levels locked (the lazy release
        # reads them under those locks), so extending takes them too.
        StockBatch(shop=shop, actor=actor, now=now).lock(_line_keys(lines.select_related("level")))
        lines.update(expires_at=expires_at)
        reservation.expires_at = expires_at
        reservation.save(update_fields=["expires_at", "updated_at"])
    return reservation


@busy_guard()
def reservation_release(
    *, actor: Actor | str, shop: Shop, reservation_id: int, now: datetime | None = None
) -> Reservation:
    """Give the reservation's stock back (the checkout was abandoned); idempotent."""
    with transaction.atomic():
        reservation = _lock_reservation(shop, reservation_id)
        if reservation.status != ReservationStatus.ACTIVE:
            return reservation
        batch = StockBatch(shop=shop, actor=actor, now=now)
        lines = reservation.lines.filter(status=LineStatus.ACTIVE).select_related("level")
        batch.lock(_line_keys(lines))
        _release_lines(batch, reservation, note="released")
        reservation.status = ReservationStatus.RELEASED
        reservation.save(update_fields=["status", "updated_at"])
        batch.finish()
    return reservation


def reservations_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """
    Release reservations past their expiry, each in its own short
    transaction (a busy one is skipped, for the next run); return how many.
    """
    now = now or timezone.now()
    due = list(
        Reservation.objects.filter(status=ReservationStatus.ACTIVE, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in due:
        with busy_guard(), transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=ReservationStatus.ACTIVE, expires_at__lte=now)
                .select_related("shop")
                .first()
            )
            if reservation is None:
                continue
            batch = StockBatch(shop=reservation.shop, actor="system", now=now)
            lines = reservation.lines.filter(status=LineStatus.ACTIVE).select_related("level")
            batch.lock(_line_keys(lines))
            _release_lines(batch, reservation, note="expired")
            reservation.status = ReservationStatus.EXPIRED
            reservation.save(update_fields=["status", "updated_at"])
            batch.finish()
            done += 1
    return done


# -- allocations -----------------------------------------------------------------------


def _new_allocation(shop: Shop, reference: str, reservation: Reservation | None) -> Allocation:
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
def reservation_convert(
    *,
    actor: Actor | str,
    shop: Shop,
    reservation_id: int,
    reference: str,
    now: datetime | None = None,
) -> Allocation:
    """
    Turn a reservation into an allocation for the order ``reference``. Lines
    whose hold lapsed are taken again if the stock is still there (else
    :class:`InsufficientStock`, and nothing changes). Converting twice
    returns the same allocation.
    """
    reference = _text(reference, "reference")
    with transaction.atomic():
        reservation = _lock_reservation(shop, reservation_id)
        if reservation.status == ReservationStatus.CONVERTED:
            return Allocation.objects.get(reservation=reservation)
        if reservation.status != ReservationStatus.ACTIVE:
            raise Conflict(
                "This reservation was released; reserve again.", code="reservation_released"
            )
        lines = list(reservation.lines.select_related("level").order_by("pk"))
        batch = StockBatch(shop=shop, actor=actor, now=now)
        batch.lock(_line_keys(lines))
        batch.release_expired()
        held = set(reservation.lines.filter(status=LineStatus.ACTIVE).values_list("pk", flat=True))
        allocation = _new_allocation(shop, reference, reservation)
        by_pk = {level.pk: level for level in batch.levels.values()}
        shortages = []
        for line in lines:
            level = by_pk[line.level_id]
            if line.pk in held:
                batch.move(
                    level,
                    reserved=-line.quantity,
                    allocated=line.quantity,
                    reason=MovementReason.ALLOCATE,
                    reference=reference,
                )
                continue
            info = batch.variants[level.variant_id]
            limit = level.backorder_limit if info.allow_backorder else 0
            if limit is not None and level.available - line.quantity < -limit:
                shortages.append(
                    Shortage(info.pk, info.sku, line.quantity, max(level.available, 0))
                )
                continue
            batch.move(
                level,
                allocated=line.quantity,
                reason=MovementReason.ALLOCATE,
                reference=reference,
                note="the hold had expired",
            )
        if shortages:
            raise InsufficientStock(shortages)
        reservation.lines.update(status=LineStatus.CONVERTED)
        AllocationLine.objects.bulk_create(
            AllocationLine(
                shop=shop, allocation=allocation, level_id=line.level_id, quantity=line.quantity
            )
            for line in lines
        )
        reservation.status = ReservationStatus.CONVERTED
        reservation.save(update_fields=["status", "updated_at"])
        batch.finish()
    return allocation


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
    reference = _text(reference, "reference")
    totals, first_line = _parse_lines(lines)
    infos = _variants(shop, totals)
    settings, locations = _channel_setup(shop, channel)
    with transaction.atomic():
        batch = StockBatch(shop=shop, actor=actor, now=now, variants=infos)
        _lock_for_channel(batch, totals, locations)
        takes = _plan(batch, totals, first_line, locations, settings.allocation_strategy)
        allocation = _new_allocation(shop, reference, None)
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
    shop: Shop, allocation_id: int, batch: StockBatch, extra: Iterable[tuple[int, int]] = ()
) -> tuple[Allocation, list[AllocationLine], dict[int, StockLevel]]:
    allocation = (
        Allocation.objects.for_shop(shop).select_for_update().filter(pk=allocation_id).first()
    )
    if allocation is None:
        raise NotFound("No such allocation.")
    lines = list(allocation.lines.select_related("level").order_by("pk"))
    batch.lock(_line_keys(lines) | set(extra), create=extra)
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
        allocation, lines, levels = _locked_allocation(shop, allocation_id, batch, extra)
        plan = _apply_per_line(
            [line for line in lines if line.level.variant_id == variant_id],
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
