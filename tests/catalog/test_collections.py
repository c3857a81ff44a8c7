"""Collections: rules and their validation, manual membership and order, the product filter."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from merchantry.catalog import collections, services
from merchantry.catalog.models import Collection, CollectionProduct, Product
from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from merchantry.core.events import OutboxEvent
from merchantry.core.models import AuditEvent
from merchantry.tenancy.models import Channel, Shop
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _codes(exc: ValidationFailed) -> list[tuple[tuple, str]]:
    return [(e.loc, e.code) for e in exc.errors]


def _auto(shop: Shop, actor, rules: list[dict], match_all: bool = True) -> Collection:
    return collections.collection_create(
        actor=actor,
        shop=shop,
        title="Auto",
        kind="automated",
        rules=rules,
        rules_match_all=match_all,
    )


def _titles(collection: Collection, channel: Channel | None = None) -> list[str]:
    return list(
        collections.collection_products(collection, channel).values_list("title", flat=True)
    )


def _rule(field: str, value: str, op: str = "equals") -> dict[str, str]:
    return {"field": field, "op": op, "value": value}


# -- creating and rules -----------------------------------------------------------------


def test_a_collection_gets_a_handle_and_records_the_change(shop, other_shop, actor) -> None:
    first = collections.collection_create(actor=actor, shop=shop, title="Summer Picks")
    second = collections.collection_create(actor=actor, shop=shop, title="Summer picks")
    elsewhere = collections.collection_create(actor=actor, shop=other_shop, title="Summer picks")

    assert (first.handle, second.handle, elsewhere.handle) == (
        "summer-picks",
        "summer-picks-2",
        "summer-picks",
    )
    assert (first.kind, first.is_published, first.rules) == ("manual", False, [])
    assert OutboxEvent.objects.filter(type="collection.changed", shop_id=shop.pk).count() == 2
    assert AuditEvent.objects.filter(action="collection.create", shop_id=shop.pk).count() == 2


def test_rules_are_normalised(shop, actor) -> None:
    collection = _auto(
        shop,
        actor,
        [
            _rule("tag", "  Summer "),
            _rule("price", "1e2", "gte"),
            _rule("price", " 19.990 ", "lte"),
        ],
    )

    assert collection.rules == [
        {"field": "tag", "op": "equals", "value": "Summer"},
        {"field": "price", "op": "gte", "value": "100"},
        {"field": "price", "op": "lte", "value": "19.990"},
    ]


@pytest.mark.parametrize(
    ("_case", "rule", "where", "code"),
    [
        ("unknown field", _rule("colour", "red"), ("field",), "unknown_field"),
        ("tag with gte", _rule("tag", "x", "gte"), ("op",), "unknown_op"),
        ("price with equals", _rule("price", "1"), ("op",), "unknown_op"),
        ("negative price", _rule("price", "-1", "gte"), ("value",), "negative"),
        ("NaN price", _rule("price", "NaN", "lte"), ("value",), "not_a_number"),
        ("word price", _rule("price", "ten", "lte"), ("value",), "not_a_number"),
        ("infinite", _rule("price", "Infinity", "lte"), ("value",), "not_a_number"),
        ("4 decimals", _rule("price", "1.0001", "lte"), ("value",), "too_many_decimals"),
        ("huge price", _rule("price", "1e400", "lte"), ("value",), "too_large"),
        ("float price", {"field": "price", "op": "lte", "value": 1.5}, ("value",), "not_a_number"),
        ("empty tag", _rule("tag", "  "), ("value",), "invalid"),
        ("pipe in tag", _rule("tag", "a|b"), ("value",), "invalid"),
        ("long vendor", _rule("vendor", "v" * 121), ("value",), "invalid"),
        ("extra key", {**_rule("tag", "x"), "case": "yes"}, (), "unknown_keys"),
        ("not an object", "tag=x", (), "not_an_object"),
    ],
)  # fmt: skip
def test_invalid_rules_are_field_errors_at_their_path(
    shop, actor, _case, rule, where, code
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _auto(shop, actor, [_rule("tag", "fine"), rule])

    assert _codes(caught.value) == [(("rules", 1, *where), code)]
    assert not Collection.objects.exists()


def test_every_bad_rule_is_reported(shop, actor) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _auto(shop, actor, [_rule("tag", "x", "lte"), _rule("tag", "ok"), _rule("size", "M")])

    assert _codes(caught.value) == [
        (("rules", 0, "op"), "unknown_op"),
        (("rules", 2, "field"), "unknown_field"),
    ]


def test_kind_and_rules_must_agree(shop, actor) -> None:
    with pytest.raises(ValidationFailed) as manual_with_rules:
        collections.collection_create(
            actor=actor, shop=shop, title="M", kind="manual", rules=[_rule("tag", "x")]
        )
    with pytest.raises(ValidationFailed) as automated_without:
        collections.collection_create(actor=actor, shop=shop, title="A", kind="automated")
    automated = _auto(shop, actor, [_rule("tag", "x")])
    with pytest.raises(ValidationFailed) as emptied:
        collections.collection_update(
            actor=actor, shop=shop, collection_id=automated.pk, changes={"rules": []}
        )
    with pytest.raises(ValidationFailed) as kind_changed:
        collections.collection_update(
            actor=actor, shop=shop, collection_id=automated.pk, changes={"kind": "manual"}
        )

    assert _codes(manual_with_rules.value) == [(("rules",), "not_allowed")]
    assert _codes(automated_without.value) == [(("rules",), "required")]
    assert _codes(emptied.value) == [(("rules",), "required")]
    assert _codes(kind_changed.value) == [(("kind",), "frozen")]
    automated.refresh_from_db()
    assert (automated.kind, automated.rules) == ("automated", [_rule("tag", "x")])


def test_update_publishes_and_refuses_a_taken_handle(shop, actor) -> None:
    collections.collection_create(actor=actor, shop=shop, title="Taken")
    collection = collections.collection_create(actor=actor, shop=shop, title="Mine")

    published = collections.collection_update(
        actor=actor,
        shop=shop,
        collection_id=collection.pk,
        changes={"is_published": True, "title": "Mine, renamed"},
    )
    with pytest.raises(ValidationFailed) as caught:
        collections.collection_update(
            actor=actor, shop=shop, collection_id=collection.pk, changes={"handle": "taken"}
        )

    assert (published.is_published, published.title, published.handle) == (
        True,
        "Mine, renamed",
        "mine",
    )
    assert _codes(caught.value) == [(("handle",), "unique")]


def test_a_viewer_cannot_change_collections(shop) -> None:
    viewer = Actor(kind="api_key", key="k", label="k", permissions=frozenset({"catalog.view"}))

    with pytest.raises(PermissionDenied):
        collections.collection_create(actor=viewer, shop=shop, title="X")

    assert not Collection.objects.exists()


def test_deleting_a_collection_keeps_its_products(shop, actor) -> None:
    product = make_product(shop)
    collection = collections.collection_create(actor=actor, shop=shop, title="Gone")
    collections.collection_add_products(
        actor=actor, shop=shop, collection_id=collection.pk, product_ids=[product.pk]
    )

    collections.collection_delete(actor=actor, shop=shop, collection_id=collection.pk)

    assert not Collection.objects.exists()
    assert not CollectionProduct.objects.exists()
    assert Product.objects.filter(pk=product.pk).exists()
    assert AuditEvent.objects.filter(action="collection.delete").count() == 1


# -- manual membership -------------------------------------------------------------------


@pytest.fixture
def manual(shop, actor) -> Collection:
    return collections.collection_create(actor=actor, shop=shop, title="Picks")


@pytest.fixture
def five(shop) -> list[Product]:
    return [make_product(shop, title=f"P{i}") for i in range(5)]


def _ids(collection: Collection) -> list[int]:
    return list(collections.collection_products(collection).values_list("pk", flat=True))


def test_products_are_appended_in_the_order_given(shop, actor, manual, five) -> None:
    p0, p1, p2, p3, _ = five

    first = collections.collection_add_products(
        actor=actor, shop=shop, collection_id=manual.pk, product_ids=[p2.pk, p0.pk]
    )
    second = collections.collection_add_products(
        actor=actor, shop=shop, collection_id=manual.pk, product_ids=[p0.pk, p3.pk, p1.pk, p3.pk]
    )

    assert first == [p2.pk, p0.pk]
    assert second == [p3.pk, p1.pk]  # p0 was already in; p3 once
    assert _ids(manual) == [p2.pk, p0.pk, p3.pk, p1.pk]
    assert _titles(manual) == ["P2", "P0", "P3", "P1"]


def test_reorder_needs_every_member_once(shop, actor, manual, five) -> None:
    p0, p1, p2, _, p4 = five
    collections.collection_add_products(
        actor=actor, shop=shop, collection_id=manual.pk, product_ids=[p0.pk, p1.pk, p2.pk]
    )

    collections.collection_reorder(
        actor=actor, shop=shop, collection_id=manual.pk, product_ids=[p2.pk, p0.pk, p1.pk]
    )
    reordered = _ids(manual)
    failures = []
    for ids in ([p2.pk, p0.pk], [p2.pk, p0.pk, p1.pk, p1.pk], [p2.pk, p0.pk, p1.pk, p4.pk]):
        with pytest.raises(ValidationFailed) as caught:
            collections.collection_reorder(
                actor=actor, shop=shop, collection_id=manual.pk, product_ids=ids
            )
        failures.append(_codes(caught.value))

    assert reordered == [p2.pk, p0.pk, p1.pk]
    assert failures == [
        [(("product_ids",), "incomplete")],
        [(("product_ids",), "incomplete")],
        [(("product_ids", 3), "not_found")],
    ]
    assert _ids(manual) == [p2.pk, p0.pk, p1.pk]


def test_remove_takes_one_product_out(shop, actor, manual, five) -> None:
    p0, p1, p2, *_ = five
    collections.collection_add_products(
        actor=actor, shop=shop, collection_id=manual.pk, product_ids=[p0.pk, p1.pk, p2.pk]
    )

    collections.collection_remove_product(
        actor=actor, shop=shop, collection_id=manual.pk, product_id=p1.pk
    )
    with pytest.raises(NotFound):
        collections.collection_remove_product(
            actor=actor, shop=shop, collection_id=manual.pk, product_id=p1.pk
        )

    assert _ids(manual) == [p0.pk, p2.pk]
    assert Product.objects.filter(pk=p1.pk).exists()


def test_set_products_adds_removes_and_orders(shop, actor, manual, five) -> None:
    p0, p1, p2, p3, p4 = five
    collections.collection_add_products(
        actor=actor, shop=shop, collection_id=manual.pk, product_ids=[p0.pk, p1.pk, p2.pk]
    )

    collections.collection_set_products(
        actor=actor, shop=shop, collection_id=manual.pk, product_ids=[p4.pk, p2.pk, p3.pk, p0.pk]
    )

    assert _ids(manual) == [p4.pk, p2.pk, p3.pk, p0.pk]
    audit = AuditEvent.objects.filter(action="collection.products").order_by("pk").last()
    assert (audit.changes["added"], audit.changes["removed"]) == ([p4.pk, p3.pk], [p1.pk])


def test_another_shops_products_cannot_join(shop, other_shop, actor, manual, five) -> None:
    theirs = make_product(other_shop, title="Theirs")

    with pytest.raises(ValidationFailed) as caught:
        collections.collection_add_products(
            actor=actor,
            shop=shop,
            collection_id=manual.pk,
            product_ids=[five[0].pk, theirs.pk, 999_999],
        )

    assert _codes(caught.value) == [
        (("product_ids", 1), "not_found"),
        (("product_ids", 2), "not_found"),
    ]
    assert not CollectionProduct.objects.exists()


def test_an_automated_collection_has_no_manual_members(shop, actor, five) -> None:
    automated = _auto(shop, actor, [_rule("tag", "x")])

    for call, kwargs in (
        (collections.collection_add_products, {"product_ids": [five[0].pk]}),
        (collections.collection_reorder, {"product_ids": []}),
        (collections.collection_remove_product, {"product_id": five[0].pk}),
    ):
        with pytest.raises(Conflict):
            call(actor=actor, shop=shop, collection_id=automated.pk, **kwargs)

    assert not CollectionProduct.objects.exists()


def test_another_shops_collection_is_not_found(shop, other_shop, actor, five) -> None:
    theirs = collections.collection_create(actor=actor, shop=other_shop, title="Theirs")

    with pytest.raises(NotFound):
        collections.collection_add_products(
            actor=actor, shop=shop, collection_id=theirs.pk, product_ids=[five[0].pk]
        )

    assert not CollectionProduct.objects.exists()


# -- automated rules as a filter ----------------------------------------------------------


@pytest.fixture
def catalog(shop, channel) -> dict[str, Product]:
    """Products varied in tags, type, vendor and price (on the shop's web channel)."""
    return {
        "shirt": make_product(
            shop,
            title="Linen shirt",
            tags=["Summer", "linen"],
            product_type="Shirt",
            vendor="Acme Mills",
            channel=channel,
            price="30.00",
        ),
        "tee": make_product(
            shop,
            title="Tee",
            tags=["summer"],
            product_type="shirt",
            vendor="Other",
            channel=channel,
            price="9.50",
        ),
        "boots": make_product(
            shop,
            title="Boots",
            tags=["winter"],
            product_type="Shoes",
            vendor="acme mills",
            channel=channel,
            price="120.00",
        ),
        "scarf": make_product(
            shop, title="Scarf", tags=["summerish"], product_type="Accessory", vendor="Acme"
        ),
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (_rule("tag", "SUMMER"), ["Linen shirt", "Tee"]),  # not "summerish"
        (_rule("tag", "linen"), ["Linen shirt"]),
        (_rule("product_type", "SHIRT"), ["Linen shirt", "Tee"]),
        (_rule("vendor", "Acme mills"), ["Boots", "Linen shirt"]),  # not "Acme"
        (_rule("price", "30", "gte"), ["Boots", "Linen shirt"]),
        (_rule("price", "30.00", "lte"), ["Linen shirt", "Tee"]),
        (_rule("price", "9.499", "lte"), []),
    ],
)
def test_each_rule_type_matches(shop, actor, catalog, rule, expected) -> None:
    collection = _auto(shop, actor, [rule])

    assert _titles(collection) == expected


