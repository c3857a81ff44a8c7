"""Catalog services: handles, SKUs, descriptions, options and variant generation, prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from merchantry.catalog import services
from merchantry.catalog.models import Product, ProductVariant, VariantChannelPrice
from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, PermissionDenied, ValidationFailed
from merchantry.core.events import OutboxEvent
from merchantry.core.models import AuditEvent
from merchantry.core.money import minor_unit_exponent
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _codes(exc: ValidationFailed) -> list[tuple[tuple, str]]:
    return [(e.loc, e.code) for e in exc.errors]


def test_a_product_gets_a_handle_from_its_title_deduplicated_per_shop(
    shop, other_shop, actor
) -> None:
    first = services.product_create(actor=actor, shop=shop, title="Linen Shirt!")
    second = services.product_create(actor=actor, shop=shop, title="Linen shirt")
    elsewhere = services.product_create(actor=actor, shop=other_shop, title="Linen shirt")

    assert (first.handle, second.handle, elsewhere.handle) == (
        "linen-shirt",
        "linen-shirt-2",
        "linen-shirt",
    )


def test_an_explicit_duplicate_handle_is_refused(shop, actor) -> None:
    services.product_create(actor=actor, shop=shop, title="A", handle="shirt")

    with pytest.raises(ValidationFailed) as caught:
        services.product_create(actor=actor, shop=shop, title="B", handle="shirt")

    assert _codes(caught.value) == [(("handle",), "unique")]
    assert Product.objects.for_shop(shop).count() == 1


def test_a_published_products_handle_is_frozen(shop, channel, actor) -> None:
    product = make_product(shop, channel=channel)

    with pytest.raises(ValidationFailed) as caught:
        services.product_update(
            actor=actor, shop=shop, product_id=product.pk, changes={"handle": "renamed"}
        )

    assert _codes(caught.value) == [(("handle",), "frozen")]
    product.refresh_from_db()
    assert product.handle == "linen-shirt"


def test_a_product_without_options_has_one_default_variant(shop, actor) -> None:
    product = services.product_create(actor=actor, shop=shop, title="Mug")

    variants = list(product.variants.values_list("option_values", "title"))

    assert variants == [({}, "Mug")]
    assert OutboxEvent.objects.filter(type="product.changed", shop_id=shop.pk).count() == 1


def test_descriptions_are_sanitized(shop, actor) -> None:
    product = services.product_create(
        actor=actor,
        shop=shop,
        title="Mug",
        description=(
            '<p onclick="steal()">Hot <b>coffee</b></p><script>alert(1)</script>'
            '<a href="javascript:alert(1)">x</a><img src=x onerror=alert(1)>'
        ),
    )

    assert (
        product.description == '<p>Hot <b>coffee</b></p><a rel="noopener noreferrer nofollow">x</a>'
    )


def test_skus_are_unique_per_shop_but_shared_across_shops(shop, other_shop, actor) -> None:
    ours = services.product_create(actor=actor, shop=shop, title="Mug")
    theirs = services.product_create(actor=actor, shop=other_shop, title="Mug")
    other = services.product_create(actor=actor, shop=shop, title="Cup")
    services.variant_update(
        actor=actor, shop=shop, variant_id=ours.variants.get().pk, changes={"sku": "MUG-1"}
    )
    services.variant_update(
        actor=actor, shop=other_shop, variant_id=theirs.variants.get().pk, changes={"sku": "MUG-1"}
    )

    with pytest.raises(ValidationFailed) as caught:
        services.variant_update(
            actor=actor, shop=shop, variant_id=other.variants.get().pk, changes={"sku": "MUG-1"}
        )

    assert _codes(caught.value) == [(("sku",), "unique")]
    assert other.variants.get().sku is None
    assert ProductVariant.objects.filter(sku="MUG-1").count() == 2


def test_empty_skus_do_not_collide(shop, actor) -> None:
    services.product_create(actor=actor, shop=shop, title="A")
    services.product_create(actor=actor, shop=shop, title="B")

    assert list(ProductVariant.objects.for_shop(shop).values_list("sku", flat=True)) == [None, None]


def test_generation_makes_every_combination_and_keeps_existing_variants(shop, actor) -> None:
    # given: a product whose default variant has a SKU and a price
    channel = ChannelFactory(shop=shop, slug="web")
    product = make_product(shop, channel=channel, price="10.00")
    default = product.variants.get()
    services.variant_update(actor=actor, shop=shop, variant_id=default.pk, changes={"sku": "TEE"})
    services.options_set(
        actor=actor, shop=shop, product_id=product.pk, options=[{"name": "Size", "values": ["S"]}]
    )
    services.variants_generate(actor=actor, shop=shop, product_id=product.pk)

    # when: options grow and variants are generated again
    services.options_set(
        actor=actor,
        shop=shop,
        product_id=product.pk,
        options=[
            {"name": "Size", "values": ["S", "M"]},
            {"name": "Color", "values": ["Red", "Blue"]},
        ],
    )
    variants = services.variants_generate(actor=actor, shop=shop, product_id=product.pk)
    services.options_set(
        actor=actor,
        shop=shop,
        product_id=product.pk,
        options=[{"name": "Size", "values": ["S", "M"]}],
    )
    services.variants_generate(actor=actor, shop=shop, product_id=product.pk)
    again = services.variants_generate(actor=actor, shop=shop, product_id=product.pk)

    # then: the first generation adopted the default variant; the later ones kept "S"
    assert [v.title for v in variants] == ["S / Red", "S / Blue", "M / Red", "M / Blue"]
    assert [(v.option_values, v.sku) for v in again] == [
        ({"Size": "S"}, "TEE"),
        ({"Size": "M"}, None),
    ]
    assert again[0].pk == default.pk
    deleted = AuditEvent.objects.filter(action="variant.delete", shop_id=shop.pk)
    assert deleted.count() == 1  # the Color variants went when Color did
    assert VariantChannelPrice.objects.get(variant=default).price == Decimal("10.00")


def test_options_must_be_distinct(shop, actor) -> None:
    product = services.product_create(actor=actor, shop=shop, title="Tee")

    with pytest.raises(ValidationFailed):
        services.options_set(
            actor=actor,
            shop=shop,
            product_id=product.pk,
            options=[{"name": "Size", "values": ["S", "s"]}],
        )

    assert product.options.count() == 0


def test_the_last_variant_cannot_be_deleted(shop, actor) -> None:
    product = services.product_create(actor=actor, shop=shop, title="Mug")

    with pytest.raises(Conflict):
        services.variant_delete(actor=actor, shop=shop, variant_id=product.variants.get().pk)

    assert product.variants.count() == 1


def test_archiving_is_audited(shop, actor) -> None:
    product = services.product_create(actor=actor, shop=shop, title="Mug")

    services.product_archive(actor=actor, shop=shop, product_id=product.pk)

    product.refresh_from_db()
    assert product.status == "archived"
    assert AuditEvent.objects.filter(action="product.archive", shop_id=shop.pk).count() == 1


@pytest.mark.parametrize(
    ("_case", "currency", "price", "code"),
    [
        ("negative", "USD", "-1.00", "negative"),
        ("cents in JPY", "JPY", "100.5", "too_many_decimals"),
        ("4 decimals in BHD", "BHD", "1.2345", "too_many_decimals"),
        ("3 decimals in USD", "USD", "1.999", "too_many_decimals"),
        ("not a number", "USD", "abc", "not_a_number"),
        ("infinity", "USD", "Infinity", "not_a_number"),
        ("a float", "USD", 1.5, "not_a_number"),
    ],
)
def test_invalid_prices_are_refused(shop, actor, _case, currency, price, code) -> None:
    channel = ChannelFactory(shop=shop, slug="c", currency=currency)
    product = services.product_create(actor=actor, shop=shop, title="Mug")

    with pytest.raises(ValidationFailed) as caught:
        services.price_set(
            actor=actor,
            shop=shop,
            variant_id=product.variants.get().pk,
            channel_id=channel.pk,
            price=price,
        )

    assert _codes(caught.value) == [(("price",), code)]
    assert not VariantChannelPrice.objects.exists()


@pytest.mark.parametrize(
    ("currency", "price", "stored"),
    [("JPY", "1500", "1500"), ("BHD", "1.234", "1.234"), ("USD", "5", "5.00")],
)
def test_prices_are_exact_in_the_channel_currency(shop, actor, currency, price, stored) -> None:
    channel = ChannelFactory(shop=shop, slug="c", currency=currency)
    product = services.product_create(actor=actor, shop=shop, title="Mug")

    row = services.price_set(
        actor=actor,
        shop=shop,
        variant_id=product.variants.get().pk,
        channel_id=channel.pk,
        price=price,
    )

    row.refresh_from_db()
    assert (row.currency, row.price) == (currency, Decimal(stored))


def test_a_price_on_another_shops_channel_is_refused(shop, other_channel, actor) -> None:
    product = services.product_create(actor=actor, shop=shop, title="Mug")

    with pytest.raises(ValidationFailed) as caught:
        services.price_set(
            actor=actor,
            shop=shop,
            variant_id=product.variants.get().pk,
            channel_id=other_channel.pk,
            price="1.00",
        )

    assert _codes(caught.value) == [(("channel_id",), "not_found")]


def test_catalog_view_cannot_write(shop) -> None:
    viewer = Actor(kind="api_key", key="k", label="k", permissions=frozenset({"catalog.view"}))

    with pytest.raises(PermissionDenied):
        services.product_create(actor=viewer, shop=shop, title="Mug")

    assert not Product.objects.exists()


@pytest.mark.parametrize("currency", ["USD", "JPY", "BHD"])
def test_every_valid_amount_is_stored_exactly(shop, actor, currency) -> None:
    channel = ChannelFactory(shop=shop, slug="c", currency=currency)
    variant = services.product_create(actor=actor, shop=shop, title="Mug").variants.get()
    places = minor_unit_exponent(currency)

    @settings(max_examples=40, deadline=None)
    @given(st.decimals(min_value=0, max_value=10**9, places=places, allow_nan=False))
    def check(amount: Decimal) -> None:
        row = services.price_set(
            actor=actor, shop=shop, variant_id=variant.pk, channel_id=channel.pk, price=str(amount)
        )
        row.refresh_from_db()
        assert row.price == amount
        assert row.currency == currency

    check()
