"""Shipments: tracking URLs, labels, and tracking events that only move the status forward."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from merchantry.core.errors import Conflict, ValidationFailed
from merchantry.core.models import OutboxEvent
from merchantry.shipping.models import Shipment, TrackingEvent
from merchantry.shipping.shipments import (
    decode_label,
    moves_forward,
    shipment_create,
    shipment_update,
    tracking_event_apply,
    tracking_url_for,
)
from tests.shipping.conftest import make_location

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n%fake label\n"


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


@pytest.fixture
def shipment(shop, actor) -> Shipment:
    return shipment_create(
        actor=actor,
        shop=shop,
        order_id="order-1001",
        lines=[{"order_line_id": "l1", "quantity": 2}, {"order_line_id": "l2", "quantity": 1}],
        location_id=make_location(shop).pk,
        carrier="UPS",
        service="ground",
        tracking_number="1Z 999",
    )


def apply(shop, actor, shipment, status, at, event_id=""):
    return tracking_event_apply(
        actor=actor,
        shop=shop,
        shipment_id=shipment.pk,
        status=status,
        occurred_at=at,
        carrier_event_id=event_id,
    )


def history(shipment) -> list[tuple[str, datetime, bool]]:
    return [
        (e.status, e.occurred_at, e.applied)
        for e in TrackingEvent.objects.filter(shipment=shipment).order_by("occurred_at", "pk")
    ]


def test_a_shipment_gets_its_carriers_tracking_url(shipment) -> None:
    assert (shipment.carrier, shipment.status) == ("ups", "pending")
    assert shipment.tracking_url == "https://www.ups.com/track?tracknum=1Z%20999"
    assert OutboxEvent.objects.filter(type="shipment.created").count() == 1


def test_tracking_urls_come_from_per_carrier_templates(shop) -> None:
    shop.settings = {
        "shipping": {"tracking_url_templates": {"acme": "https://acme.example/t/{tracking_number}"}}
    }

    assert tracking_url_for(shop, "usps", "9400 1/2") == (
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201%2F2"
    )
    assert tracking_url_for(shop, "acme", "X1") == "https://acme.example/t/X1"
    assert tracking_url_for(shop, "unknown", "X1") == ""
    assert tracking_url_for(shop, "ups", "") == ""


def test_changing_the_tracking_number_rebuilds_the_url_unless_one_is_given(
    shop, actor, shipment
) -> None:
    shipment_update(
        actor=actor,
        shop=shop,
        shipment_id=shipment.pk,
        changes={"carrier": "fedex", "tracking_number": "777"},
    )
    shipment.refresh_from_db()
    assert shipment.tracking_url == "https://www.fedex.com/fedextrack/?trknbr=777"

    shipment_update(
        actor=actor,
        shop=shop,
        shipment_id=shipment.pk,
        changes={"tracking_number": "778", "tracking_url": "https://track.example/778"},
    )
    shipment.refresh_from_db()
    assert shipment.tracking_url == "https://track.example/778"


def test_events_move_the_status_forward(shop, actor, shipment) -> None:
    apply(shop, actor, shipment, "label_purchased", hours(0))
    apply(shop, actor, shipment, "in_transit", hours(2))
    apply(shop, actor, shipment, "out_for_delivery", hours(20))
    apply(shop, actor, shipment, "delivered", hours(22))

    shipment.refresh_from_db()
    assert (shipment.status, shipment.status_at) == ("delivered", hours(22))
    assert [s for s, _, applied in history(shipment) if applied] == [
        "label_purchased",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    changes = OutboxEvent.objects.filter(type="shipment.status_changed")
    assert changes.count() == 4


def test_events_out_of_order_are_kept_but_never_regress_the_status(shop, actor, shipment) -> None:
    # delivered arrives first, then the older steps
    apply(shop, actor, shipment, "delivered", hours(22), "e4")
    apply(shop, actor, shipment, "in_transit", hours(2), "e2")
    apply(shop, actor, shipment, "out_for_delivery", hours(20), "e3")
    apply(shop, actor, shipment, "label_purchased", hours(0), "e1")

    shipment.refresh_from_db()
    assert (shipment.status, shipment.status_at) == ("delivered", hours(22))
    assert history(shipment) == [
        ("label_purchased", hours(0), False),
        ("in_transit", hours(2), False),
        ("out_for_delivery", hours(20), False),
        ("delivered", hours(22), True),
    ]


def test_an_older_event_of_a_later_status_does_not_apply(shop, actor, shipment) -> None:
    apply(shop, actor, shipment, "out_for_delivery", hours(20))
    # a failed attempt from the day before, delivered late by the carrier
    apply(shop, actor, shipment, "failed", hours(-4))

    shipment.refresh_from_db()
    assert shipment.status == "out_for_delivery"
    assert history(shipment)[0] == ("failed", hours(-4), False)


def test_the_same_event_twice_is_stored_once(shop, actor, shipment) -> None:
    first, created = apply(shop, actor, shipment, "in_transit", hours(2), "carrier-42")
    again, created_again = apply(shop, actor, shipment, "in_transit", hours(2), "carrier-42")
    # the same id, even with other details, is the same event
    same_id, created_third = apply(shop, actor, shipment, "delivered", hours(9), "carrier-42")
    # without an id, the status and time identify it
    apply(shop, actor, shipment, "out_for_delivery", hours(5))
    _, created_fourth = apply(shop, actor, shipment, "out_for_delivery", hours(5))

    assert (created, created_again, created_third, created_fourth) == (True, False, False, False)
    assert first.pk == again.pk == same_id.pk
    assert [s for s, _, _ in history(shipment)] == ["in_transit", "out_for_delivery"]
    shipment.refresh_from_db()
    assert shipment.status == "out_for_delivery"
    assert OutboxEvent.objects.filter(type="shipment.status_changed").count() == 2


def test_final_statuses_stay_final(shop, actor, shipment) -> None:
    apply(shop, actor, shipment, "returned", hours(30))
    apply(shop, actor, shipment, "delivered", hours(40))

    shipment.refresh_from_db()
    assert shipment.status == "returned"


def test_the_forward_map() -> None:
    assert moves_forward("pending", None, "delivered", T0)
    assert moves_forward("out_for_delivery", hours(1), "failed", hours(2))
    assert moves_forward("failed", hours(1), "delivered", hours(2))
    assert moves_forward("failed", hours(1), "returned", hours(2))
    assert not moves_forward("failed", hours(1), "in_transit", hours(2))
    assert not moves_forward("delivered", hours(1), "returned", hours(2))
    assert not moves_forward("in_transit", hours(1), "in_transit", hours(2))
    assert not moves_forward("in_transit", hours(2), "delivered", hours(1))


def test_staff_can_move_the_status_forward_but_not_back(shop, actor, shipment) -> None:
    shipment_update(
        actor=actor, shop=shop, shipment_id=shipment.pk, changes={"status": "in_transit"}
    )

    with pytest.raises(Conflict) as exc:
        shipment_update(
            actor=actor, shop=shop, shipment_id=shipment.pk, changes={"status": "pending"}
        )

    assert exc.value.code == "status_regression"
    shipment.refresh_from_db()
    assert shipment.status == "in_transit"
    assert [(s, applied) for s, _, applied in history(shipment)] == [("in_transit", True)]
    with pytest.raises(Conflict):
        shipment_update(
            actor=actor,
            shop=shop,
            shipment_id=shipment.pk,
            changes={"lines": [{"order_line_id": "l9", "quantity": 1}]},
        )


def test_a_naive_event_time_is_refused(shop, actor, shipment) -> None:
    with pytest.raises(ValidationFailed):
        apply(shop, actor, shipment, "in_transit", datetime(2025, 3, 1, 8, 0))

    assert not TrackingEvent.objects.exists()


def test_labels_are_checked_and_stored_under_a_random_name(shop, actor, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    label = decode_label("pdf", base64.b64encode(PDF).decode())

    shipment = shipment_create(
        actor=actor,
        shop=shop,
        order_id="o-2",
        lines=[{"order_line_id": "l1", "quantity": 1}],
        label=label,
    )

    assert shipment.label.name.startswith(f"shipping/labels/{shop.pk}/")
    assert shipment.label.name.endswith(".pdf")
    with shipment.label.open("rb") as stored:
        assert stored.read() == PDF
    for fmt, data, code in (
        ("pdf", base64.b64encode(b"\x89PNG\r\n\x1a\nxx").decode(), "wrong_format"),
        ("png", "not base64!", "invalid"),
        ("zpl", "", "required"),
        ("gif", base64.b64encode(PDF).decode(), "invalid"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            decode_label(fmt, data)
        assert exc.value.errors[0].code == code


@pytest.mark.parametrize(
    ("lines", "loc"),
    [
        ([], ("lines",)),
        ([{"order_line_id": "a", "quantity": 0}], ("lines", 0, "quantity")),
        (
            [{"order_line_id": "a", "quantity": 1}, {"order_line_id": "a", "quantity": 1}],
            ("lines", 1, "order_line_id"),
        ),
    ],
)
def test_shipment_lines_are_validated(shop, actor, lines, loc) -> None:
    with pytest.raises(ValidationFailed) as exc:
        shipment_create(actor=actor, shop=shop, order_id="o-3", lines=lines)

    assert exc.value.errors[0].loc == loc
    assert not Shipment.objects.exists()


def test_another_shops_location_is_unknown(shop, other_shop, actor) -> None:
    theirs = make_location(other_shop)

    with pytest.raises(ValidationFailed) as exc:
        shipment_create(
            actor=actor,
            shop=shop,
            order_id="o-4",
            lines=[{"order_line_id": "a", "quantity": 1}],
            location_id=theirs.pk,
        )

    assert [(e.loc, e.code) for e in exc.value.errors] == [(("location_id",), "not_found")]