def test_match_all_and_match_any(shop, actor, catalog) -> None:
    rules = [_rule("tag", "summer"), _rule("vendor", "acme mills")]

    every = _auto(shop, actor, rules, match_all=True)
    either = _auto(shop, actor, rules, match_all=False)

    assert _titles(every) == ["Linen shirt"]
    assert _titles(either) == ["Boots", "Linen shirt", "Tee"]


def test_a_price_range_is_two_rules(shop, actor, catalog) -> None:
    collection = _auto(shop, actor, [_rule("price", "9.50", "gte"), _rule("price", "30", "lte")])

    assert _titles(collection) == ["Linen shirt", "Tee"]


def test_price_rules_read_the_given_channels_prices(shop, actor, channel, catalog) -> None:
    # given: the tee is expensive on a second channel, the boots are cheap there
    eur = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    make_product(shop, title="Only in EU", channel=eur, price="5.00")
    for product, price in ((catalog["tee"], "50.00"), (catalog["boots"], "8.00")):
        services.listing_publish(actor=actor, shop=shop, product_id=product.pk, channel_id=eur.pk)
        services.price_set(
            actor=actor,
            shop=shop,
            variant_id=product.variants.get().pk,
            channel_id=eur.pk,
            price=Decimal(price),
        )
    cheap = _auto(shop, actor, [_rule("price", "10", "lte")])

    # then: each channel's prices decide; without one, any channel's do
    assert _titles(cheap, channel) == ["Tee"]
    assert _titles(cheap, eur) == ["Boots", "Only in EU"]
    assert _titles(cheap) == ["Boots", "Only in EU", "Tee"]


