"""Admin API for products, options, variants, listings and prices."""

from __future__ import annotations

import pytest
from django.test import Client

from merchantry.catalog import services
from merchantry.catalog.models import Product, ProductVariant, VariantChannelPrice
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory, secret_key

pytestmark = pytest.mark.django_db


def _post(client: Client, url: str, body: dict) -> object:
    return client.post(url, body, content_type="application/json")


def test_a_product_is_created_with_its_default_variant(admin_client) -> None:
    response = _post(
        admin_client,
        "/api/v1/admin/products",
        {"title": "Linen Shirt", "tags": ["Summer", "linen"], "description": "<p>Cool</p>"},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["handle"], body["status"], body["tags"]) == (
        "linen-shirt",
        "draft",
        ["Summer", "linen"],
    )
    assert [v["option_values"] for v in body["variants"]] == [{}]
    assert body["channel_listings"] == []


def test_options_generate_variants_and_prices_are_set_per_channel(shop, admin_client) -> None:
    eur = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    product = make_product(shop)
    url = f"/api/v1/admin/products/{product.pk}"

    options = admin_client.put(
        f"{url}/options",
        {"options": [{"name": "Size", "values": ["S", "M"]}]},
        content_type="application/json",
    )
    generated = _post(admin_client, f"{url}/variants/generate", {})
    variant_id = generated.json()[1]["id"]
    priced = admin_client.put(
        f"/api/v1/admin/variants/{variant_id}/prices",
        {"channel_id": str(eur.pk), "price": "12.50", "compare_at_price": "15"},
        content_type="application/json",
    )
    published = _post(admin_client, f"{url}/publish", {"channel_id": str(eur.pk)})
    detail = admin_client.get(url).json()

    assert options.json()[0]["values"] == ["S", "M"]
    assert [v["title"] for v in generated.json()] == ["S", "M"]
    assert priced.json() == {
        "channel_id": str(eur.pk),
        "price": {"amount": "12.50", "currency": "EUR"},
        "compare_at_price": {"amount": "15.00", "currency": "EUR"},
    }
    assert published.json()["is_published"] is True
    assert detail["variants"][1]["prices"] == [priced.json()]
    assert detail["channel_listings"][0]["channel_id"] == str(eur.pk)


@pytest.mark.parametrize(
    ("_case", "currency", "price", "code"),
    [
        ("negative", "USD", "-1", "negative"),
        ("yen has no cents", "JPY", "10.5", "too_many_decimals"),
        ("dinar has 3 decimals", "BHD", "1.0001", "too_many_decimals"),
        ("not a number", "USD", "twelve", "not_a_number"),
    ],
)
def test_invalid_prices_are_422(shop, admin_client, _case, currency, price, code) -> None:
    channel = ChannelFactory(shop=shop, slug="c", currency=currency)
    variant = make_product(shop).variants.get()

    response = admin_client.put(
        f"/api/v1/admin/variants/{variant.pk}/prices",
        {"channel_id": str(channel.pk), "price": price},
        content_type="application/json",
    )

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [(["price"], code)]
    assert not VariantChannelPrice.objects.exists()


def test_list_filters_and_sorts(shop, admin_client) -> None:
    make_product(shop, title="Banana", tags=["fruit"])
    make_product(shop, title="Apple", tags=["Fruit", "red"])
    make_product(shop, title="Chair", status="draft")
    make_product(shop, title="Archived apple", status="archived")

    def titles(**params: str) -> list[str]:
        response = admin_client.get("/api/v1/admin/products", params)
        assert response.status_code == 200, response.content
        return [p["title"] for p in response.json()["items"]]

    assert titles(sort="title") == ["Apple", "Archived apple", "Banana", "Chair"]
    assert titles(status="draft") == ["Chair"]
    assert titles(tag="fruit", sort="title") == ["Apple", "Banana"]
    assert titles(q="APPLE", sort="-title") == ["Archived apple", "Apple"]
    assert titles(updated_since="2999-01-01T00:00:00Z") == []


