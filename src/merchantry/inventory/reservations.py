"""
Stock held for checkouts: reservations, and their conversion into allocations.

The life of a unit: a checkout **reserves** it (``reserved`` +), for a while;
the reservation is **extended**, **released**, or it **expires** (a periodic
job gives it back; until then availability and other buyers already ignore
it). When the order is placed the reservation is **converted** into an
**allocation** (``reserved`` -, ``allocated`` +); the order then **ships** it
(``on_hand`` and ``allocated`` - together), or is cancelled and
**deallocates** it; a shipped unit may come back on **return**
(``on_hand`` +). Those last steps are in :mod:`merchantry.inventory.allocations`.

All of a reservation's lines are taken or none is: the levels are locked in
one ordered round, the plan is made on the locked rows, and each take is a
guarded UPDATE; one shortage rolls everything back with
:class:`~merchantry.inventory.errors.InsufficientStock`. Lines of one variant
are summed before they are checked.

Reserving, extending, releasing and converting are done on a shopper's
behalf by checkout code, which authorises the shopper; they take the
``actor`` for the ledger only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, NotFound
from merchantry.inventory.allocations import new_allocation
from merchantry.inventory.errors import InsufficientStock, Shortage
from merchantry.inventory.levels import StockBatch
from merchantry.inventory.models import (
    Allocation,
    AllocationLine,
    ChannelInventory,
    LineStatus,
    MovementReason,
    Reservation,
    ReservationLine,
    ReservationStatus,
)
from merchantry.inventory.planning import (
    channel_setup,
    hold_minutes,
    line_keys,
    lock_for_channel,
    parse_lines,
    plan,
    required_text,
    shop_variants,
)
from merchantry.inventory.services import busy_guard
from merchantry.tenancy.models import Channel, Shop

__all__ = [
    "active_reservation",
    "reservation_convert",
    "reservation_extend",
    "reservation_release",
    "reservations_expire",
    "reserve",
]


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
    owner = required_text(owner, "owner")
    totals, first_line = parse_lines(lines)
    infos = shop_variants(shop, totals)
    settings, locations = channel_setup(shop, channel)
    ttl = timedelta(minutes=hold_minutes(minutes, settings))
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
        lock_for_channel(batch, totals, locations, line_keys(old_lines))
        if previous is not None:
            _release_lines(batch, previous, note="replaced")
        takes = plan(batch, totals, first_line, locations, settings.allocation_strategy)
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
        expires_at = now + timedelta(minutes=hold_minutes(minutes, settings))
        lines = reservation.lines.filter(status=LineStatus.ACTIVE)
        # Lines are only touched with their levels locked (the lazy release
        # reads them under those locks), so extending takes them too.
        StockBatch(shop=shop, actor=actor, now=now).lock(line_keys(lines.select_related("level")))
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
        batch.lock(line_keys(lines))
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
            batch.lock(line_keys(lines))
            _release_lines(batch, reservation, note="expired")
            reservation.status = ReservationStatus.EXPIRED
            reservation.save(update_fields=["status", "updated_at"])
            batch.finish()
            done += 1
    return done


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
    reference = required_text(reference, "reference")
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
        batch.lock(line_keys(lines))
        batch.release_expired()
        held = set(reservation.lines.filter(status=LineStatus.ACTIVE).values_list("pk", flat=True))
        allocation = new_allocation(shop, reference, reservation)
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