def test_a_new_product_joins_an_automated_collection_by_itself(shop, actor, catalog) -> None:
    collection = _auto(shop, actor, [_rule("tag", "winter")])
    before = _titles(collection)

    make_product(shop, title="Gloves", tags=["Winter"])

    assert before == ["Boots"]
    assert _titles(collection) == ["Boots", "Gloves"]


def test_the_filter_keeps_to_the_collections_shop(shop, other_shop, actor, catalog) -> None:
    make_product(other_shop, title="Their summer", tags=["summer"])
    collection = _auto(shop, actor, [_rule("tag", "summer")])

    everywhere = Product.objects.filter(collections.collection_product_filter(collection))

    assert sorted(everywhere.values_list("title", flat=True)) == ["Linen shirt", "Tee"]


def test_the_filter_combines_with_a_channels_visible_products(
    shop, actor, channel, catalog
) -> None:
    collection = _auto(shop, actor, [_rule("tag", "summer")])
    manual = collections.collection_create(actor=actor, shop=shop, title="Hand-picked")
    collections.collection_add_products(
        actor=actor,
        shop=shop,
        collection_id=manual.pk,
        product_ids=[catalog["scarf"].pk, catalog["boots"].pk],
    )

    visible = Product.objects.visible_in(channel)
    auto_titles = visible.filter(collections.collection_product_filter(collection, channel))
    manual_titles = visible.filter(collections.collection_product_filter(manual, channel))

    assert sorted(auto_titles.values_list("title", flat=True)) == ["Linen shirt", "Tee"]
    assert list(manual_titles.values_list("title", flat=True)) == ["Boots"]  # scarf: unlisted