def test_list_pages_with_a_cursor(shop, admin_client) -> None:
    for title in ("A", "B", "C"):
        make_product(shop, title=title)

    first = admin_client.get("/api/v1/admin/products", {"sort": "title", "limit": 2}).json()
    second = admin_client.get(
        "/api/v1/admin/products", {"sort": "title", "limit": 2, "cursor": first["next_cursor"]}
    ).json()

    assert [p["title"] for p in first["items"]] == ["A", "B"]
    assert [p["title"] for p in second["items"]] == ["C"]
    assert second["next_cursor"] is None


def test_delete_archives(shop, admin_client) -> None:
    product = make_product(shop)

    response = admin_client.delete(f"/api/v1/admin/products/{product.pk}")

    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert Product.objects.get(pk=product.pk).status == "archived"


def test_catalog_view_reads_but_cannot_write(shop) -> None:
    product = make_product(shop)
    variant = product.variants.get()
    viewer = Client(headers={"Authorization": f"Bearer {secret_key(shop, ['catalog.view'])}"})

    read = viewer.get(f"/api/v1/admin/products/{product.pk}")
    listed = viewer.get("/api/v1/admin/products")
    variant_read = viewer.get(f"/api/v1/admin/variants/{variant.pk}")
    writes = [
        _post(viewer, "/api/v1/admin/products", {"title": "New"}),
        viewer.patch(
            f"/api/v1/admin/products/{product.pk}", {"title": "X"}, content_type="application/json"
        ),
        viewer.delete(f"/api/v1/admin/products/{product.pk}"),
        _post(viewer, f"/api/v1/admin/products/{product.pk}/variants/generate", {}),
        viewer.patch(
            f"/api/v1/admin/variants/{variant.pk}", {"sku": "X"}, content_type="application/json"
        ),
    ]

    assert [read.status_code, listed.status_code, variant_read.status_code] == [200, 200, 200]
    assert [w.status_code for w in writes] == [403] * 5
    product.refresh_from_db()
    assert (product.title, product.status) == ("Linen shirt", "active")
    assert Product.objects.count() == 1
    assert ProductVariant.objects.get().sku is None


def test_no_permission_cannot_read(shop) -> None:
    client = Client(headers={"Authorization": f"Bearer {secret_key(shop, ['orders.view'])}"})

    assert client.get("/api/v1/admin/products").status_code == 403


def test_the_list_filters_by_category_channel_stock_and_sku(shop, channel, admin_client) -> None:
    from merchantry.catalog.models import Category, ProductChannelListing

    apparel = Category.objects.add_root({"shop": shop, "name": "Apparel", "handle": "apparel"})
    shirts = Category.objects.add_child(apparel, {"shop": shop, "name": "Shirts", "handle": "s"})
    tee = make_product(shop, title="Tee", channel=channel)
    tee.categories.add(shirts)
    lamp = make_product(shop, title="Lamp")
    services.variant_update(
        actor=SYSTEM_ACTOR,
        shop=shop,
        variant_id=lamp.variants.get().pk,
        changes={"sku": "LAMP-01"},
    )
    gone = make_product(shop, title="Gone", channel=channel)
    ProductChannelListing.objects.filter(product=gone).update(in_stock=False)

    def titles(**params):
        response = admin_client.get("/api/v1/admin/products", {"sort": "title", **params})
        assert response.status_code == 200, response.content
        return [p["title"] for p in response.json()["items"]]

    assert titles(category_id=apparel.pk) == ["Tee"]
    assert titles(channel_id=channel.pk) == ["Gone", "Tee"]
    assert titles(in_stock="false") == ["Gone"]
    assert titles(q="LAMP-01") == ["Lamp"]
    for field in ("category_id", "collection_id"):
        response = admin_client.get("/api/v1/admin/products", {field: "999999"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == [field]
    assert admin_client.get("/api/v1/admin/products", {"channel_id": "x"}).status_code == 422
