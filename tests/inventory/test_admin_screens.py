"""The inventory screens: one shop at a time, every write through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from merchantry.inventory.models import StockLevel, StockLocation, StockMovement
from merchantry.inventory.verify import verify_ledger
from tests.inventory.factories import level_of, make_location, make_variants, stock
from tests.test_admin_tenancy import member, staff_client

pytestmark = pytest.mark.django_db


def test_the_inventory_list_filters_by_location_low_stock_and_sku(
    shop, other_shop, east, west
) -> None:
    shirt, scarf = make_variants(shop, 2, sku="SHIRT")
    [hat] = make_variants(shop, title="Hat", sku="HAT")
    [theirs] = make_variants(other_shop, title="Globex thing", sku="GLOBEX")
    stock(shirt, east, 10)
    stock(scarf, east, 1)
    stock(hat, west, 3)
    stock(theirs, make_location(other_shop), 3)
    StockLevel.objects.filter(variant=scarf).update(low_stock_threshold=2)
    client = staff_client(member(shop, "fulfillment"), shop)
    url = reverse("admin:inventory_stocklevel_changelist")

    everything = client.get(url).content.decode()
    at_west = client.get(url, {"location__id__exact": west.pk}).content.decode()
    low = client.get(url, {"stock": "low"}).content.decode()
    searched = client.get(url, {"q": "shirt"}).content.decode()

    assert all(sku in everything for sku in ("SHIRT-0", "SHIRT-1", "HAT-0"))
    assert "GLOBEX" not in everything
    assert "HAT-0" in at_west
    assert "SHIRT-0" not in at_west
    assert "SHIRT-1" in low
    assert "SHIRT-0" not in low
    assert "SHIRT-0" in searched
    assert "HAT-0" not in searched


def test_editing_on_hand_in_the_list_records_a_count(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    level = stock(variant, east, 10)
    client = staff_client(member(shop, "fulfillment"), shop)

    response = client.post(
        reverse("admin:inventory_stocklevel_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(level.pk),
            "form-0-on_hand": "7",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert level_of(variant, east).on_hand == 7
    count = StockMovement.objects.get(reason="count")
    assert (count.on_hand_delta, count.note, count.actor.startswith("user:")) == (
        -3,
        "counted in the admin",
        True,
    )
    assert verify_ledger()[1] == []


def _variant_form(location, **fields: str) -> dict[str, str]:
    data = {
        "location": str(location.pk),
        "adjust_by": "",
        "count": "",
        "note": "",
        "stock_levels-TOTAL_FORMS": "0",
        "stock_levels-INITIAL_FORMS": "0",
        "stock_levels-MIN_NUM_FORMS": "0",
        "stock_levels-MAX_NUM_FORMS": "0",
    }
    data.update(fields)
    return data


def test_the_variant_screen_shows_stock_and_history_and_adjusts(shop, east, west) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 4)
    client = staff_client(member(shop, "fulfillment"), shop)
    url = reverse("admin:inventory_variantstock_change", args=[variant.pk])

    page = client.get(url).content.decode()
    adjusted = client.post(url, _variant_form(west, adjust_by="6", note="found a box"))
    counted = client.post(url, _variant_form(east, count="1"))

    assert "Stock per location" in page
    assert "East" in page
    assert "Received" in page  # the history
    assert "+4" in page
    assert adjusted.status_code == 302, adjusted.content.decode()[:3000]
    assert counted.status_code == 302
    assert (level_of(variant, west).on_hand, level_of(variant, east).on_hand) == (6, 1)
    assert StockMovement.objects.get(reason="adjust").note == "found a box"


def test_the_variant_screen_refuses_an_impossible_adjustment(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 2)
    client = staff_client(member(shop, "fulfillment"), shop)
    url = reverse("admin:inventory_variantstock_change", args=[variant.pk])

    response = client.post(url, _variant_form(east, adjust_by="-5"))

    assert response.status_code == 200
    assert "Only 2 on hand" in response.content.decode()
    assert level_of(variant, east).on_hand == 2


def test_a_read_only_member_sees_stock_but_cannot_change_it(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 2)
    client = staff_client(member(shop, "read_only"), shop)

    listed = client.get(reverse("admin:inventory_stocklevel_changelist"))
    posted = client.post(
        reverse("admin:inventory_variantstock_change", args=[variant.pk]),
        _variant_form(east, adjust_by="5"),
    )

    assert listed.status_code == 200
    assert posted.status_code == 403
    assert level_of(variant, east).on_hand == 2


def test_locations_are_managed_through_the_services(shop, east) -> None:
    client = staff_client(member(shop, "fulfillment"), shop)
    [variant] = make_variants(shop)
    stock(variant, east, 1)

    added = client.post(
        reverse("admin:inventory_stocklocation_add"),
        {"name": "Back room", "handle": "", "country": "US", "is_active": "on", "can_ship": "on"},
    )
    refused = client.post(
        reverse("admin:inventory_stocklocation_delete", args=[east.pk]), {"post": "yes"}
    )

    assert added.status_code == 302, added.content.decode()[:3000]
    assert StockLocation.objects.filter(handle="back-room").exists()
    assert refused.status_code == 302
    assert StockLocation.objects.filter(pk=east.pk).exists()


def test_another_shops_stock_is_not_found(shop, other_shop) -> None:
    [theirs] = make_variants(other_shop, sku="GLOBEX")
    level = stock(theirs, make_location(other_shop), 3)
    client = staff_client(member(shop, "owner"), shop)

    for url in (
        reverse("admin:inventory_stocklevel_change", args=[level.pk]),
        reverse("admin:inventory_variantstock_change", args=[theirs.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url == reverse("admin:index")


def test_the_ledger_screen_is_read_only(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 3)
    client = staff_client(member(shop, "owner"), shop)
    movement = StockMovement.objects.get()

    listed = client.get(
        reverse("admin:inventory_stockmovement_changelist"), {"variant__id__exact": variant.pk}
    )
    changed = client.post(
        reverse("admin:inventory_stockmovement_change", args=[movement.pk]), {"note": "edited"}
    )

    assert listed.status_code == 200
    assert "TEE-0" in listed.content.decode()
    assert changed.status_code == 403
    movement.refresh_from_db()
    assert movement.note == ""


def test_a_levels_page_sets_its_threshold_through_the_service(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    level = stock(variant, east, 2)
    client = staff_client(member(shop, "fulfillment"), shop)
    url = reverse("admin:inventory_stocklevel_change", args=[level.pk])

    refused = client.post(url, {"low_stock_threshold": "-1", "backorder_limit": ""})
    saved = client.post(url, {"low_stock_threshold": "5", "backorder_limit": ""})

    assert refused.status_code == 200
    assert saved.status_code == 302, saved.content.decode()[:3000]
    level.refresh_from_db()
    assert (level.low_stock_threshold, level.low_stock_alerted) == (5, True)
