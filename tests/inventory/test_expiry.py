"""
Expired reservations: ignored at once by availability and by other buyers,
released through the ledger by the first buyer who needs the stock or by the
periodic job. Time travel is done by moving ``expires_at`` into the past.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.jobs import periodic_jobs
from merchantry.inventory import reservations
from merchantry.inventory.errors import InsufficientStock
from merchantry.inventory.models import Reservation, ReservationLine, StockMovement
from merchantry.inventory.tasks import release_expired_reservations
from merchantry.inventory.verify import verify_ledger
from tests.inventory.factories import level_of, make_variants, stock

pytestmark = pytest.mark.django_db


def _reserve(shop, channel, owner, lines) -> Reservation:
    return reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=channel, owner=owner, lines=lines
    )


def _expire(reservation: Reservation) -> None:
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=past)
    ReservationLine.objects.filter(reservation=reservation).update(expires_at=past)


def test_an_expired_hold_does_not_block_the_next_buyer(shop, selling, east) -> None:
    # given the last 2 units held by a checkout whose hold has expired
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 2)
    stale = _reserve(shop, selling, "abandoned", [(variant.pk, 2)])
    _expire(stale)

    # when another buyer reserves them, before any job has run
    fresh = _reserve(shop, selling, "buyer", [(variant.pk, 2)])

    # then they get them; the stale hold was released through the ledger
    level = level_of(variant, east)
    assert (level.on_hand, level.reserved) == (2, 2)
    assert list(fresh.lines.values_list("quantity", flat=True)) == [2]
    assert list(stale.lines.values_list("status", flat=True)) == ["released"]
    release = StockMovement.objects.get(reason="release")
    assert (release.reserved_delta, release.reference, release.note) == (
        -2,
        f"reservation:{stale.pk}",
        "expired",
    )
    assert verify_ledger()[1] == []


def test_a_live_hold_still_blocks(shop, selling, east) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 2)
    _reserve(shop, selling, "first", [(variant.pk, 2)])

    with pytest.raises(InsufficientStock):
        _reserve(shop, selling, "second", [(variant.pk, 1)])


def test_the_periodic_job_releases_expired_holds_and_writes_the_ledger(shop, selling, east):
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 5)
    expired = _reserve(shop, selling, "gone", [(variant.pk, 3)])
    live = _reserve(shop, selling, "here", [(variant.pk, 1)])
    _expire(expired)

    released = release_expired_reservations.call()

    expired.refresh_from_db()
    live.refresh_from_db()
    assert released == 1
    assert (expired.status, live.status) == ("expired", "active")
    assert level_of(variant, east).reserved == 1
    release = StockMovement.objects.get(reason="release")
    assert (release.reserved_delta, release.actor, release.note) == (-3, "system", "expired")
    assert release_expired_reservations.call() == 0
    assert verify_ledger()[1] == []


def test_the_job_is_scheduled_every_minute() -> None:
    jobs = periodic_jobs()

    scheduled = jobs["merchantry.inventory.tasks.release_expired_reservations"]
    assert scheduled.every == timedelta(minutes=1)


def test_the_job_after_a_lazy_release_only_closes_the_reservation(shop, selling, east) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 2)
    stale = _reserve(shop, selling, "abandoned", [(variant.pk, 2)])
    _expire(stale)
    _reserve(shop, selling, "buyer", [(variant.pk, 1)])  # releases the stale hold

    release_expired_reservations.call()

    stale.refresh_from_db()
    assert stale.status == "expired"
    assert StockMovement.objects.filter(reason="release").count() == 1
    assert level_of(variant, east).reserved == 1
    assert verify_ledger()[1] == []


def test_an_order_from_an_expired_hold_takes_the_stock_again_if_it_is_there(
    shop, selling, east
) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 3)
    reservation = _reserve(shop, selling, "slow", [(variant.pk, 2)])
    _expire(reservation)

    allocation = reservations.reservation_convert(
        actor=SYSTEM_ACTOR, shop=shop, reservation_id=reservation.pk, reference="order:1"
    )

    level = level_of(variant, east)
    assert (level.on_hand, level.reserved, level.allocated) == (3, 0, 2)
    assert allocation.lines.get().quantity == 2
    assert verify_ledger()[1] == []


def test_an_order_from_an_expired_hold_fails_if_the_stock_was_sold(shop, selling, east) -> None:
    [variant] = make_variants(shop, channel=selling)
    stock(variant, east, 2)
    reservation = _reserve(shop, selling, "slow", [(variant.pk, 2)])
    _expire(reservation)
    _reserve(shop, selling, "quick", [(variant.pk, 1)])

    with pytest.raises(InsufficientStock):
        reservations.reservation_convert(
            actor=SYSTEM_ACTOR, shop=shop, reservation_id=reservation.pk, reference="order:1"
        )

    level = level_of(variant, east)
    assert (level.reserved, level.allocated) == (1, 0)
    reservation.refresh_from_db()
    assert reservation.status == "active"
    assert verify_ledger()[1] == []
