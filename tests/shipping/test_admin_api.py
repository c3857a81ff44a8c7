"""Admin API: zones, methods and shipments; clear 422s that save nothing; permissions."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from merchantry.core.models import AuditEvent
from merchantry.shipping.models import Shipment, ShippingMethod, ShippingZone, TrackingEvent
from tests.factories import ChannelFactory, MembershipFactory, builtin_role
from tests.shipping.conftest import make_location, make_method, make_zone

pytestmark = pytest.mark.django_db

API = "/api/v1/admin"
PROBLEM = "application/problem+json"


def send(client: Client, method: str, path: str, body=None):
    return client.generic(
        method,
        f"{API}{path}",
        json.dumps(body) if body is not None else "",
        content_type="application/json",
    )


def errors(response) -> list[tuple[list, str]]:
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    return [(e["loc"], e["code"]) for e in response.json()["errors"]]


# -- zones ------------------------------------------------------------------------------


def test_zone_crud(admin_client, shop, channel) -> None:
    created = send(
        admin_client,
        "POST",
        "/shipping/zones",
        {
            "name": "West",
            "countries": ["us", "CA"],
            "subdivisions": ["us-ca"],
            "postal_codes": ["9* ", "10000..14999"],
            "channel_ids": [str(channel.pk)],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in ("name", "countries", "subdivisions", "postal_codes")} == {
        "name": "West",
        "countries": ["US", "CA"],
        "subdivisions": ["US-CA"],
        "postal_codes": ["9*", "10000..14999"],
    }
    assert body["channel_ids"] == [str(channel.pk)]
    zone_id = body["id"]

    patched = send(admin_client, "PATCH", f"/shipping/zones/{zone_id}", {"channel_ids": []})
    listed = admin_client.get(f"{API}/shipping/zones")
    got = admin_client.get(f"{API}/shipping/zones/{zone_id}")

    assert (patched.status_code, patched.json()["channel_ids"]) == (200, [])
    assert patched.json()["countries"] == ["US", "CA"]
    assert [z["id"] for z in listed.json()["items"]] == [zone_id]
    assert got.json()["name"] == "West"
    assert send(admin_client, "DELETE", f"/shipping/zones/{zone_id}").status_code == 204
    assert not ShippingZone.objects.exists()
    assert AuditEvent.objects.filter(action="shipping_zone.delete").count() == 1


def test_unknown_countries_and_subdivisions_are_422_and_save_nothing(admin_client) -> None:
    response = send(
        admin_client,
        "POST",
        "/shipping/zones",
        {
            "name": "Bad",
            "countries": ["US", "XX"],
            "subdivisions": ["US-ZZ"],
            "postal_codes": ["1..22"],
        },
    )

    assert errors(response) == [
        (["countries", 1], "unknown_country"),
        (["subdivisions", 0], "unknown_subdivision"),
        (["postal_codes", 0], "invalid_pattern"),
    ]
    assert "XX" in response.json()["errors"][0]["message"]
    assert not ShippingZone.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="shipping").exists()


def test_another_shops_channel_is_no_such_channel(admin_client, shop, other_channel) -> None:
    zone = make_zone(shop)

    created = send(
        admin_client,
        "POST",
        "/shipping/zones",
        {
            "name": "Z",
            "countries": ["US"],
            "channel_ids": [str(other_channel.pk)],
        },
    )
    patched = send(
        admin_client,
        "PATCH",
        f"/shipping/zones/{zone.pk}",
        {"name": "Renamed", "channel_ids": [str(other_channel.pk)]},
    )

    assert errors(created) == [(["channel_ids", 0], "not_found")]
    assert errors(patched) == [(["channel_ids", 0], "not_found")]
    zone.refresh_from_db()
    assert (zone.name, list(zone.channels.all())) == ("Domestic", [])
    assert ShippingZone.objects.count() == 1


# -- methods ----------------------------------------------------------------------------

WEIGHT = [
    {"min_grams": 0, "max_grams": 1000, "amount": "12.00"},
    {"min_grams": 1000, "max_grams": None, "amount": "20.00"},
]


def test_method_crud(admin_client, shop, channel) -> None:
    zone = make_zone(shop, channels=(channel,))

    created = send(
        admin_client,
        "POST",
        f"/shipping/zones/{zone.pk}/methods",
        {
            "name": "International",
            "rate_type": "weight",
            "min_days": 5,
            "max_days": 10,
            "rates": [{"currency": "USD", "weight_tiers": WEIGHT}],
            "excluded_tags": ["hazmat"],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["zone_id"], body["rate_type"], body["excluded_tags"]) == (
        str(zone.pk),
        "weight",
        ["hazmat"],
    )
    assert body["rates"] == [{"currency": "USD", "weight_tiers": WEIGHT}]

    patched = send(
        admin_client,
        "PATCH",
        f"/shipping/methods/{body['id']}",
        {
            "rate_type": "flat",
            "rates": [{"currency": "USD", "amount": "9.99"}],
            "max_days": 7,
        },
    )
    listed = admin_client.get(f"{API}/shipping/zones/{zone.pk}/methods")

    assert patched.status_code == 200, patched.content
    assert (patched.json()["rates"], patched.json()["min_days"], patched.json()["max_days"]) == (
        [{"currency": "USD", "amount": "9.99"}],
        5,
        7,
    )
    assert [m["id"] for m in listed.json()["items"]] == [body["id"]]
    assert send(admin_client, "DELETE", f"/shipping/methods/{body['id']}").status_code == 204
    assert not ShippingMethod.objects.exists()


@pytest.mark.parametrize(
    ("rates", "loc", "code"),
    [
        (
            [
                {
                    "currency": "USD",
                    "weight_tiers": [
                        {"min_grams": 0, "max_grams": 1000, "amount": "5"},
                        {"min_grams": 800, "max_grams": None, "amount": "9"},
                    ],
                }
            ],
            ["rates", 0, "weight_tiers", 1],
            "overlap",
        ),
        (
            [
                {
                    "currency": "USD",
                    "weight_tiers": [
                        {"min_grams": 0, "max_grams": 1000, "amount": "5"},
                        {"min_grams": 1500, "max_grams": None, "amount": "9"},
                    ],
                }
            ],
            ["rates", 0, "weight_tiers", 1],
            "gap",
        ),
        (
            [
                {
                    "currency": "USD",
                    "weight_tiers": [{"min_grams": 0, "max_grams": None, "amount": "-5.00"}],
                }
            ],
            ["rates", 0, "weight_tiers", 0, "amount"],
            "negative",
        ),
    ],
)
def test_bad_tiers_and_negative_prices_are_422_and_save_nothing(
    admin_client, shop, rates, loc, code
) -> None:
    zone = make_zone(shop)
    method = make_method(zone, name="Before", amount="5.00")

    created = send(
        admin_client,
        "POST",
        f"/shipping/zones/{zone.pk}/methods",
        {"name": "New", "rate_type": "weight", "rates": rates},
    )
    patched = send(
        admin_client,
        "PATCH",
        f"/shipping/methods/{method.pk}",
        {"name": "After", "rate_type": "weight", "rates": rates},
    )

    assert errors(created) == [(loc, code)]
    assert errors(patched) == [(loc, code)]
    method.refresh_from_db()
    assert (method.name, method.rate_type, method.rates) == (
        "Before",
        "flat",
        [{"currency": "USD", "amount": "5.00"}],
    )
    assert ShippingMethod.objects.count() == 1


def test_pickup_methods_need_locations_that_allow_pickup(admin_client, shop) -> None:
    zone = make_zone(shop)
    warehouse = make_location(shop, "warehouse", can_pickup=False)
    store = make_location(shop, "store", can_pickup=True)
    path = f"/shipping/zones/{zone.pk}/methods"
    base = {"name": "Collect", "pickup_only": True, "rates": [{"currency": "USD", "amount": "0"}]}

    without = send(admin_client, "POST", path, base)
    wrong = send(admin_client, "POST", path, {**base, "pickup_location_ids": [str(warehouse.pk)]})
    right = send(admin_client, "POST", path, {**base, "pickup_location_ids": [str(store.pk)]})

    assert errors(without) == [(["pickup_location_ids"], "required")]
    assert errors(wrong) == [(["pickup_location_ids", 0], "no_pickup")]
    assert right.status_code == 201
    assert right.json()["pickup_location_ids"] == [str(store.pk)]


def test_changing_the_rate_type_needs_the_new_rates(admin_client, shop) -> None:
    method = make_method(make_zone(shop))

    response = send(
        admin_client, "PATCH", f"/shipping/methods/{method.pk}", {"rate_type": "weight"}
    )

    assert errors(response) == [(["rates"], "required")]


def test_lists_use_a_fixed_number_of_queries(
    admin_client, shop, channel, django_assert_max_num_queries
) -> None:
    store = make_location(shop, "store", can_pickup=True)
    for index in range(6):
        zone = make_zone(shop, name=f"Z{index}", channels=(channel,))
        make_method(
            zone,
            name=f"M{index}",
            channel_ids=[channel.pk],
            pickup_only=True,
            pickup_location_ids=[store.pk],
        )
    zone = ShippingZone.objects.first()
    for index in range(5):
        make_method(zone, name=f"Extra {index}", channel_ids=[channel.pk])
    admin_client.get(f"{API}/shop")  # the key's first use is recorded outside the budget

    with django_assert_max_num_queries(5):
        zones = admin_client.get(f"{API}/shipping/zones")
    with django_assert_max_num_queries(7):
        methods = admin_client.get(f"{API}/shipping/zones/{zone.pk}/methods")

    assert len(zones.json()["items"]) == 6
    assert len(methods.json()["items"]) == 6


# -- shipments --------------------------------------------------------------------------


def test_shipment_create_update_and_tracking(admin_client, shop) -> None:
    location = make_location(shop)
    created = send(
        admin_client,
        "POST",
        "/shipments",
        {
            "order_id": "1001",
            "lines": [{"order_line_id": "a", "quantity": 2}],
            "location_id": str(location.pk),
            "carrier": "usps",
            "tracking_number": "9400",
            "label": {"format": "pdf", "data_base64": "JVBERi0xLjQK"},
        },
    )
    assert created.status_code == 201, created.content
    shipment = created.json()
    assert shipment["tracking_url"].endswith("tLabels=9400")
    assert shipment["label_url"].endswith(".pdf")
    assert (shipment["status"], shipment["events"]) == ("pending", [])
    path = f"/shipments/{shipment['id']}/tracking-events"
    event = {"status": "delivered", "occurred_at": "2025-01-02T10:00:00Z", "carrier_event_id": "e2"}
    older = {"status": "in_transit", "occurred_at": "2025-01-01T10:00:00+00:00"}

    first = send(admin_client, "POST", path, event)
    again = send(admin_client, "POST", path, event)
    late = send(admin_client, "POST", path, older)

    assert (first.status_code, again.status_code, late.status_code) == (201, 200, 201)
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    final = late.json()["shipment"]
    assert final["status"] == "delivered"
    assert [(e["status"], e["applied"]) for e in final["events"]] == [
        ("in_transit", False),
        ("delivered", True),
    ]
    assert TrackingEvent.objects.count() == 2
    back = send(admin_client, "PATCH", f"/shipments/{shipment['id']}", {"status": "in_transit"})
    assert (back.status_code, back.json()["code"]) == (409, "status_regression")
    listed = admin_client.get(f"{API}/shipments", {"order_id": "1001", "status": "delivered"})
    assert [s["id"] for s in listed.json()["items"]] == [shipment["id"]]
    assert admin_client.get(f"{API}/shipments", {"order_id": "other"}).json()["items"] == []


def test_a_label_that_is_not_what_it_claims_is_422(admin_client) -> None:
    response = send(
        admin_client,
        "POST",
        "/shipments",
        {
            "order_id": "1",
            "lines": [{"order_line_id": "a", "quantity": 1}],
            "label": {"format": "pdf", "data_base64": "aGVsbG8="},
        },
    )

    assert errors(response) == [(["label", "data_base64"], "wrong_format")]
    assert not Shipment.objects.exists()


def test_a_naive_event_time_is_422(admin_client, shop) -> None:
    shipment = send(
        admin_client,
        "POST",
        "/shipments",
        {
            "order_id": "1",
            "lines": [{"order_line_id": "a", "quantity": 1}],
        },
    ).json()

    response = send(
        admin_client,
        "POST",
        f"/shipments/{shipment['id']}/tracking-events",
        {"status": "in_transit", "occurred_at": "2025-01-01T10:00:00"},
    )

    assert errors(response) == [(["occurred_at"], "invalid")]


# -- permissions ------------------------------------------------------------------------


def _staff(shop, role: str) -> Client:
    membership = MembershipFactory(shop=shop, role=builtin_role(role))
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(membership.user)
    return client


def test_who_may_do_what(shop, channel) -> None:
    ChannelFactory(shop=shop, slug="pos")
    zone = make_zone(shop)
    zone_body = {"name": "New", "countries": ["FR"]}
    shipment_body = {"order_id": "9", "lines": [{"order_line_id": "a", "quantity": 1}]}

    read_only, fulfillment, catalog = (
        _staff(shop, "read_only"),
        _staff(shop, "fulfillment"),
        _staff(shop, "catalog_manager"),
    )

    assert read_only.get(f"{API}/shipping/zones").status_code == 200
    assert send(read_only, "POST", "/shipping/zones", zone_body).status_code == 403
    assert send(read_only, "POST", "/shipments", shipment_body).status_code == 403
    assert fulfillment.get(f"{API}/shipping/zones/{zone.pk}/methods").status_code == 200
    assert send(fulfillment, "POST", "/shipping/zones", zone_body).status_code == 403
    assert send(fulfillment, "POST", "/shipments", shipment_body).status_code == 201
    assert catalog.get(f"{API}/shipping/zones").status_code == 403
    assert catalog.get(f"{API}/shipments").status_code == 403
    assert ShippingZone.objects.count() == 1
    assert Shipment.objects.count() == 1
