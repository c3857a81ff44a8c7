"""The shipping screens: zones with a country picker, methods, the rate tester, shipments."""

from __future__ import annotations

import pytest
from django.urls import reverse

from merchantry.shipping.models import ShippingMethod, ShippingZone
from merchantry.shipping.shipments import shipment_create
from tests.shipping.conftest import make_method, make_zone
from tests.test_admin_tenancy import member, staff_client

pytestmark = pytest.mark.django_db


def test_the_zone_list_shows_the_current_shops_zones(shop, other_shop) -> None:
    make_zone(shop, name="Acme-Domestic-x1", countries=("US", "CA"), subdivisions=["US-CA"])
    make_zone(other_shop, name="Globex-Zone-x1", countries=("DE",))
    client = staff_client(member(shop, "read_only"), shop)

    page = client.get(reverse("admin:shipping_shippingzone_changelist")).content.decode()

    assert "Acme-Domestic-x1" in page
    assert "US-CA" in page
    assert "Globex" not in page


def test_a_zone_created_in_the_admin_goes_through_the_service(shop, channel) -> None:
    client = staff_client(member(shop, "owner"), shop)
    form = client.get(reverse("admin:shipping_shippingzone_add")).content.decode()
    assert 'value="FR"' in form  # the country picker
    assert "France (FR)" in form

    response = client.post(
        reverse("admin:shipping_shippingzone_add"),
        {
            "name": "West",
            "countries": ["US", "CA"],
            "subdivisions": "us-ca, US-OR",
            "postal_codes": "9*\n10000..14999",
            "channels": [channel.pk],
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    zone = ShippingZone.objects.get(shop=shop)
    assert (zone.countries, zone.subdivisions, zone.postal_codes) == (
        ["US", "CA"],
        ["US-CA", "US-OR"],
        ["9*", "10000..14999"],
    )
    assert list(zone.channels.all()) == [channel]


def test_a_bad_zone_shows_the_services_errors_and_saves_nothing(shop) -> None:
    client = staff_client(member(shop, "owner"), shop)

    response = client.post(
        reverse("admin:shipping_shippingzone_add"),
        {"name": "Bad", "countries": ["US"], "subdivisions": "FR-IDF", "postal_codes": ""},
    )

    assert response.status_code == 200
    assert "is in a country the zone does not name" in response.content.decode()
    assert not ShippingZone.objects.exists()


def test_a_method_with_tiers_is_edited_in_the_admin(shop, channel) -> None:
    zone = make_zone(shop, channels=(channel,))
    client = staff_client(member(shop, "owner"), shop)
    data = {
        "zone": zone.pk,
        "name": "By weight",
        "description": "",
        "is_active": "on",
        "position": 0,
        "min_days": "",
        "max_days": "",
        "rate_type": "weight",
        "rates": '[{"currency": "USD", "weight_tiers": [{"min_grams": 0, "max_grams": 500, '
        '"amount": "4"}, {"min_grams": 400, "max_grams": null, "amount": "8"}]}]',
        "carrier_plugin": "",
        "carrier_service": "",
        "origin": "",
        "max_weight_grams": "",
        "excluded_product_types": "",
        "excluded_tags": "hazmat",
    }

    refused = client.post(reverse("admin:shipping_shippingmethod_add"), data)
    data["rates"] = data["rates"].replace('"min_grams": 400', '"min_grams": 500')
    accepted = client.post(reverse("admin:shipping_shippingmethod_add"), data)

    assert refused.status_code == 200
    assert "overlaps" in refused.content.decode()
    assert accepted.status_code == 302, accepted.content.decode()[:3000]
    method = ShippingMethod.objects.get()
    assert method.rates[0]["weight_tiers"][1] == {
        "min_grams": 500,
        "max_grams": None,
        "amount": "8.00",
    }
    assert method.excluded_tags == ["hazmat"]


def test_the_rate_tester_prices_an_address(shop, channel) -> None:
    zone = make_zone(shop, name="Domestic", channels=(channel,))
    make_method(zone, name="Standard", amount="5.00")
    make_method(zone, name="Light only", amount="2.00", max_weight_grams=100)
    client = staff_client(member(shop, "read_only"), shop)
    url = reverse("admin:shipping_shippingmethod_rate_tester")

    empty = client.get(url)
    priced = client.get(
        url,
        {
            "channel": channel.pk,
            "country": "US",
            "region": "",
            "postal_code": "10001",
            "weight_grams": 500,
            "subtotal": "20",
            "product_type": "",
            "tags": "",
        },
    )
    nowhere = client.get(
        url,
        {
            "channel": channel.pk,
            "country": "JP",
            "weight_grams": 500,
            "subtotal": "20",
        },
    )

    assert empty.status_code == 200
    assert "What would this address pay?" in empty.content.decode()
    page = priced.content.decode()
    assert "Domestic" in page
    assert "5.00 USD" in page
    assert "The order weighs 500 g; this method takes up to 100 g." in page
    assert "No shipping zone of this channel covers JP." in nowhere.content.decode()


def test_the_shipments_list_is_read_only(shop, other_shop, actor) -> None:
    for s in (shop, other_shop):
        shipment_create(
            actor=actor,
            shop=s,
            order_id=f"{s.slug}-order-77",
            lines=[{"order_line_id": "a", "quantity": 1}],
            carrier="ups",
            tracking_number="1Z",
        )
    client = staff_client(member(shop, "fulfillment"), shop)

    page = client.get(reverse("admin:shipping_shipment_changelist")).content.decode()
    added = client.get(reverse("admin:shipping_shipment_add"))

    assert "acme-order-77" in page
    assert "globex-order-77" not in page
    assert added.status_code == 403


def test_a_catalog_manager_does_not_see_shipping(shop) -> None:
    client = staff_client(member(shop, "catalog_manager"), shop)

    response = client.get(reverse("admin:shipping_shippingzone_changelist"))
    tester = client.get(reverse("admin:shipping_shippingmethod_rate_tester"))

    assert response.status_code == 403
    assert tester.status_code in (302, 403)