def test_manual_order_is_kept_through_the_position_annotation(shop, actor, five) -> None:
    collection = collections.collection_create(actor=actor, shop=shop, title="Ordered")
    collections.collection_add_products(
        actor=actor,
        shop=shop,
        collection_id=collection.pk,
        product_ids=[five[3].pk, five[1].pk, five[4].pk],
    )
    collections.collection_reorder(
        actor=actor,
        shop=shop,
        collection_id=collection.pk,
        product_ids=[five[4].pk, five[3].pk, five[1].pk],
    )

    ordered = (
        Product.objects.for_shop(shop)
        .filter(collections.collection_product_filter(collection))
        .annotate(position=collections.collection_position(collection))
        .order_by("position", "pk")
    )

    assert [p.title for p in ordered] == ["P4", "P3", "P1"]
    assert [p.collection_position for p in collections.collection_products(collection)] == [
        0,
        1,
        2,
    ]


def test_the_filter_runs_no_query_and_one_when_listed(shop, actor, catalog) -> None:
    collection = _auto(
        shop,
        actor,
        [_rule("tag", "summer"), _rule("price", "5", "gte"), _rule("vendor", "Acme Mills")],
        match_all=False,
    )

    with CaptureQueriesContext(connection) as built:
        q = collections.collection_product_filter(collection)
    with CaptureQueriesContext(connection) as listed:
        titles = sorted(Product.objects.filter(q).values_list("title", flat=True))

    assert (len(built), len(listed)) == (0, 1)
    assert titles == ["Boots", "Linen shirt", "Tee"]


def test_a_stored_rule_not_understood_matches_nothing(shop, actor, catalog) -> None:
    collection = _auto(shop, actor, [_rule("tag", "summer")])
    Collection.objects.filter(pk=collection.pk).update(
        rules=[{"field": "colour", "op": "equals", "value": "red"}]
    )
    collection.refresh_from_db()

    assert _titles(collection) == []
