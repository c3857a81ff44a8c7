"""Reservations and allocations: all or nothing, by the channel's strategy, through the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from merchantry.core.errors import Conflict, NotFound, ValidationFailed
from merchantry.inventory import allocations, reservations, services
from merchantry.inventory.errors import InsufficientStock
from merchantry.inventory.models import (
    AllocationLine,
    LineStatus,
    Reservation,
    ReservationLine,
    StockLevel,
    StockMovement,
)
from merchantry.inventory.verify import verify_ledger
from tests.factories import ChannelFactory
from tests.inventory.factories import level_of, make_variants, sell_from, stock

pytestmark = pytest.mark.django_db


def _reserve(shop, channel, owner, lines, **kwargs) -> Reservation:
    from merchantry.core.actors import SYSTEM_ACTOR

    return reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=channel, owner=owner, lines=lines, **kwargs
    )


def _buckets(variant, location) -> tuple[int, int, int]:
    level = level_of(variant, location)
    return level.on_hand, level.reserved, level.allocated


def _balanced() -> None:
    assert verify_ledger()[1] == []


# -- reserving ---------------------------------------------------------------------------


def test_lines_of_one_variant_are_summed_before_checking(shop, selling, east) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 3)

    with pytest.raises(InsufficientStock) as caught:
        _reserve(shop, selling, "c1", [(variant.pk, 2), (variant.pk, 2)])
    reservation = _reserve(shop, selling, "c1", [(variant.pk, 2), (variant.pk, 1)])

    [shortage] = caught.value.shortages
    assert (shortage.requested, shortage.available) == (4, 3)
    assert caught.value.errors[0].loc == ("lines", 0, "quantity")
    assert [line.quantity for line in reservation.lines.all()] == [3]
    assert _buckets(variant, east) == (3, 3, 0)
    _balanced()


def test_a_cart_is_reserved_all_or_nothing(shop, selling, east) -> None:
    a, b = make_variants(shop, 2, channel=selling)
    stock(a, east, 5)
    stock(b, east, 1)
    movements = StockMovement.objects.count()

    with pytest.raises(InsufficientStock) as caught:
        _reserve(shop, selling, "c1", [(a.pk, 2), (b.pk, 2)])

    assert [s.variant_id for s in caught.value.shortages] == [b.pk]
    assert caught.value.code == "insufficient_stock"
    assert _buckets(a, east) == (5, 0, 0)
    assert StockMovement.objects.count() == movements
    assert not Reservation.objects.exists()


def test_priority_takes_from_the_first_location_first(shop, selling, east, west) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 2)
    stock(variant, west, 10)

    reservation = _reserve(shop, selling, "c1", [(variant.pk, 5)])

    assert _buckets(variant, east) == (2, 2, 0)
    assert _buckets(variant, west) == (10, 3, 0)
    assert sorted(line.quantity for line in reservation.lines.all()) == [2, 3]
    _balanced()


def test_most_stock_takes_from_the_fullest_location(shop, channel, east, west) -> None:
    sell_from(channel, east, west, allocation_strategy="most_stock")
    [variant] = make_variants(shop, channel=channel)
    stock(variant, east, 2)
    stock(variant, west, 10)

    _reserve(shop, channel, "c1", [(variant.pk, 5)])

    assert _buckets(variant, east) == (2, 0, 0)
    assert _buckets(variant, west) == (10, 5, 0)


def test_only_the_channels_active_locations_count(shop, selling, east, west, actor) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, west, 5)
    services.location_update(
        actor=actor, shop=shop, location_id=west.pk, changes={"is_active": False}
    )
    other = ChannelFactory(shop=shop, slug="pos")
    sell_from(other, east)

    with pytest.raises(InsufficientStock):
        _reserve(shop, selling, "c1", [(variant.pk, 1)])
    with pytest.raises(InsufficientStock):
        _reserve(shop, other, "c2", [(variant.pk, 1)])


def test_untracked_variants_are_unlimited_and_hold_nothing(shop, selling) -> None:
    [variant] = make_variants(shop, channel=selling, track_inventory=False)

    reservation = _reserve(shop, selling, "c1", [(variant.pk, 500)])

    assert reservation.status == "active"
    assert not reservation.lines.exists()
    assert not StockMovement.objects.exists()


def test_backorder_without_limit_lands_on_the_first_location(shop, selling, east, west) -> None:
    [variant] = make_variants(shop, channel=selling, allow_backorder=True)
    stock(variant, west, 2)

    _reserve(shop, selling, "c1", [(variant.pk, 7)])

    assert _buckets(variant, west) == (2, 2, 0)
    assert _buckets(variant, east) == (0, 5, 0)
    assert level_of(variant, east).available == -5
    assert level_of(variant, east).available_floor is None
    _balanced()


def test_a_backorder_limit_is_respected(shop, selling, east, actor) -> None:
    [variant] = make_variants(shop, channel=selling, allow_backorder=True)
    stock(variant, east, 1)
    services.level_settings_update(
        actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, backorder_limit=3
    )

    with pytest.raises(InsufficientStock) as caught:
        _reserve(shop, selling, "c1", [(variant.pk, 5)])
    _reserve(shop, selling, "c1", [(variant.pk, 4)])

    assert caught.value.shortages[0].available == 4
    level = level_of(variant, east)
    assert (level.available, level.available_floor) == (-3, -3)


def test_the_database_refuses_overselling_past_the_floor(shop, selling, east) -> None:
    from django.db import IntegrityError, transaction

    [variant] = make_variants(shop, channel=selling)
    level = stock(variant, east, 2)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(reserved=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(on_hand=-1, reserved=0)

    assert _buckets(variant, east) == (2, 0, 0)


@pytest.mark.parametrize(
    ("_case", "lines", "loc"),
    [
        ("no lines", [], ("lines",)),
        ("a negative quantity", [("V", -1)], ("lines", 0, "quantity")),
        ("a zero quantity", [("V", 0)], ("lines", 0, "quantity")),
        ("a fractional quantity", [("V", 1.5)], ("lines", 0, "quantity")),
        ("a quantity as text", [("V", "2")], ("lines", 0, "quantity")),
        ("a bad variant id", [("x", 1)], ("lines", 0, "variant_id")),
    ],
)
def test_bad_lines_are_refused_and_hold_nothing(shop, selling, east, _case, lines, loc) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 5)
    lines = [(variant.pk if v == "V" else v, q) for v, q in lines]

    with pytest.raises(ValidationFailed) as caught:
        _reserve(shop, selling, "c1", lines)

    assert caught.value.errors[0].loc == loc
    assert not Reservation.objects.exists()
    assert _buckets(variant, east) == (5, 0, 0)


def test_another_shops_variant_or_channel_is_not_found(shop, other_shop, selling, east) -> None:
    [mine] = make_variants(shop, channel=selling)
    [theirs] = make_variants(other_shop)
    stock(mine, east, 5)
    their_channel = ChannelFactory(shop=other_shop, slug="theirs")

    with pytest.raises(NotFound):
        _reserve(shop, selling, "c1", [(mine.pk, 1), (theirs.pk, 1)])
    with pytest.raises(NotFound):
        _reserve(shop, their_channel, "c1", [(mine.pk, 1)])

    assert not Reservation.objects.exists()


def test_reserving_again_replaces_the_owners_reservation(shop, selling, east) -> None:
    a, b = make_variants(shop, 2, channel=selling)
    stock(a, east, 5)
    stock(b, east, 5)
    first = _reserve(shop, selling, "c1", [(a.pk, 2)])

    second = _reserve(shop, selling, "c1", [(b.pk, 1)])

    first.refresh_from_db()
    assert (first.status, second.status) == ("released", "active")
    assert _buckets(a, east) == (5, 0, 0)
    assert _buckets(b, east) == (5, 1, 0)
    _balanced()


def test_a_failed_replacement_keeps_the_previous_hold(shop, selling, east) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 3)
    first = _reserve(shop, selling, "c1", [(variant.pk, 2)])

    with pytest.raises(InsufficientStock):
        _reserve(shop, selling, "c1", [(variant.pk, 4)])

    first.refresh_from_db()
    assert first.status == "active"
    assert _buckets(variant, east) == (3, 2, 0)


# -- extend, release -------------------------------------------------------------------------


def test_extend_moves_the_expiry_and_release_gives_everything_back(shop, selling, east, actor):
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 3)
    reservation = _reserve(shop, selling, "c1", [(variant.pk, 2)], minutes=5)

    later = timezone.now() + timedelta(minutes=4)
    reservations.reservation_extend(
        actor=actor, shop=shop, reservation_id=reservation.pk, minutes=30, now=later
    )
    reservation.refresh_from_db()
    assert reservation.expires_at == later + timedelta(minutes=30)
    assert set(reservation.lines.values_list("expires_at", flat=True)) == {reservation.expires_at}

    reservations.reservation_release(actor=actor, shop=shop, reservation_id=reservation.pk)
    reservations.reservation_release(actor=actor, shop=shop, reservation_id=reservation.pk)

    reservation.refresh_from_db()
    assert reservation.status == "released"
    assert _buckets(variant, east) == (3, 0, 0)
    assert StockMovement.objects.filter(reason="release").count() == 1
    _balanced()


def test_an_expired_reservation_cannot_be_extended(shop, selling, east, actor) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 3)
    reservation = _reserve(shop, selling, "c1", [(variant.pk, 2)], minutes=5)

    with pytest.raises(Conflict) as caught:
        reservations.reservation_extend(
            actor=actor,
            shop=shop,
            reservation_id=reservation.pk,
            now=timezone.now() + timedelta(minutes=6),
        )

    assert caught.value.code == "reservation_expired"


# -- allocations: convert, ship, cancel, return ---------------------------------------------------


def test_an_order_converts_the_hold_ships_it_and_takes_a_return(
    shop, selling, east, west, actor
) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 2)
    stock(variant, west, 5)
    reservation = _reserve(shop, selling, "c1", [(variant.pk, 4)])

    allocation = reservations.reservation_convert(
        actor=actor, shop=shop, reservation_id=reservation.pk, reference="order:1001"
    )
    again = reservations.reservation_convert(
        actor=actor, shop=shop, reservation_id=reservation.pk, reference="order:1001"
    )
    assert again.pk == allocation.pk
    assert _buckets(variant, east) == (2, 0, 2)
    assert _buckets(variant, west) == (5, 0, 2)

    allocations.allocation_ship(
        actor=actor, shop=shop, allocation_id=allocation.pk, items={variant.pk: 3}
    )
    assert _buckets(variant, east) == (0, 0, 0)
    assert _buckets(variant, west) == (4, 0, 1)

    allocations.allocation_cancel(actor=actor, shop=shop, allocation_id=allocation.pk)
    assert _buckets(variant, west) == (4, 0, 0)

    allocations.allocation_return(
        actor=actor, shop=shop, allocation_id=allocation.pk, variant_id=variant.pk, quantity=2
    )
    assert _buckets(variant, east) == (2, 0, 0)
    with pytest.raises(Conflict):
        allocations.allocation_return(
            actor=actor, shop=shop, allocation_id=allocation.pk, variant_id=variant.pk, quantity=2
        )

    reasons = list(
        StockMovement.objects.filter(reference="order:1001")
        .order_by("pk")
        .values_list("reason", flat=True)
    )
    assert reasons == ["allocate", "allocate", "ship", "ship", "deallocate", "return"]
    line_totals = [
        (line.quantity, line.shipped, line.deallocated, line.returned)
        for line in AllocationLine.objects.order_by("pk")
    ]
    assert line_totals == [(2, 2, 0, 2), (2, 1, 1, 0)]
    _balanced()


def test_a_released_reservation_cannot_become_an_order(shop, selling, east, actor) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 2)
    reservation = _reserve(shop, selling, "c1", [(variant.pk, 1)])
    reservations.reservation_release(actor=actor, shop=shop, reservation_id=reservation.pk)

    with pytest.raises(Conflict) as caught:
        reservations.reservation_convert(
            actor=actor, shop=shop, reservation_id=reservation.pk, reference="order:1"
        )

    assert caught.value.code == "reservation_released"


def test_backordered_units_ship_only_once_received(shop, selling, east, actor) -> None:
    [variant] = make_variants(shop, channel=selling, allow_backorder=True)
    allocation = allocations.stock_allocate(
        actor=actor, shop=shop, channel=selling, reference="order:9", lines=[(variant.pk, 2)]
    )

    with pytest.raises(InsufficientStock):
        allocations.allocation_ship(actor=actor, shop=shop, allocation_id=allocation.pk)
    stock(variant, east, 2)
    allocations.allocation_ship(actor=actor, shop=shop, allocation_id=allocation.pk)

    assert _buckets(variant, east) == (0, 0, 0)
    _balanced()


def test_an_allocation_reference_is_used_once(shop, selling, east, actor) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 5)
    allocations.stock_allocate(
        actor=actor, shop=shop, channel=selling, reference="order:1", lines=[(variant.pk, 1)]
    )

    with pytest.raises(Conflict) as caught:
        allocations.stock_allocate(
            actor=actor, shop=shop, channel=selling, reference="order:1", lines=[(variant.pk, 1)]
        )

    assert caught.value.code == "reference_in_use"
    assert _buckets(variant, east) == (5, 0, 1)


def test_shipping_needs_orders_manage(shop, selling, east, actor) -> None:
    from merchantry.core.actors import Actor
    from merchantry.core.errors import PermissionDenied

    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 5)
    allocation = allocations.stock_allocate(
        actor=actor, shop=shop, channel=selling, reference="order:1", lines=[(variant.pk, 1)]
    )
    clerk = Actor(kind="user", key="user:9", shop_id=shop.pk, permissions={"inventory.manage"})

    with pytest.raises(PermissionDenied):
        allocations.allocation_ship(actor=clerk, shop=shop, allocation_id=allocation.pk)

    assert _buckets(variant, east) == (5, 0, 1)


def test_lines_record_what_they_hold(shop, selling, east) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 5)

    reservation = _reserve(shop, selling, "c1", [(variant.pk, 2)])

    [line] = ReservationLine.objects.all()
    assert (line.reservation_id, line.quantity, line.status) == (
        reservation.pk,
        2,
        LineStatus.ACTIVE,
    )
    assert line.expires_at == reservation.expires_at


def test_a_return_of_a_variant_the_order_did_not_hold_is_refused(
    shop, selling, east, west, actor
) -> None:
    shipped, other = make_variants(shop, 2, channel=selling)
    stock(shipped, east, 2)
    allocation = allocations.stock_allocate(
        actor=actor, shop=shop, channel=selling, reference="order:1", lines=[(shipped.pk, 1)]
    )
    allocations.allocation_ship(actor=actor, shop=shop, allocation_id=allocation.pk)
    levels = StockLevel.objects.count()

    with pytest.raises(Conflict) as caught:
        allocations.allocation_return(
            actor=actor,
            shop=shop,
            allocation_id=allocation.pk,
            variant_id=other.pk,
            quantity=1,
            location_id=west.pk,
        )

    assert caught.value.code == "allocation_exceeded"
    assert StockLevel.objects.count() == levels
    _balanced()
