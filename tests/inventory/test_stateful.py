"""
Property-based: random sequences of receive, reserve, release, expire (time
travel), the expiry job, convert, ship, cancel and return, against a model of
what the stock should be.

After every step: no bucket is negative, no level of a variant without
backorder is oversold, the levels equal the ledger (and the holds of the
reservation and allocation lines), and the availability the Store API would
show is exactly what the model says is free — never more, never less. A
reservation succeeds exactly when the model says the units are there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.inventory import allocations, reservations, services
from merchantry.inventory.errors import InsufficientStock
from merchantry.inventory.models import (
    Reservation,
    ReservationLine,
    StockLevel,
)
from merchantry.inventory.selectors import store_availability
from merchantry.inventory.verify import verify_ledger
from tests.factories import ChannelFactory, ShopFactory
from tests.inventory.factories import make_location, make_variants, sell_from

pytestmark = pytest.mark.django_db

BACKORDER_LIMIT = 3


@dataclass
class Hold:
    pk: int
    variant: int
    quantity: int
    expired: bool = False


@dataclass
class Order:
    pk: int
    variant: int
    open: int
    shipped: int = 0
    returned: int = 0


class StockMachine(RuleBasedStateMachine):
    holds = Bundle("holds")
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        # Every example runs in a savepoint rolled back at teardown.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.serial = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize()
    def make_shop(self) -> None:
        self.shop = ShopFactory()
        self.channel = ChannelFactory(shop=self.shop, slug="web")
        self.locations = [make_location(self.shop, name=n) for n in ("First", "Second")]
        sell_from(self.channel, *self.locations, show_quantity=True)
        self.plain = make_variants(self.shop, 2, channel=self.channel, sku="P")
        [self.backordered] = make_variants(
            self.shop, channel=self.channel, title="Later", sku="B", allow_backorder=True
        )
        services.level_settings_update(
            actor=SYSTEM_ACTOR,
            shop=self.shop,
            variant_id=self.backordered.pk,
            location_id=self.locations[0].pk,
            backorder_limit=BACKORDER_LIMIT,
        )
        self.variants = [*self.plain, self.backordered]
        self.on_hand = {v.pk: 0 for v in self.variants}
        self.allocated = {v.pk: 0 for v in self.variants}
        self.live: dict[int, Hold] = {}

    # -- the model --------------------------------------------------------------------

    def free(self, variant: int) -> int:
        held = sum(h.quantity for h in self.live.values() if h.variant == variant and not h.expired)
        return self.on_hand[variant] - self.allocated[variant] - held

    def _variant(self, index: int) -> int:
        return self.variants[index % len(self.variants)].pk

    # -- rules --------------------------------------------------------------------------

    @rule(variant=st.integers(0, 2), location=st.integers(0, 1), quantity=st.integers(1, 5))
    def receive(self, variant: int, location: int, quantity: int) -> None:
        pk = self._variant(variant)
        services.stock_receive(
            actor=SYSTEM_ACTOR,
            shop=self.shop,
            variant_id=pk,
            location_id=self.locations[location].pk,
            quantity=quantity,
        )
        self.on_hand[pk] += quantity

    @rule(target=holds, variant=st.integers(0, 2), quantity=st.integers(1, 4))
    def reserve(self, variant: int, quantity: int) -> Hold:
        pk = self._variant(variant)
        self.serial += 1
        allowed = self.free(pk) + (BACKORDER_LIMIT if pk == self.backordered.pk else 0)
        try:
            reservation = reservations.reserve(
                actor=SYSTEM_ACTOR,
                shop=self.shop,
                channel=self.channel,
                owner=f"c{self.serial}",
                lines=[(pk, quantity)],
            )
        except InsufficientStock:
            if pk != self.backordered.pk:
                assert quantity > self.free(pk)
            else:
                assert quantity > max(self.free(pk), 0)
            return Hold(0, pk, 0)
        if pk != self.backordered.pk:
            assert quantity <= self.free(pk)
        else:
            assert quantity <= allowed
        hold = Hold(reservation.pk, pk, quantity)
        self.live[hold.pk] = hold
        return hold

    @rule(hold=consumes(holds))
    def release(self, hold: Hold) -> None:
        if not hold.pk:
            return
        reservations.reservation_release(actor=SYSTEM_ACTOR, shop=self.shop, reservation_id=hold.pk)
        self.live.pop(hold.pk, None)

    @rule(hold=holds)
    def expire(self, hold: Hold) -> None:
        """Time travel: the hold's expiry moves into the past."""
        if not hold.pk or hold.pk not in self.live:
            return
        past = timezone.now() - timedelta(seconds=1)
        Reservation.objects.filter(pk=hold.pk).update(expires_at=past)
        ReservationLine.objects.filter(reservation_id=hold.pk).update(expires_at=past)
        hold.expired = True

    @rule()
    def run_expiry_job(self) -> None:
        reservations.reservations_expire()
        for pk in [pk for pk, hold in self.live.items() if hold.expired]:
            del self.live[pk]

    @rule(target=orders, hold=consumes(holds))
    def convert(self, hold: Hold) -> Order:
        if not hold.pk or hold.pk not in self.live or hold.expired:
            return Order(0, hold.variant, 0)
        self.serial += 1
        allocation = reservations.reservation_convert(
            actor=SYSTEM_ACTOR, shop=self.shop, reservation_id=hold.pk, reference=f"o{self.serial}"
        )
        del self.live[hold.pk]
        self.allocated[hold.variant] += hold.quantity
        return Order(allocation.pk, hold.variant, hold.quantity)

    @rule(order=orders)
    def ship(self, order: Order) -> None:
        if not order.pk or not order.open:
            return
        try:
            allocations.allocation_ship(actor=SYSTEM_ACTOR, shop=self.shop, allocation_id=order.pk)
        except InsufficientStock:
            # Only units promised on backorder wait for stock.
            assert order.variant == self.backordered.pk
            return
        self.on_hand[order.variant] -= order.open
        self.allocated[order.variant] -= order.open
        order.shipped += order.open
        order.open = 0

    @rule(order=orders)
    def cancel(self, order: Order) -> None:
        if not order.pk:
            return
        allocations.allocation_cancel(actor=SYSTEM_ACTOR, shop=self.shop, allocation_id=order.pk)
        self.allocated[order.variant] -= order.open
        order.open = 0

    @rule(order=orders, quantity=st.integers(1, 3))
    def give_back(self, order: Order, quantity: int) -> None:
        if not order.pk or order.shipped - order.returned < quantity:
            return
        allocations.allocation_return(
            actor=SYSTEM_ACTOR,
            shop=self.shop,
            allocation_id=order.pk,
            variant_id=order.variant,
            quantity=quantity,
        )
        order.returned += quantity
        self.on_hand[order.variant] += quantity

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def levels_are_sound(self) -> None:
        if not hasattr(self, "shop"):
            return
        for level in StockLevel.objects.for_shop(self.shop):
            assert min(level.on_hand, level.reserved, level.allocated) >= 0, level
            floor = -BACKORDER_LIMIT if level.variant_id == self.backordered.pk else 0
            assert level.available >= floor, level
        assert verify_ledger(shop=self.shop)[1] == []

    @invariant()
    def buckets_match_the_model(self) -> None:
        if not hasattr(self, "shop"):
            return
        for variant in self.variants:
            levels = list(StockLevel.objects.filter(variant=variant))
            assert sum(level.on_hand for level in levels) == self.on_hand[variant.pk]
            assert sum(level.allocated for level in levels) == self.allocated[variant.pk]

    @invariant()
    def availability_is_never_overstated(self) -> None:
        if not hasattr(self, "shop"):
            return
        shown = {
            item.pk: item
            for item in store_availability(channel=self.channel, variants=self.variants)
        }
        for variant in self.plain:
            assert shown[variant.pk].quantity == self.free(variant.pk)
        # On backorder one location may be below zero while another still has
        # units to sell: those count, so the quantity is at least what is free.
        assert shown[self.backordered.pk].quantity >= max(self.free(self.backordered.pk), 0)


def test_random_stock_histories_keep_every_invariant() -> None:
    run_state_machine_as_test(
        StockMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
