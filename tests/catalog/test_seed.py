"""`merchantry seed catalog`: consistent, realistic, deterministic sample catalogs."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Count, Max, Min

from merchantry.catalog.models import (
    Category,
    Product,
    ProductChannelListing,
    ProductMedia,
    ProductVariant,
    VariantChannelPrice,
)
from merchantry.catalog.seed import SeedError, seed_catalog
from merchantry.catalog.services import refresh_price_ranges, sanitize_description
from merchantry.cli import main
from merchantry.core.money import Money
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _catalog(shop) -> list[tuple]:
    return [
        (
            p.handle, p.title, p.description, p.vendor, p.tags, p.status,
            [(o.name, [v.value for v in o.values.all()]) for o in p.options.all()],
            [
                (v.sku, v.title, v.option_values, [(x.price, x.compare_at_price)
                                                   for x in v.prices.all()])
                for v in p.variants.order_by("position")
            ],
        )
        for p in Product.objects.for_shop(shop)
        .order_by("pk")
        .prefetch_related("options__values", "variants__prices")
    ]  # fmt: skip


def test_a_seeded_catalog_is_consistent(shop, channel) -> None:
    report = seed_catalog(shop=shop, channel=channel, products=200, seed=1)

    products = Product.objects.for_shop(shop)
    assert report.products == products.count() == 200
    assert report.variants == ProductVariant.objects.for_shop(shop).count()
    assert 2.5 <= report.variants / 200 <= 4  # about three variants a product
    assert not products.annotate(n=Count("variants")).filter(n=0).exists()
    # handles unique, SKUs unique and present
    assert products.values("handle").distinct().count() == 200
    skus = list(ProductVariant.objects.for_shop(shop).values_list("sku", flat=True))
    assert None not in skus
    assert len(set(skus)) == len(skus)
    # every variant priced exactly in the channel's currency
    prices = VariantChannelPrice.objects.for_shop(shop)
    assert prices.count() == len(skus)
    for price in prices:
        assert price.currency == channel.currency
        assert Money(price.price, channel.currency).amount == price.price
    # listings: what refresh_price_ranges would compute, published when active
    ranges = {
        row["variant__product_id"]: (row["low"], row["high"])
        for row in prices.values("variant__product_id").annotate(
            low=Min("price"), high=Max("price")
        )
    }
    listings = list(ProductChannelListing.objects.filter(channel=channel).select_related("product"))
    assert len(listings) == 200
    for listing in listings:
        assert (listing.price_min, listing.price_max) == ranges[listing.product_id]
        assert listing.is_published == (listing.product.status == "active")
        assert listing.product.was_published == listing.is_published
    before = list(ProductChannelListing.objects.values_list("price_min", "price_max"))
    refresh_price_ranges(products.values_list("pk", flat=True))
    assert list(ProductChannelListing.objects.values_list("price_min", "price_max")) == before


def test_seeded_products_are_what_the_services_would_write(shop, channel) -> None:
    seed_catalog(shop=shop, channel=channel, products=50, seed=2)

    for product in Product.objects.for_shop(shop).prefetch_related("options__values", "variants"):
        assert product.tags_index == "".join(f"|{t.lower()}" for t in product.tags) + "|"
        assert product.description == sanitize_description(product.description)
        assert product.description.startswith("<p>")
        assert 1 <= product.options.count() <= 3
        names = [o.name for o in product.options.all()]
        for variant in product.variants.all():
            # (PostgreSQL's jsonb keeps no key order: the options' order is the order)
            assert sorted(variant.option_values) == sorted(names)
            assert variant.title == " / ".join(variant.option_values[n] for n in names)
        assert product.categories.count() == 1


def test_the_category_tree_has_about_thirty_nodes_and_is_reused(shop, channel) -> None:
    seed_catalog(shop=shop, channel=channel, products=20, seed=3)
    seed_catalog(shop=shop, channel=channel, products=20, seed=4)

    categories = Category.objects.filter(shop=shop)
    assert categories.count() == 30
    assert Counter(c.depth for c in categories) == {1: 5, 2: 14, 3: 11}
    assert Category.objects.find_problems() == ([], [], [], [], [])


def test_the_same_seed_gives_the_same_catalog(shop, channel, other_shop) -> None:
    other = ChannelFactory(shop=other_shop, slug="web", currency=channel.currency)

    seed_catalog(shop=shop, channel=channel, products=30, seed=7)
    seed_catalog(shop=other_shop, channel=other, products=30, seed=7)

    assert _catalog(shop) == _catalog(other_shop)


def test_seeding_again_adds_products_with_fresh_handles_and_skus(shop, channel) -> None:
    seed_catalog(shop=shop, channel=channel, products=40, seed=5)
    seed_catalog(shop=shop, channel=channel, products=40, seed=5)

    assert Product.objects.for_shop(shop).values("handle").distinct().count() == 80
    skus = ProductVariant.objects.for_shop(shop).values_list("sku", flat=True)
    assert len(set(skus)) == len(skus)


def test_prices_follow_the_channels_currency(shop) -> None:
    yen = ChannelFactory(shop=shop, slug="jp", currency="JPY")

    seed_catalog(shop=shop, channel=yen, products=20, seed=6)

    for price in VariantChannelPrice.objects.for_shop(shop):
        assert price.currency == "JPY"
        assert price.price == price.price.to_integral_value()
        assert price.price >= Decimal(5)


def test_images_are_generated_when_asked(shop, channel) -> None:
    seed_catalog(shop=shop, channel=channel, products=3, seed=8, images=True)

    media = list(ProductMedia.objects.for_shop(shop))
    assert len(media) == 3
    assert all(m.image.name.startswith(f"products/{shop.pk}/") for m in media)
    assert all(m.image.storage.exists(m.image.name) for m in media)
    assert all(p.featured_media_id for p in Product.objects.for_shop(shop))


def test_the_command_line(shop, channel, capsys) -> None:
    code = main(["seed", "catalog", "--shop", shop.slug, "--products", "12", "--seed", "9"])

    out = capsys.readouterr().out
    assert code == 0
    assert "Seeded 12 products" in out
    assert Product.objects.for_shop(shop).count() == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shop", "nope", "--products", "5"], "No shop 'nope'"),
        (["--shop", "acme", "--products", "5", "--channel", "nope"], "no channel 'nope'"),
        (["--shop", "acme", "--products", "0"], "between 1 and"),
    ],
)
def test_the_command_line_refuses_bad_input(shop, channel, capsys, args, message) -> None:
    code = main(["seed", "catalog", *args])

    assert code == 1
    assert message in capsys.readouterr().err
    assert not Product.objects.exists()


def test_a_channel_of_another_shop_is_refused(shop) -> None:
    with pytest.raises(SeedError):
        seed_catalog(shop=shop, channel=ChannelFactory(slug="elsewhere"), products=1)


def test_a_shop_without_a_channel_is_refused_by_the_command(shop, capsys) -> None:
    code = main(["seed", "catalog", "--shop", shop.slug, "--products", "1"])

    assert code == 1
    assert "has no channel" in capsys.readouterr().err
