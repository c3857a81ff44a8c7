"""
Store API availability: the statuses a storefront shows, the quantity only
when the channel shows it, exactly what a reservation accepts, and a fixed
number of queries for a page of products.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.inventory import reservations, services
from merchantry.inventory.errors import InsufficientStock
from merchantry.inventory.models import Reservation, ReservationLine
from tests.factories import ChannelFactory, publishable_key
from tests.inventory.factories import make_variants, sell_from, stock

pytestmark = pytest.mark.django_db

URL = "/api/v1/store/availability"


def _by_sku(client, **params: str) -> dict[str, dict]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return {item["sku"]: item for item in response.json()["items"]}


def test_each_status_and_no_quantity_unless_the_channel_shows_it(
    shop, selling, east, store_client
) -> None:
    [plenty] = make_variants(shop, channel=selling, title="Plenty", sku="PLENTY")
    [few] = make_variants(shop, channel=selling, title="Few", sku="FEW")
    make_variants(shop, channel=selling, title="None", sku="NONE")
    [later] = make_variants(shop, channel=selling, title="Later", sku="LATER", allow_backorder=True)
    [free] = make_variants(shop, channel=selling, title="Free", sku="FREE", track_inventory=False)
    stock(plenty, east, 50)
    stock(few, east, 2)
    services.level_settings_update(
        actor=SYSTEM_ACTOR, shop=shop, variant_id=few.pk, location_id=east.pk, low_stock_threshold=3
    )

    hidden = _by_sku(store_client)
    sell_from(selling, east, show_quantity=True)
    shown = _by_sku(store_client)

    expected = {
        "PLENTY-0": ("in_stock", 50),
        "FEW-0": ("low_stock", 2),
        "NONE-0": ("out_of_stock", 0),
        "LATER-0": ("backorder", 0),
        "FREE-0": ("in_stock", None),
    }
    assert {sku: item["status"] for sku, item in hidden.items()} == {
        sku: status for sku, (status, _) in expected.items()
    }
    assert {item["quantity"] for item in hidden.values()} == {None}
    assert {sku: (item["status"], item["quantity"]) for sku, item in shown.items()} == expected
    assert shown["FREE-0"]["id"] == str(free.pk)
    assert shown["LATER-0"]["product_id"] == str(later.product_id)


def test_what_is_shown_is_exactly_what_a_reservation_accepts(
    shop, selling, east, west, store_client
) -> None:
    sell_from(selling, east, west, show_quantity=True)
    variants = make_variants(shop, 3, channel=selling, sku="V")
    for variant, (at_east, at_west) in zip(variants, [(2, 3), (0, 1), (4, 0)], strict=True):
        stock(variant, east, at_east) if at_east else None
        stock(variant, west, at_west) if at_west else None
    reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=selling, owner="other", lines=[(variants[0].pk, 1)]
    )

    shown = _by_sku(store_client)

    for variant in variants:
        quantity = shown[variant.sku]["quantity"]
        with pytest.raises(InsufficientStock):
            reservations.reserve(
                actor=SYSTEM_ACTOR,
                shop=shop,
                channel=selling,
                owner=f"probe-{variant.pk}",
                lines=[(variant.pk, quantity + 1)],
            )
        reservations.reserve(
            actor=SYSTEM_ACTOR,
            shop=shop,
            channel=selling,
            owner=f"probe-{variant.pk}",
            lines=[(variant.pk, quantity)],
        )
    assert [shown[v.sku]["quantity"] for v in variants] == [4, 1, 4]


def test_expired_holds_do_not_count(shop, selling, east, store_client) -> None:
    sell_from(selling, east, show_quantity=True)
    [variant] = make_variants(shop, channel=selling, sku="HELD")
    stock(variant, east, 3)
    reservation = reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=selling, owner="c", lines=[(variant.pk, 3)]
    )
    held = _by_sku(store_client)["HELD-0"]

    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=past)
    ReservationLine.objects.filter(reservation=reservation).update(expires_at=past)
    expired = _by_sku(store_client)["HELD-0"]

    assert (held["status"], held["quantity"]) == ("out_of_stock", 0)
    assert (expired["status"], expired["quantity"]) == ("in_stock", 3)


def test_filters_and_the_channel_boundary(shop, selling, east, store_client) -> None:
    [a] = make_variants(shop, channel=selling, title="A", sku="A")
    [b] = make_variants(shop, channel=selling, title="B", sku="B")
    other = ChannelFactory(shop=shop, slug="other")
    [elsewhere] = make_variants(shop, channel=other, title="Elsewhere", sku="X")
    [draft] = make_variants(shop, title="Draft", sku="D")

    everything = _by_sku(store_client)
    by_product = _by_sku(store_client, product_ids=f"{a.product_id},{elsewhere.product_id}")
    by_variant = _by_sku(store_client, variant_ids=f"{b.pk},{draft.pk},junk")

    assert set(everything) == {"A-0", "B-0"}
    assert set(by_product) == {"A-0"}
    assert set(by_variant) == {"B-0"}


def test_a_page_of_products_costs_the_same_queries_whatever_its_size(
    shop, selling, east, django_assert_max_num_queries
) -> None:
    from django.test import Client

    products = []
    for index in range(30):
        variants = make_variants(shop, 3, channel=selling, title=f"P{index:02}", sku=f"P{index}")
        for variant in variants:
            stock(variant, east, index + 1)
        products.append(variants[0].product_id)
    client = Client(headers={"X-Publishable-Key": publishable_key(selling)})
    client.get(URL, {"limit": "1"})  # the key's use is recorded now

    def page(ids: list[int]) -> list[dict]:
        params = {"product_ids": ",".join(map(str, ids)), "limit": "100"}
        response = client.get(URL, params)
        assert response.status_code == 200
        return response.json()["items"]

    # key, variants page, channel settings, channel locations, levels
    with django_assert_max_num_queries(5):
        small = page(products[:3])
    with django_assert_max_num_queries(5):
        large = page(products)

    assert (len(small), len(large)) == (9, 90)
