"""The bulk product upsert: created, updated, unchanged, per-item errors, tenancy, queries."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from merchantry.catalog.bulk import products_upsert
from merchantry.catalog.models import (
    Category,
    Product,
    ProductChannelListing,
    ProductVariant,
    VariantChannelPrice,
)
from merchantry.core.errors import PermissionDenied, ValidationFailed
from merchantry.core.models import AuditEvent, OutboxEvent
from merchantry.tenancy.models import Channel
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory, secret_key

pytestmark = pytest.mark.django_db

BULK = "/api/v1/admin/products/bulk"


def shirt(handle: str = "linen-shirt", **extra: Any) -> dict[str, Any]:
    """A product with two options, three variants priced, published and categorised."""
    return {
        "handle": handle,
        "title": "Linen shirt",
        "description": "<p>Cool <script>alert(1)</script><b>linen</b></p>",
        "vendor": "Acme",
        "product_type": "Shirt",
        "tags": ["Summer", "linen"],
        "status": "active",
        "categories": ["Apparel > Shirts"],
        "published": True,
        "variants": [
            {"sku": f"{handle}-s-w", "option_values": {"Size": "S", "Color": "White"},
             "price": "19.99", "compare_at_price": "25.00", "weight_grams": 200},
            {"sku": f"{handle}-m-w", "option_values": {"Size": "M", "Color": "White"},
             "price": "21.50"},
            {"sku": f"{handle}-m-b", "option_values": {"Color": "Blue", "Size": "M"},
             "price": "21.50", "barcode": "4006381333931"},
        ],
        **extra,
    }  # fmt: skip


def upsert(shop, actor, items, **kwargs):
    return products_upsert(actor=actor, shop=shop, items=items, **kwargs)


def statuses(batch) -> list[str]:
    return [r.status for r in batch.results]


def error_locs(batch, index: int) -> list[tuple]:
    return [(e.loc, e.code) for e in batch.results[index].errors]


def test_a_new_product_is_created_with_everything_it_names(shop, channel, actor) -> None:
    batch = upsert(shop, actor, [shirt()])

    assert statuses(batch) == ["created"]
    product = Product.objects.get(shop=shop, handle="linen-shirt")
    assert batch.results[0].product_id == product.pk
    assert product.description == "<p>Cool <b>linen</b></p>"
    assert (product.tags, product.tags_index) == (["Summer", "linen"], "|summer|linen|")
    assert product.was_published is True
    assert [(o.name, [v.value for v in o.values.all()]) for o in product.options.all()] == [
        ("Size", ["S", "M"]),
        ("Color", ["White", "Blue"]),
    ]
    variants = list(product.variants.order_by("position"))
    assert [(v.sku, v.title, v.option_values) for v in variants] == [
        ("linen-shirt-s-w", "S / White", {"Size": "S", "Color": "White"}),
        ("linen-shirt-m-w", "M / White", {"Size": "M", "Color": "White"}),
        ("linen-shirt-m-b", "M / Blue", {"Size": "M", "Color": "Blue"}),
    ]
    assert variants[0].weight_grams == 200
    prices = {p.variant.sku: p for p in VariantChannelPrice.objects.select_related("variant")}
    assert prices["linen-shirt-s-w"].price == Decimal("19.99")
    assert prices["linen-shirt-s-w"].compare_at_price == Decimal("25.00")
    assert prices["linen-shirt-s-w"].currency == channel.currency
    listing = ProductChannelListing.objects.get(product=product, channel=channel)
    assert listing.is_published is True
    assert (listing.price_min, listing.price_max) == (Decimal("19.99"), Decimal("21.50"))
    shirts = Category.objects.get(shop=shop, name="Shirts")
    assert Category.objects.get(path=shirts.path[: Category.steplen]).name == "Apparel"
    assert list(product.categories.all()) == [shirts]


def test_the_same_batch_twice_changes_nothing_the_second_time(shop, channel, actor) -> None:
    items = [shirt(), shirt("oxford-shirt")]
    upsert(shop, actor, copy.deepcopy(items))
    before = (
        list(Product.objects.values()),
        list(ProductVariant.objects.values()),
        list(VariantChannelPrice.objects.values()),
        list(Category.objects.values()),
    )
    events, audits = OutboxEvent.objects.count(), AuditEvent.objects.count()

    again = upsert(shop, actor, copy.deepcopy(items))

    assert statuses(again) == ["unchanged", "unchanged"]
    assert [r.product_id for r in again.results] == list(
        Product.objects.order_by("pk").values_list("pk", flat=True)
    )
    after = (
        list(Product.objects.values()),
        list(ProductVariant.objects.values()),
        list(VariantChannelPrice.objects.values()),
        list(Category.objects.values()),
    )
    assert after == before
    assert (OutboxEvent.objects.count(), AuditEvent.objects.count()) == (events, audits)


def test_an_update_changes_fields_prices_and_variants_keeping_matched_ones(
    shop, channel, actor
) -> None:
    upsert(shop, actor, [shirt()])
    kept = ProductVariant.objects.get(sku="linen-shirt-m-w")
    item = shirt(title="Linen shirt II", tags=["winter"])
    item["variants"] = [
        {"sku": "linen-shirt-m-w", "option_values": {"Size": "M", "Color": "White"},
         "price": "18.00"},
        {"sku": "linen-shirt-l-w", "option_values": {"Size": "L", "Color": "White"},
         "price": "30"},
    ]  # fmt: skip

    batch = upsert(shop, actor, [item])

    assert statuses(batch) == ["updated"]
    product = Product.objects.get(handle="linen-shirt")
    assert (product.title, product.tags_index) == ("Linen shirt II", "|winter|")
    variants = list(product.variants.order_by("position"))
    assert [v.sku for v in variants] == ["linen-shirt-m-w", "linen-shirt-l-w"]
    assert variants[0].pk == kept.pk  # the same row: its stock and orders stay
    assert [(o.name, [v.value for v in o.values.all()]) for o in product.options.all()] == [
        ("Size", ["M", "L"]),
        ("Color", ["White"]),
    ]
    listing = ProductChannelListing.objects.get(product=product)
    assert (listing.price_min, listing.price_max) == (Decimal("18.00"), Decimal("30.00"))
    audit = AuditEvent.objects.filter(action="product.bulk_upsert").latest("pk")
    assert audit.changes["updated"] == ["linen-shirt"]
    assert {v["sku"] for v in audit.changes["deleted_variants"]} == {
        "linen-shirt-s-w",
        "linen-shirt-m-b",
    }


def test_a_variant_matched_by_option_values_takes_the_new_sku(shop, channel, actor) -> None:
    product = make_product(shop, options=[{"name": "Size", "values": ["S", "M"]}])
    small = product.variants.get(option_values={"Size": "S"})

    batch = upsert(
        shop,
        actor,
        [
            {
                "handle": product.handle,
                "variants": [
                    {"sku": "NEW-S", "option_values": {"Size": "S"}},
                    {"sku": "NEW-M", "option_values": {"Size": "M"}},
                ],
            }
        ],
    )

    assert statuses(batch) == ["updated"]
    small.refresh_from_db()
    assert small.sku == "NEW-S"


def test_skus_can_swap_between_variants_of_a_product(shop, channel, actor) -> None:
    item = {
        "handle": "swap",
        "title": "Swap",
        "variants": [
            {"sku": "A", "option_values": {"Size": "S"}},
            {"sku": "B", "option_values": {"Size": "M"}},
        ],
    }
    upsert(shop, actor, [copy.deepcopy(item)])
    item["variants"][0]["sku"], item["variants"][1]["sku"] = "B", "A"

    batch = upsert(shop, actor, [item])

    # matched by SKU: each variant keeps its SKU and takes the other's option value
    assert statuses(batch) == ["updated"]
    assert dict(ProductVariant.objects.values_list("sku", "option_values")) == {
        "B": {"Size": "S"},
        "A": {"Size": "M"},
    }


def test_a_product_without_variants_gets_its_default_variant(shop, actor) -> None:
    batch = upsert(shop, actor, [{"handle": "plain", "title": "Plain"}])

    product = Product.objects.get(handle="plain")
    assert statuses(batch) == ["created"]
    assert list(product.variants.values_list("title", "option_values")) == [("Plain", {})]
    assert product.status == "draft"


@pytest.mark.parametrize(
    ("price", "currency", "code"),
    [
        ("-1", "USD", "negative"),
        ("10.123", "USD", "too_many_decimals"),
        ("10.5", "JPY", "too_many_decimals"),
        ("twelve", "USD", "not_a_number"),
        (12.5, "USD", "not_a_number"),
        ("NaN", "USD", "not_a_number"),
        ("1e400", "USD", "too_large"),
    ],
)
def test_a_bad_price_fails_its_item_only(shop, actor, price, currency, code) -> None:
    ChannelFactory(shop=shop, slug="c", currency=currency)
    bad = {"handle": "bad", "title": "Bad", "variants": [{"sku": "BAD", "price": price}]}
    good = {"handle": "good", "title": "Good", "variants": [{"sku": "GOOD", "price": "100"}]}

    batch = upsert(shop, actor, [bad, good])

    assert statuses(batch) == ["error", "created"]
    assert error_locs(batch, 0) == [(("variants", 0, "price"), code)]
    assert not Product.objects.filter(handle="bad").exists()
    assert not ProductVariant.objects.filter(sku="BAD").exists()


def test_a_sku_in_two_items_fails_both(shop, channel, actor) -> None:
    one = {"handle": "one", "title": "One", "variants": [{"sku": "SAME"}]}
    two = {"handle": "two", "title": "Two", "variants": [{"sku": "SAME"}]}
    three = {"handle": "three", "title": "Three"}

    batch = upsert(shop, actor, [one, two, three])

    assert statuses(batch) == ["error", "error", "created"]
    assert error_locs(batch, 1) == [(("variants", 0, "sku"), "duplicate")]
    assert not Product.objects.filter(handle__in=["one", "two"]).exists()


def test_a_sku_of_another_product_is_refused(shop, channel, actor) -> None:
    make_product(shop, title="Owner").variants.update(sku="TAKEN")

    batch = upsert(
        shop, actor, [{"handle": "thief", "title": "Thief", "variants": [{"sku": "TAKEN"}]}]
    )

    assert error_locs(batch, 0) == [(("variants", 0, "sku"), "unique")]
    assert "owner" in batch.results[0].errors[0].message
    assert not Product.objects.filter(handle="thief").exists()


@pytest.mark.parametrize(
    ("item", "loc", "code"),
    [
        ({"handle": "Not A Handle", "title": "x"}, ("handle",), "string_pattern_mismatch"),
        ({"handle": "no-title"}, ("title",), "required"),
        ({"handle": "x", "title": "x", "colour": "red"}, ("colour",), "extra_forbidden"),
        ({"handle": "x", "title": "x", "tags": "a"}, ("tags",), "list_type"),
        (
            {"handle": "x", "title": "x", "variants": [{"option_values": {"Size": "S"}}, {}]},
            ("variants", 1, "option_values"),
            "invalid",
        ),
        (
            {"handle": "x", "title": "x",
             "variants": [{"option_values": {"S": "a"}}, {"option_values": {"S": "a"}}]},
            ("variants", 1, "option_values"),
            "duplicate",
        ),
        (
            {"handle": "x", "title": "x", "options": [{"name": "Size", "values": ["S"]}],
             "variants": [{"option_values": {"Size": "XL"}}]},
            ("variants", 0, "option_values"),
            "invalid",
        ),
        (
            {"handle": "x", "title": "x", "variants": [{"sku": "A"}, {"sku": "A"}]},
            ("variants", 1, "sku"),
            "duplicate",
        ),
        ({"handle": "x", "title": "x", "categories": ["A >  > B"]}, ("categories", 0), "invalid"),
        ({"handle": "x", "title": "x", "options": []}, ("options",), "required"),
        ("not an object", (), "not_an_object"),
    ],
)  # fmt: skip
def test_invalid_items_are_reported_with_field_errors(shop, channel, actor, item, loc, code):
    batch = upsert(shop, actor, [item, {"handle": "fine", "title": "Fine"}])

    assert statuses(batch) == ["error", "created"]
    assert (loc, code) in error_locs(batch, 0), error_locs(batch, 0)
    assert Product.objects.for_shop(shop).count() == 1


def test_a_failing_item_leaves_no_category_behind(shop, channel, actor) -> None:
    make_product(shop, title="Owner").variants.update(sku="TAKEN")
    bad = {"handle": "bad", "title": "Bad", "categories": ["Ghost > Town"],
           "variants": [{"sku": "TAKEN"}]}  # fmt: skip
    good = {"handle": "good", "title": "Good", "categories": ["Real > Town"]}

    batch = upsert(shop, actor, [bad, good])

    assert statuses(batch) == ["error", "created"]
    assert sorted(Category.objects.filter(shop=shop).values_list("name", flat=True)) == [
        "Real",
        "Town",
    ]


def test_more_than_a_hundred_items_are_refused(shop, actor) -> None:
    with pytest.raises(ValidationFailed) as raised:
        upsert(shop, actor, [{"handle": f"p{i}", "title": "P"} for i in range(101)])

    assert raised.value.errors[0].code == "too_many"
    assert not Product.objects.exists()


def test_it_needs_catalog_manage(shop) -> None:
    from merchantry.core.actors import Actor

    reader = Actor(
        kind="user", key="user:1", shop_id=shop.pk, permissions=frozenset({"catalog.view"})
    )

    with pytest.raises(PermissionDenied):
        upsert(shop, reader, [{"handle": "x", "title": "x"}])


def test_shops_are_apart_and_may_share_handles_and_skus(
    shop, other_shop, channel, other_channel, actor
) -> None:
    upsert(other_shop, actor, [shirt()])
    theirs = list(ProductVariant.objects.for_shop(other_shop).values())
    their_prices = list(VariantChannelPrice.objects.for_shop(other_shop).values())

    batch = upsert(shop, actor, [shirt(title="Ours")], channel_id=channel.pk)

    assert statuses(batch) == ["created"]
    assert Product.objects.get(shop=shop, handle="linen-shirt").title == "Ours"
    assert Product.objects.get(shop=other_shop, handle="linen-shirt").title == "Linen shirt"
    assert list(ProductVariant.objects.for_shop(other_shop).values()) == theirs
    assert list(VariantChannelPrice.objects.for_shop(other_shop).values()) == their_prices
    assert (
        not Category.objects.filter(shop=shop)
        .filter(pk__in=Category.objects.filter(shop=other_shop).values("pk"))
        .exists()
    )


def test_another_shops_channel_is_refused(shop, other_channel, actor) -> None:
    with pytest.raises(ValidationFailed) as raised:
        upsert(shop, actor, [shirt()], channel_id=other_channel.pk)

    assert raised.value.errors[0].loc == ("channel_id",)
    assert not Product.objects.exists()


def test_prices_go_to_the_named_channel_in_its_currency(shop, channel, actor) -> None:
    yen = ChannelFactory(shop=shop, slug="jp", currency="JPY")

    batch = upsert(
        shop,
        actor,
        [{"handle": "yen", "title": "Yen", "variants": [{"sku": "Y", "price": "1500"}]}],
        channel_id=yen.pk,
    )

    assert statuses(batch) == ["created"]
    price = VariantChannelPrice.objects.get()
    assert (price.channel_id, price.currency, price.price) == (yen.pk, "JPY", Decimal(1500))


def test_unpublishing_and_compare_at_removal(shop, channel, actor) -> None:
    upsert(shop, actor, [shirt()])
    item = shirt(published=False)
    item["variants"][0]["compare_at_price"] = None

    batch = upsert(shop, actor, [item])

    assert statuses(batch) == ["updated"]
    assert not ProductChannelListing.objects.get(channel=channel).is_published
    assert VariantChannelPrice.objects.get(variant__sku="linen-shirt-s-w").compare_at_price is None


def test_a_batch_reads_with_a_fixed_number_of_queries(
    shop, channel, actor, django_assert_max_num_queries
) -> None:
    items = [shirt(f"shirt-{i}") for i in range(20)]
    with django_assert_max_num_queries(20 * 11 + 25):  # a savepoint and ~9 writes each
        created = upsert(shop, actor, copy.deepcopy(items))
    assert created.count("created") == 20

    # Nothing to write: the reads do not grow with the batch.
    with django_assert_max_num_queries(12):
        unchanged = upsert(shop, actor, copy.deepcopy(items))
    assert unchanged.count("unchanged") == 20

    for item in items:
        item["variants"][0]["price"] = "9.99"
    with django_assert_max_num_queries(20 * 4 + 20):  # a savepoint, the price, the event
        updated = upsert(shop, actor, items)
    assert updated.count("updated") == 20


# -- the Admin API -------------------------------------------------------------------------


def test_the_endpoint_answers_each_item(shop, channel, admin_client) -> None:
    response = admin_client.post(
        BULK,
        {"items": [shirt(), {"handle": "bad", "title": "Bad", "variants": [{"price": "-1"}]}]},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["failed"], body["channel_id"]) == (1, 1, str(channel.pk))
    assert body["results"][0]["status"] == "created"
    assert body["results"][0]["product_id"] == str(Product.objects.get(handle="linen-shirt").pk)
    assert body["results"][1]["errors"] == [
        {"loc": ["variants", 0, "price"], "message": "Must not be negative.", "code": "negative"}
    ]


def test_the_endpoint_refuses_a_batch_over_the_limit(admin_client) -> None:
    response = admin_client.post(
        BULK,
        {"items": [{"handle": f"p{i}", "title": "P"} for i in range(101)]},
        content_type="application/json",
    )

    assert response.status_code == 422
    assert not Product.objects.exists()


def test_a_read_only_key_cannot_upsert(shop) -> None:
    from django.test import Client

    client = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['catalog.view'])}"}
    )

    response = client.post(
        BULK, {"items": [{"handle": "x", "title": "x"}]}, content_type="application/json"
    )

    assert response.status_code == 403
    assert not Product.objects.exists()
    assert Channel.objects.count() == 0
