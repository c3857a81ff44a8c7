"""The catalog's product editor, extended by inventory: each variant's stock per location."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from merchantry.catalog.models import Product
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.inventory import reservations
from merchantry.inventory.admin import StockedProductAdmin
from tests.inventory.factories import make_variants, stock
from tests.test_admin_tenancy import member, staff_client

pytestmark = pytest.mark.django_db


def _change_page(client, product_id: int) -> str:
    response = client.get(reverse("admin:catalog_product_change", args=[product_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_inventory_replaces_the_catalogs_product_admin() -> None:
    assert isinstance(admin.site._registry[Product], StockedProductAdmin)


def test_each_variant_shows_its_stock_per_location_and_a_link_to_adjust_it(
    shop, selling, east, west
) -> None:
    small, large, spare = make_variants(shop, 3, channel=selling, sku="TEE")
    stock(small, east, 10)
    stock(small, west, 4)
    stock(large, west, 2)
    reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=selling, owner="cart", lines=[(small.pk, 3)]
    )
    client = staff_client(member(shop, "catalog_manager"), shop)

    page = _change_page(client, small.product_id)

    assert "East: 10 on hand, 7 available" in page
    assert "West: 4 on hand, 4 available" in page
    assert "West: 2 on hand, 2 available" in page
    assert page.count("No stock yet") == 1  # the spare variant
    for variant in (small, large, spare):
        link = reverse("admin:inventory_variantstock_change", args=[variant.pk])
        assert f'href="{link}"' in page
    assert page.count("Adjust stock") == 3


def test_the_stock_column_costs_the_same_queries_for_any_number_of_variants(
    shop, selling, east, west
) -> None:
    few = make_variants(shop, 2, channel=selling, title="Few", sku="FEW")
    many = make_variants(shop, 8, channel=selling, title="Many", sku="MANY")
    for variant in (*few, *many):
        stock(variant, east, 5)
        stock(variant, west, 1)
    client = staff_client(member(shop, "owner"), shop)
    _change_page(client, few[0].product_id)  # warm the session and caches

    with CaptureQueriesContext(connection) as for_few:
        _change_page(client, few[0].product_id)
    with CaptureQueriesContext(connection) as for_many:
        page = _change_page(client, many[0].product_id)

    assert page.count("East: 5 on hand, 5 available") == 8
    assert len(for_many.captured_queries) == len(for_few.captured_queries)
    level_queries = [
        q["sql"] for q in for_many.captured_queries if '"inventory_stocklevel"' in q["sql"]
    ]
    assert len(level_queries) == 1


def test_a_member_without_inventory_rights_sees_no_stock(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 10)
    client = staff_client(member(shop, "support"), shop)  # catalog.view, no inventory

    page = _change_page(client, variant.product_id)

    assert "TEE-0" in page
    assert "on hand" not in page
    assert "Adjust stock" not in page
