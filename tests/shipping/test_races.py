"""Concurrent tracking deliveries on PostgreSQL: the row lock, not luck, keeps history exact."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.shipping.models import Shipment, TrackingEvent
from merchantry.shipping.shipments import shipment_create, tracking_event_apply
from tests.factories import ShopFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _run_together(work, count: int) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _shipment() -> Shipment:
    shop = ShopFactory()
    return shipment_create(
        actor=SYSTEM_ACTOR, shop=shop, order_id="o-1", lines=[{"order_line_id": "a", "quantity": 1}]
    )


def test_one_event_delivered_concurrently_is_stored_once() -> None:
    shipment = _shipment()

    def deliver(i: int) -> object:
        return tracking_event_apply(
            actor=SYSTEM_ACTOR,
            shop=shipment.shop,
            shipment_id=shipment.pk,
            status="in_transit",
            occurred_at=T0,
            carrier_event_id="evt-1",
        )[1]

    results = _run_together(deliver, 4)

    assert sorted(results, key=str) == [False, False, False, True], results
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1
    shipment.refresh_from_db()
    assert shipment.status == "in_transit"


def test_concurrent_events_end_at_the_latest_furthest_status() -> None:
    shipment = _shipment()
    steps = ["label_purchased", "in_transit", "out_for_delivery", "delivered"]

    def deliver(i: int) -> object:
        return tracking_event_apply(
            actor=SYSTEM_ACTOR,
            shop=shipment.shop,
            shipment_id=shipment.pk,
            status=steps[i],
            occurred_at=T0 + timedelta(hours=i),
            carrier_event_id=f"evt-{i}",
        )[1]

    results = _run_together(deliver, 4)

    assert results == [True, True, True, True]
    shipment.refresh_from_db()
    assert (shipment.status, shipment.status_at) == ("delivered", T0 + timedelta(hours=3))
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 4
