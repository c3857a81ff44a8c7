"""
Store API: only what the key's channel sells, priced in its currency, with a
bounded number of queries.

Budgets (SQL queries per request, the publishable-key lookup included): the
list 3 (key, the page of listings joined to products and featured images, the
variants joined to their channel price), the detail 6 (key, product, option
values, media, categories, variants); the same whether the page holds 3 or 30
products, or a product 1 or 20 variants.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from merchantry.catalog import services
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory, publishable_key

pytestmark = pytest.mark.django_db

# Per request, once the key's last use is recorded (at most once a minute).
# Seen: list 3, detail 6. Neither grows with the page size or the variants.
LIST_BUDGET = 3
DETAIL_BUDGET = 6
SIZES = [{"name": "Size", "values": [f"S{i}" for i in range(20)]}]


def _handles(client: Client, **params: str) -> list[str]:
    response = client.get("/api/v1/store/products", params)
    assert response.status_code == 200, response.content
    return [p["handle"] for p in response.json()["items"]]


def test_the_list_shows_published_products_with_the_channels_prices(
    shop, channel, store_client
) -> None:
    make_product(shop, title="Tee", channel=channel, price="9.50", tags=["Cotton"])

    body = store_client.get("/api/v1/store/products").json()

    assert body["next_cursor"] is None
    [item] = body["items"]
    assert (item["handle"], item["tags"]) == ("tee", ["Cotton"])
    assert item["min_price"] == {"amount": "9.50", "currency": "USD"}
    assert item["variants"][0]["price"] == {"amount": "9.50", "currency": "USD"}


def test_a_product_of_channel_a_is_invisible_in_channel_b(shop, channel, store_client) -> None:
    other = ChannelFactory(shop=shop, slug="b", currency="EUR")
    make_product(shop, title="Only in B", channel=other, price="3.00")
    b_client = Client(headers={"X-Publishable-Key": publishable_key(other)})

    assert _handles(store_client) == []
    assert store_client.get("/api/v1/store/products/only-in-b").status_code == 404
    assert _handles(b_client) == ["only-in-b"]
    b_item = b_client.get("/api/v1/store/products/only-in-b").json()
    assert b_item["min_price"] == {"amount": "3.00", "currency": "EUR"}


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_draft_and_archived_products_never_appear(shop, channel, store_client, status) -> None:
    make_product(shop, title="Hidden", channel=channel, status=status)

    assert _handles(store_client) == []
    assert store_client.get("/api/v1/store/products/hidden").status_code == 404


def test_unpublished_and_future_products_never_appear(shop, channel, store_client) -> None:
    gone = make_product(shop, title="Gone", channel=channel)
    services.listing_unpublish(
        actor=SYSTEM_ACTOR, shop=shop, product_id=gone.pk, channel_id=channel.pk
    )
    later = make_product(shop, title="Later")
    services.listing_publish(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=later.pk,
        channel_id=channel.pk,
        published_at=timezone.now() + timedelta(days=1),
    )
    make_product(shop, title="Now", channel=channel)

    assert _handles(store_client) == ["now"]
    assert store_client.get("/api/v1/store/products/later").status_code == 404
    assert store_client.get("/api/v1/store/products/gone").status_code == 404


def test_another_shops_products_never_appear(shop, channel, other_shop, other_channel) -> None:
    make_product(other_shop, title="Theirs", channel=other_channel)
    client = Client(headers={"X-Publishable-Key": publishable_key(channel)})

    assert _handles(client) == []
    assert client.get("/api/v1/store/products/theirs").status_code == 404


def test_the_list_filters_by_tag_and_text(shop, channel, store_client) -> None:
    make_product(shop, title="Red shirt", channel=channel, tags=["red"])
    make_product(shop, title="Blue shirt", channel=channel, tags=["blue"])
    make_product(shop, title="Red mug", channel=channel, tags=["RED"])

    assert _handles(store_client, tag="red") == ["red-mug", "red-shirt"]
    assert _handles(store_client, q="shirt", sort="title") == ["blue-shirt", "red-shirt"]


def test_detail_has_options_and_sanitized_description(shop, channel, store_client) -> None:
    make_product(
        shop,
        title="Tee",
        channel=channel,
        options=[{"name": "Size", "values": ["S", "M"]}],
        description="<p>Soft<script>x()</script></p>",
    )

    body = store_client.get("/api/v1/store/products/tee").json()

    assert body["description"] == "<p>Soft</p>"
    assert body["options"][0]["values"] == ["S", "M"]
    assert [v["option_values"] for v in body["variants"]] == [{"Size": "S"}, {"Size": "M"}]


def _count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


def test_list_queries_do_not_grow_with_page_size(
    shop, channel, store_client, django_assert_max_num_queries
) -> None:
    store_client.get("/api/v1/store/products")  # the key's first use also records it
    for i in range(3):
        make_product(shop, title=f"Few {i}", channel=channel)
    small = _count(store_client, "/api/v1/store/products?q=few")
    for i in range(30):
        make_product(
            shop, title=f"Many {i}", channel=channel, options=[{"name": "S", "values": ["a", "b"]}]
        )

    with django_assert_max_num_queries(LIST_BUDGET):
        response = store_client.get("/api/v1/store/products?q=many")

    assert len(response.json()["items"]) == 30
    assert _count(store_client, "/api/v1/store/products?q=many") == small


def test_detail_queries_do_not_grow_with_variants(
    shop, channel, store_client, django_assert_max_num_queries
) -> None:
    make_product(shop, title="One", channel=channel, options=[{"name": "Size", "values": ["S"]}])
    make_product(shop, title="Twenty", channel=channel, options=SIZES)
    store_client.get("/api/v1/store/products")  # the key's first use also records it
    one = _count(store_client, "/api/v1/store/products/one")

    with django_assert_max_num_queries(DETAIL_BUDGET):
        response = store_client.get("/api/v1/store/products/twenty")

    assert len(response.json()["variants"]) == 20
    assert _count(store_client, "/api/v1/store/products/twenty") == one


def test_images_reach_the_store_as_thumbnail_urls(shop, channel, store_client, media_root) -> None:
    from merchantry.catalog.media import media_upload
    from tests.catalog.images import image_bytes, upload

    product = make_product(
        shop, title="Tee", channel=channel, options=[{"name": "Size", "values": ["S", "M"]}]
    )
    small = product.variants.order_by("position").first()
    first = media_upload(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, file=upload(image_bytes("PNG"))
    )
    media_upload(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        file=upload(image_bytes("JPEG")),
        alt="Small",
        variant_ids=[small.pk],
    )

    [item] = store_client.get("/api/v1/store/products").json()["items"]
    detail = store_client.get("/api/v1/store/products/tee").json()

    assert first.image.name in item["thumbnail_url"]
    assert [m["alt"] for m in detail["media"]] == ["", "Small"]
    assert detail["media"][1]["variant_ids"] == [str(small.pk)]
    assert detail["media"][0]["thumbnail_url"] == item["thumbnail_url"]
    assert store_client.get(item["thumbnail_url"]).status_code == 200
