"""
Store API search, filters, sorting and facets.

The whole suite runs on SQLite (FTS5) and again on PostgreSQL (tsvector) in
CI, so every test here states a behaviour both databases must share.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from merchantry.catalog import search, services
from merchantry.catalog.models import Category, Product, ProductChannelListing
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product

pytestmark = pytest.mark.django_db

URL = "/api/v1/store/products"


def _handles(client: Client, **params: object) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return [p["handle"] for p in response.json()["items"]]


# -- search --------------------------------------------------------------------------


def test_a_title_match_outranks_a_description_match(shop, channel, store_client) -> None:
    # Created first, so an ordering by id alone would put it first.
    make_product(shop, title="Canvas tote", channel=channel, description="<p>Linen lining</p>")
    make_product(shop, title="Plain mug", channel=channel, vendor="Linen & Co")
    make_product(shop, title="Linen shirt", channel=channel, description="<p>Cool</p>")

    assert _handles(store_client, q="linen") == ["linen-shirt", "plain-mug", "canvas-tote"]


def test_search_matches_word_prefixes_and_stems(shop, channel, store_client) -> None:
    make_product(shop, title="Linen shirts", channel=channel)
    make_product(shop, title="Wool scarf", channel=channel, tags=["winter"])

    assert _handles(store_client, q="lin") == ["linen-shirts"]
    assert _handles(store_client, q="shirt") == ["linen-shirts"]
    assert _handles(store_client, q="WINTER") == ["wool-scarf"]
    # Every word must match.
    assert _handles(store_client, q="linen wool") == []


def test_search_sees_changes_and_deletions(shop, channel, store_client) -> None:
    product = make_product(shop, title="Old name", channel=channel)
    services.product_update(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, changes={"title": "New name"}
    )
    assert _handles(store_client, q="new") == ["old-name"]  # the handle stays
    assert _handles(store_client, q="old") == []

    Product.objects.filter(pk=product.pk).delete()
    assert _handles(store_client, q="new") == []


@pytest.mark.parametrize(
    "text",
    ['"', "*", "a & b | !c", "NEAR(x y)", "title:x", "x) OR (y", "'; DROP TABLE x; --", "ä"],
)
def test_query_syntax_is_never_interpreted(shop, channel, store_client, text) -> None:
    make_product(shop, title="Linen shirt", channel=channel)

    response = store_client.get(URL, {"q": text})

    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


def test_search_stays_inside_the_channel(shop, channel, other_shop, other_channel) -> None:
    make_product(other_shop, title="Linen theirs", channel=other_channel)
    make_product(shop, title="Linen draft", channel=channel, status="draft")
    client = Client(headers={"X-Publishable-Key": _key(channel)})

    assert _handles(client, q="linen") == []


def _key(channel):
    from tests.factories import publishable_key

    return publishable_key(channel)


def test_the_sqlite_index_is_rebuilt_when_a_table_rebuild_dropped_its_triggers(
    shop, channel, store_client
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's generated column cannot lose its triggers.")
    with connection.cursor() as cursor:
        for name in ("insert", "update", "delete"):
            cursor.execute(f"DROP TRIGGER catalog_product_fts_{name}")
    make_product(shop, title="Written meanwhile", channel=channel)
    assert _handles(store_client, q="meanwhile") == []

    search.ensure_index()

    assert _handles(store_client, q="meanwhile") == ["written-meanwhile"]
    make_product(shop, title="Written after", channel=channel)
    assert _handles(store_client, q="after") == ["written-after"]


# -- filters and sorting --------------------------------------------------------------


@pytest.fixture
def assorted(shop, channel):
    make_product(shop, title="Cheap tee", channel=channel, price="5.00", vendor="Acme")
    make_product(
        shop,
        title="Mid tee",
        channel=channel,
        price="20.00",
        vendor="Bolt",
        product_type="Shirts",
        options=[{"name": "Size", "values": ["S", "M"]}, {"name": "Color", "values": ["Red"]}],
    )
    make_product(
        shop,
        title="Dear coat",
        channel=channel,
        price="120.00",
        vendor="acme",
        product_type="Coats",
        options=[{"name": "Size", "values": ["L"]}],
    )


def test_price_sort_pages_through_every_product_once(assorted, store_client) -> None:
    first = store_client.get(URL, {"sort": "-price", "limit": 2}).json()
    second = store_client.get(URL, {"sort": "-price", "limit": 2, "cursor": first["next_cursor"]})

    assert [p["handle"] for p in first["items"]] == ["dear-coat", "mid-tee"]
    assert [p["handle"] for p in second.json()["items"]] == ["cheap-tee"]
    assert second.json()["next_cursor"] is None
    assert _handles(store_client, sort="price") == ["cheap-tee", "mid-tee", "dear-coat"]


@pytest.mark.parametrize("cursor", ["garbage", "WyJ4Il0", "WyJ4IiwgLTFd", "WzEsMiwzXQ"])
def test_a_forged_cursor_is_a_400(assorted, store_client, cursor) -> None:
    response = store_client.get(URL, {"sort": "-price", "cursor": cursor})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_filters_by_price_range_vendor_type_and_option(assorted, store_client) -> None:
    assert _handles(store_client, price_min="20", price_max="100") == ["mid-tee"]
    assert _handles(store_client, price_min="20.00") == ["dear-coat", "mid-tee"]
    assert _handles(store_client, vendor="ACME") == ["cheap-tee", "dear-coat"]
    assert _handles(store_client, product_type="shirts") == ["mid-tee"]
    assert _handles(store_client, option="Size:L") == ["dear-coat"]
    # Values of one option widen the choice, a second option narrows it.
    assert _handles(store_client, option=["Size:L", "Size:M"]) == ["dear-coat", "mid-tee"]
    assert _handles(store_client, option=["Size:M", "Color:Red"]) == ["mid-tee"]
    assert _handles(store_client, option=["Size:L", "Color:Red"]) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"price_min": "cheap"}, "price_min"),
        ({"price_max": "-1"}, "price_max"),
        ({"option": "Size"}, "option"),
        ({"sort": "popularity"}, "sort"),
    ],
)
def test_bad_filters_are_clear_422s(assorted, store_client, params, field) -> None:
    response = store_client.get(URL, params)

    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in str(response.json()["errors"])


def test_filters_by_stock_and_category_with_its_subcategories(shop, channel, store_client) -> None:
    apparel = Category.objects.add_root({"shop": shop, "name": "Apparel", "handle": "apparel"})
    shirts = Category.objects.add_child(
        apparel, {"shop": shop, "name": "Shirts", "handle": "shirts"}
    )
    Category.objects.add_root({"shop": shop, "name": "Home", "handle": "home"})
    tee = make_product(shop, title="Tee", channel=channel)
    tee.categories.add(shirts)
    gone = make_product(shop, title="Sold out", channel=channel)
    gone.categories.add(apparel)
    ProductChannelListing.objects.filter(product=gone).update(in_stock=False)
    make_product(shop, title="Lamp", channel=channel)

    assert _handles(store_client, category="apparel") == ["sold-out", "tee"]
    assert _handles(store_client, category="shirts") == ["tee"]
    assert _handles(store_client, category="home") == []
    assert _handles(store_client, in_stock="true") == ["lamp", "tee"]
    assert _handles(store_client, in_stock="false") == ["sold-out"]
    assert store_client.get(URL, {"category": "nope"}).status_code == 404


def test_a_product_without_a_price_on_the_channel_is_not_for_sale(
    shop, channel, store_client
) -> None:
    make_product(shop, title="Unpriced", channel=channel, price=None)

    assert _handles(store_client) == []
    assert store_client.get(f"{URL}/unpriced").status_code == 404


def test_listing_price_range_follows_variant_prices(shop, channel, store_client) -> None:
    product = make_product(
        shop, title="Tee", channel=channel, options=[{"name": "Size", "values": ["S", "XL"]}]
    )
    xl = product.variants.get(option_values={"Size": "XL"})
    services.price_set(
        actor=SYSTEM_ACTOR,
        shop=shop,
        variant_id=xl.pk,
        channel_id=channel.pk,
        price=Decimal("24.50"),
    )

    item = store_client.get(URL).json()["items"][0]
    assert item["min_price"] == {"amount": "19.99", "currency": "USD"}
    assert item["max_price"] == {"amount": "24.50", "currency": "USD"}

    services.variant_delete(actor=SYSTEM_ACTOR, shop=shop, variant_id=xl.pk)
    item = store_client.get(URL).json()["items"][0]
    assert item["max_price"] == {"amount": "19.99", "currency": "USD"}


# -- facets ----------------------------------------------------------------------------


def test_facets_count_what_the_query_matches(assorted, shop, store_client) -> None:
    coats = Category.objects.add_root({"shop": shop, "name": "Coats", "handle": "coats"})
    Product.objects.get(handle="dear-coat").categories.add(coats)

    body = store_client.get("/api/v1/store/facets").json()

    assert body["total"] == 3
    assert body["price"] == {
        "min": {"amount": "5.00", "currency": "USD"},
        "max": {"amount": "120.00", "currency": "USD"},
    }
    assert body["in_stock"] == {"true": 3, "false": 0}
    assert body["categories"] == [{"handle": "coats", "name": "Coats", "count": 1}]
    assert {(v["value"], v["count"]) for v in body["vendors"]} == {
        ("Acme", 1),
        ("acme", 1),
        ("Bolt", 1),
    }
    sizes = next(o for o in body["options"] if o["name"] == "Size")
    assert sizes["values"] == [
        {"value": "L", "count": 1},
        {"value": "M", "count": 1},
        {"value": "S", "count": 1},
    ]

    narrowed = store_client.get("/api/v1/store/facets", {"q": "tee"}).json()
    assert narrowed["total"] == 2
    assert narrowed["categories"] == []


def test_common_english_words_are_searchable(shop, channel, store_client) -> None:
    # PostgreSQL's english configuration would drop these as stop words.
    make_product(shop, title="Few and far", channel=channel)
    make_product(shop, title="Over the top", channel=channel)

    assert _handles(store_client, q="few") == ["few-and-far"]
    assert _handles(store_client, q="top") == ["over-the-top"]


def test_the_list_filters_by_a_published_collection(shop, channel, store_client, admin_client):
    from merchantry.catalog.collections import collection_add_products, collection_create

    tee = make_product(shop, title="Tee", channel=channel, tags=["summer"])
    make_product(shop, title="Coat", channel=channel)
    hidden = make_product(shop, title="Draft hat", channel=channel, status="draft", tags=["summer"])
    picks = collection_create(actor=SYSTEM_ACTOR, shop=shop, title="Picks", is_published=True)
    collection_add_products(
        actor=SYSTEM_ACTOR, shop=shop, collection_id=picks.pk, product_ids=[tee.pk, hidden.pk]
    )
    summer = collection_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        title="Summer",
        kind="automated",
        rules=[{"field": "tag", "op": "equals", "value": "summer"}],
        is_published=True,
    )
    collection_create(actor=SYSTEM_ACTOR, shop=shop, title="Secret", is_published=False)

    assert _handles(store_client, collection="picks") == ["tee"]
    assert _handles(store_client, collection="summer") == ["tee"]
    assert store_client.get(URL, {"collection": "secret"}).status_code == 404
    admin = admin_client.get("/api/v1/admin/products", {"collection_id": summer.pk}).json()
    assert sorted(p["title"] for p in admin["items"]) == ["Draft hat", "Tee"]
