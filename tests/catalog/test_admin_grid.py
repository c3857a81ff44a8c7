"""The product list's filters and bulk actions, and the variants and prices grid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from merchantry.catalog.models import (
    Category,
    Product,
    ProductChannelListing,
    VariantChannelPrice,
)
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory
from tests.test_admin_tenancy import member, staff_client

pytestmark = pytest.mark.django_db

LIST = "admin:catalog_product_changelist"


@pytest.fixture
def manager(shop):
    return staff_client(member(shop, "catalog_manager"), shop)


def _act(client, action: str, products, value: str = ""):
    return client.post(
        reverse(LIST),
        {
            "action": action,
            "_selected_action": [str(p.pk) for p in products],
            "value": value,
            "select_across": "0",
            "index": "0",
        },
        follow=True,
    )


def test_filters_by_category_channel_and_stock(shop, channel, manager) -> None:
    apparel = Category.objects.add_root({"shop": shop, "name": "Apparel", "handle": "apparel"})
    shirts = Category.objects.add_child(apparel, {"shop": shop, "name": "Shirts", "handle": "s"})
    tee = make_product(shop, title="Tee-x1", channel=channel)
    tee.categories.add(shirts)
    make_product(shop, title="Lamp-x1")
    gone = make_product(shop, title="Gone-x1", channel=channel)
    ProductChannelListing.objects.filter(product=gone).update(in_stock=False)
    url = reverse(LIST)

    in_apparel = manager.get(url, {"category": apparel.pk}).content.decode()
    on_channel = manager.get(url, {"channel": channel.pk}).content.decode()
    out = manager.get(url, {"stock": "out"}).content.decode()

    assert "Tee-x1" in in_apparel
    assert "Lamp-x1" not in in_apparel
    assert "Tee-x1" in on_channel
    assert "Gone-x1" in on_channel
    assert "Lamp-x1" not in on_channel
    assert "Gone-x1" in out
    assert "Tee-x1" not in out


def test_bulk_publish_tag_and_activate_go_through_the_services(shop, channel, manager) -> None:
    other = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    a = make_product(shop, title="A", status="draft")
    b = make_product(shop, title="B", status="draft")

    assert _act(manager, "publish_products", [a, b], "eu").status_code == 200
    assert _act(manager, "tag_products", [a, b], "Summer").status_code == 200
    _act(manager, "activate_products", [a])

    listings = ProductChannelListing.objects.filter(is_published=True)
    assert {(x.product_id, x.channel_id) for x in listings} == {(a.pk, other.pk), (b.pk, other.pk)}
    assert Product.objects.get(pk=a.pk).tags == ["Summer"]
    assert Product.objects.get(pk=a.pk).status == "active"
    assert Product.objects.get(pk=b.pk).status == "draft"

    _act(manager, "publish_products", [a])  # blank: every channel
    assert ProductChannelListing.objects.filter(product=a, is_published=True).count() == 2
    _act(manager, "untag_products", [a, b], "summer")
    assert Product.objects.get(pk=b.pk).tags == []


def test_a_bulk_action_with_an_unknown_channel_changes_nothing(shop, manager) -> None:
    a = make_product(shop, title="A")

    page = _act(manager, "publish_products", [a], "nope").content.decode()

    assert "No channel with the slug" in page
    assert not ProductChannelListing.objects.exists()


def test_the_grid_saves_variants_and_prices_on_every_channel(shop, channel, manager) -> None:
    eu = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    product = make_product(
        shop, title="Tee", channel=channel, options=[{"name": "Size", "values": ["S", "M"]}]
    )
    s, m = product.variants.order_by("position")
    url = reverse("admin:catalog_product_variants", args=[product.pk])
    assert "19.99" in manager.get(url).content.decode()

    response = manager.post(
        url,
        {
            f"v{s.pk}-sku": "TEE-S",
            f"v{s.pk}-weight_grams": "180",
            f"p{s.pk}-{channel.pk}-price": "19.99",
            f"p{s.pk}-{eu.pk}-price": "18.50",
            f"p{s.pk}-{eu.pk}-compare_at_price": "25",
            f"p{m.pk}-{channel.pk}-price": "21.00",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    s.refresh_from_db()
    assert (s.sku, s.weight_grams) == ("TEE-S", 180)
    eu_price = VariantChannelPrice.objects.get(variant=s, channel=eu)
    assert (eu_price.price, eu_price.compare_at_price, eu_price.currency) == (
        Decimal("18.50"),
        Decimal("25"),
        "EUR",
    )
    assert VariantChannelPrice.objects.get(variant=m, channel=channel).price == Decimal("21.00")


def test_one_bad_cell_saves_nothing_and_says_why(shop, channel, manager) -> None:
    product = make_product(
        shop, title="Tee", channel=channel, options=[{"name": "Size", "values": ["S", "M"]}]
    )
    s, m = product.variants.order_by("position")
    url = reverse("admin:catalog_product_variants", args=[product.pk])

    page = manager.post(
        url,
        {
            f"v{s.pk}-sku": "TEE-S",
            f"p{s.pk}-{channel.pk}-price": "5.00",
            f"p{m.pk}-{channel.pk}-price": "1.999",
        },
    ).content.decode()

    assert "Nothing was saved" in page
    assert "at most 2 decimal places" in page
    s.refresh_from_db()
    assert s.sku is None
    assert VariantChannelPrice.objects.get(variant=s, channel=channel).price == Decimal("19.99")


def test_the_grid_of_another_shops_product_is_not_shown(shop, other_shop, manager) -> None:
    theirs = make_product(other_shop, title="Theirs")

    response = manager.get(reverse("admin:catalog_product_variants", args=[theirs.pk]))

    assert response.status_code == 302
    assert "Theirs" not in manager.get(response.url).content.decode()


def test_a_viewer_sees_the_grid_but_cannot_save_it(shop, channel) -> None:
    viewer = staff_client(member(shop, "read_only"), shop)
    product = make_product(shop, title="Tee", channel=channel)
    variant = product.variants.get()
    url = reverse("admin:catalog_product_variants", args=[product.pk])

    assert "readonly" in viewer.get(url).content.decode()
    viewer.post(url, {f"p{variant.pk}-{channel.pk}-price": "1.00"})

    assert VariantChannelPrice.objects.get(variant=variant).price == Decimal("19.99")
