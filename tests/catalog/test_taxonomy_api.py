"""
Admin and Store API for categories and collections.

Store budgets (SQL queries per request once the key's last use is recorded):
the category tree is the key lookup and the tree (2), whatever its size; a
category by handle adds its ancestors and children (3); the collections lists
(Store and Admin) are the key lookup and the page (2), whatever the page size.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from merchantry.catalog import categories, collections
from merchantry.catalog.models import Category, Collection, CollectionProduct
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory, publishable_key, secret_key

pytestmark = pytest.mark.django_db

ADMIN = "/api/v1/admin"
STORE = "/api/v1/store"
TREE_BUDGET = 2
CATEGORY_BUDGET = 3
COLLECTIONS_BUDGET = 2


def _send(client: Client, method: str, url: str, body: Any = None):
    return client.generic(method, url, json.dumps(body or {}), content_type="application/json")


def _errors(response) -> list[tuple[list, str]]:
    assert response.status_code == 422, response.content
    return [(e["loc"], e["code"]) for e in response.json()["errors"]]


def _create(client: Client, name: str, **body: Any) -> dict:
    response = _send(client, "POST", f"{ADMIN}/categories", {"name": name, **body})
    assert response.status_code == 201, response.content
    return response.json()


def _handles(nodes: list[dict]) -> list:
    return [(n["handle"], _handles(n["children"])) if n["children"] else n["handle"] for n in nodes]


def _count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


# -- admin: categories --------------------------------------------------------------------


def test_categories_are_created_and_listed_as_a_tree(admin_client) -> None:
    clothing = _create(admin_client, "Clothing", description="<p>All <script>x</script></p>")
    shirts = _create(admin_client, "Shirts", parent_id=clothing["id"])
    _create(admin_client, "Trousers", parent_id=clothing["id"])
    _create(admin_client, "Hats", parent_id=clothing["id"], position=0)
    linen = _create(admin_client, "Linen", parent_id=shirts["id"])

    tree = admin_client.get(f"{ADMIN}/categories").json()

    assert _handles(tree["items"]) == [("clothing", ["hats", ("shirts", ["linen"]), "trousers"])]
    assert tree["items"][0]["id"] == clothing["id"]
    assert clothing["description"] == "<p>All </p>"
    assert (linen["parent_id"], linen["depth"]) == (shirts["id"], 3)
    assert [a["handle"] for a in linen["ancestors"]] == ["clothing", "shirts"]
    detail = admin_client.get(f"{ADMIN}/categories/{clothing['id']}").json()
    assert [c["handle"] for c in detail["children"]] == ["hats", "shirts", "trousers"]
    assert (detail["parent_id"], detail["ancestors"]) == (None, [])


def test_a_category_is_changed_moved_and_deleted(admin_client) -> None:
    clothing = _create(admin_client, "Clothing")
    shoes = _create(admin_client, "Shoes")
    boots = _create(admin_client, "Boots", parent_id=clothing["id"])
    url = f"{ADMIN}/categories/{boots['id']}"

    patched = _send(admin_client, "PATCH", url, {"name": "Winter boots", "seo_title": "Boots"})
    moved = _send(admin_client, "POST", f"{url}/move", {"parent_id": shoes["id"]})
    first = _create(admin_client, "First", parent_id=shoes["id"])
    reordered = _send(admin_client, "POST", f"{url}/move", {"position": 0})
    siblings = admin_client.get(f"{ADMIN}/categories/{shoes['id']}").json()["children"]
    _send(admin_client, "DELETE", f"{ADMIN}/categories/{first['id']}")
    to_top = _send(admin_client, "POST", f"{url}/move", {"before_id": clothing["id"]})
    deleted = admin_client.delete(url)

    assert patched.json()["name"] == "Winter boots"
    assert patched.json()["handle"] == "boots"
    assert moved.json()["parent_id"] == shoes["id"]
    assert reordered.json()["parent_id"] == shoes["id"]
    assert [c["handle"] for c in siblings] == ["boots", "first"]
    assert to_top.json()["parent_id"] is None
    assert deleted.status_code == 204
    assert _handles(admin_client.get(f"{ADMIN}/categories").json()["items"]) == [
        "clothing",
        "shoes",
    ]


def test_bad_moves_are_422_at_the_field_and_change_nothing(shop, admin_client) -> None:
    top = _create(admin_client, "Top")
    child = _create(admin_client, "Child", parent_id=top["id"])
    url = f"{ADMIN}/categories/{top['id']}/move"
    paths = list(Category.objects.for_shop(shop).values_list("pk", "path"))

    under_itself = _send(admin_client, "POST", url, {"parent_id": child["id"]})
    unknown = _send(admin_client, "POST", url, {"parent_id": "999999"})
    garbage = _send(admin_client, "POST", url, {"after_id": "not-an-id"})
    negative = _send(admin_client, "POST", url, {"position": -1})
    nowhere = _send(admin_client, "POST", url, {})

    assert _errors(under_itself) == [(["parent_id"], "cycle")]
    assert _errors(unknown) == [(["parent_id"], "not_found")]
    assert _errors(garbage) == [(["after_id"], "not_found")]
    assert _errors(negative)[0][0][-1] == "position"
    assert _errors(nowhere) == [(["parent_id"], "invalid")]
    assert list(Category.objects.for_shop(shop).values_list("pk", "path")) == paths


def test_a_category_with_subcategories_is_a_409(admin_client) -> None:
    top = _create(admin_client, "Top")
    _create(admin_client, "Child", parent_id=top["id"])

    response = admin_client.delete(f"{ADMIN}/categories/{top['id']}")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert Category.objects.count() == 2


def test_a_products_categories_are_replaced(shop, admin_client) -> None:
    product = make_product(shop)
    shoes = _create(admin_client, "Shoes")
    boots = _create(admin_client, "Boots", parent_id=shoes["id"])
    url = f"{ADMIN}/products/{product.pk}/categories"

    put = _send(admin_client, "PUT", url, {"category_ids": [boots["id"], shoes["id"]]})
    bad = _send(admin_client, "PUT", url, {"category_ids": [shoes["id"], "x", "999999"]})
    got = admin_client.get(url)

    assert put.status_code == 200, put.content
    assert [c["handle"] for c in put.json()["categories"]] == ["shoes", "boots"]
    assert _errors(bad) == [(["category_ids", 1], "not_found"), (["category_ids", 2], "not_found")]
    assert got.json() == put.json()
    assert sorted(product.categories.values_list("handle", flat=True)) == ["boots", "shoes"]


def test_a_catalog_viewer_reads_but_does_not_write(shop) -> None:
    viewer = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['catalog.view'])}"}
    )
    categories.category_create(actor=SYSTEM_ACTOR, shop=shop, name="Shoes")

    listed = viewer.get(f"{ADMIN}/categories")
    created = _send(viewer, "POST", f"{ADMIN}/categories", {"name": "Hats"})
    collection = _send(viewer, "POST", f"{ADMIN}/collections", {"title": "Picks"})

    assert listed.status_code == 200
    assert (created.status_code, collection.status_code) == (403, 403)
    assert Category.objects.count() == 1
    assert not Collection.objects.exists()


# -- admin: collections -------------------------------------------------------------------


def test_an_automated_collection_with_an_invalid_rule_is_a_422(admin_client) -> None:
    response = _send(
        admin_client,
        "POST",
        f"{ADMIN}/collections",
        {
            "title": "Cheap",
            "kind": "automated",
            "rules": [
                {"field": "tag", "op": "equals", "value": "sale"},
                {"field": "tag", "op": "gte", "value": "x"},
                {"field": "price", "op": "lte", "value": "1.0001"},
            ],
        },
    )

    assert _errors(response) == [
        (["rules", 1, "op"], "unknown_op"),
        (["rules", 2, "value"], "too_many_decimals"),
    ]
    assert not Collection.objects.exists()


def test_collections_are_created_listed_with_cursors_and_changed(admin_client) -> None:
    made = [
        _send(
            admin_client,
            "POST",
            f"{ADMIN}/collections",
            {"title": f"Collection {i}", "is_published": i % 2 == 0},
        )
        for i in range(3)
    ]
    auto = _send(
        admin_client,
        "POST",
        f"{ADMIN}/collections",
        {
            "title": "Summer",
            "kind": "automated",
            "rules": [{"field": "tag", "op": "equals", "value": "summer"}],
            "rules_match_all": False,
        },
    )

    first = admin_client.get(f"{ADMIN}/collections?limit=2").json()
    second = admin_client.get(
        f"{ADMIN}/collections", {"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    automated = admin_client.get(f"{ADMIN}/collections?kind=automated").json()
    published = admin_client.get(f"{ADMIN}/collections?is_published=true").json()
    patched = _send(
        admin_client,
        "PATCH",
        f"{ADMIN}/collections/{auto.json()['id']}",
        {"rules": [{"field": "price", "op": "gte", "value": "10"}], "is_published": True},
    )
    deleted = admin_client.delete(f"{ADMIN}/collections/{made[0].json()['id']}")

    assert [r.status_code for r in made] == [201, 201, 201]
    assert auto.json()["rules"] == [{"field": "tag", "op": "equals", "value": "summer"}]
    assert [c["title"] for c in first["items"] + second["items"]] == [
        "Collection 0",
        "Collection 1",
        "Collection 2",
        "Summer",
    ]
    assert second["next_cursor"] is None
    assert [c["title"] for c in automated["items"]] == ["Summer"]
    assert [c["title"] for c in published["items"]] == ["Collection 0", "Collection 2"]
    assert patched.json()["rules"] == [{"field": "price", "op": "gte", "value": "10"}]
    assert patched.json()["is_published"] is True
    assert deleted.status_code == 204
    assert Collection.objects.count() == 3


def test_a_manual_collections_members_are_added_ordered_and_removed(shop, admin_client) -> None:
    products = [make_product(shop, title=f"P{i}") for i in range(4)]
    ids = [str(p.pk) for p in products]
    collection = _send(admin_client, "POST", f"{ADMIN}/collections", {"title": "Picks"}).json()
    url = f"{ADMIN}/collections/{collection['id']}/products"

    added = _send(admin_client, "POST", url, {"product_ids": [ids[2], ids[0], ids[1]]})
    again = _send(admin_client, "POST", url, {"product_ids": [ids[0], ids[3]]})
    ordered = _send(admin_client, "PUT", f"{url}/order", {"product_ids": [ids[3], *ids[:3]]})
    incomplete = _send(admin_client, "PUT", f"{url}/order", {"product_ids": ids[:2]})
    removed = admin_client.delete(f"{url}/{ids[1]}")
    removed_again = admin_client.delete(f"{url}/{ids[1]}")
    page_one = admin_client.get(url, {"limit": 2}).json()
    page_two = admin_client.get(url, {"limit": 2, "cursor": page_one["next_cursor"]}).json()

    assert added.json() == {"added": [ids[2], ids[0], ids[1]], "count": 3}
    assert again.json() == {"added": [ids[3]], "count": 4}
    assert ordered.status_code == 204
    assert _errors(incomplete) == [(["product_ids"], "incomplete")]
    assert (removed.status_code, removed_again.status_code) == (204, 404)
    items = page_one["items"] + page_two["items"]
    assert [(p["title"], p["position"]) for p in items] == [("P3", 0), ("P0", 1), ("P2", 3)]
    assert page_two["next_cursor"] is None


def test_an_automated_collection_previews_its_matches_per_channel(
    shop, channel, admin_client
) -> None:
    eur = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    make_product(shop, title="Cheap here", channel=channel, price="5.00")
    make_product(shop, title="Cheap there", channel=eur, price="4.00")
    make_product(shop, title="Dear", channel=channel, price="50.00")
    collection = collections.collection_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        title="Cheap",
        kind="automated",
        rules=[{"field": "price", "op": "lte", "value": "10"}],
    )
    url = f"{ADMIN}/collections/{collection.pk}/products"

    anywhere = admin_client.get(url).json()
    here = admin_client.get(url, {"channel_id": str(channel.pk)}).json()
    unknown = admin_client.get(url, {"channel_id": "999999"})
    add = _send(admin_client, "POST", url, {"product_ids": []})

    assert [(p["title"], p["position"]) for p in anywhere["items"]] == [
        ("Cheap here", None),
        ("Cheap there", None),
    ]
    assert [p["title"] for p in here["items"]] == ["Cheap here"]
    assert _errors(unknown) == [(["channel_id"], "not_found")]
    assert add.status_code == 409
    assert not CollectionProduct.objects.exists()


# -- store --------------------------------------------------------------------------------


@pytest.fixture
def store_tree(shop, other_shop) -> None:
    top = categories.category_create(actor=SYSTEM_ACTOR, shop=shop, name="Clothing")
    shirts = categories.category_create(
        actor=SYSTEM_ACTOR, shop=shop, name="Shirts", parent_id=top.pk
    )
    categories.category_create(actor=SYSTEM_ACTOR, shop=shop, name="Linen", parent_id=shirts.pk)
    categories.category_create(actor=SYSTEM_ACTOR, shop=other_shop, name="Globex goods")


def test_the_store_shows_the_shops_tree_and_a_category_by_handle(store_client, store_tree) -> None:
    tree = store_client.get(f"{STORE}/categories").json()
    shirts = store_client.get(f"{STORE}/categories/shirts").json()
    foreign = store_client.get(f"{STORE}/categories/globex-goods")
    unknown = store_client.get(f"{STORE}/categories/{'x' * 300}")

    assert _handles(tree["items"]) == [("clothing", [("shirts", ["linen"])])]
    assert set(tree["items"][0]) == {"id", "name", "handle", "children"}
    assert [a["handle"] for a in shirts["ancestors"]] == ["clothing"]
    assert [c["handle"] for c in shirts["children"]] == ["linen"]
    assert "created_at" not in shirts
    assert (foreign.status_code, unknown.status_code) == (404, 404)


def test_the_store_tree_costs_the_same_whatever_its_size(
    shop, store_client, store_tree, django_assert_max_num_queries
) -> None:
    store_client.get(f"{STORE}/categories")  # the key's first use also records it
    small = _count(store_client, f"{STORE}/categories")
    for i in range(10):
        top = categories.category_create(actor=SYSTEM_ACTOR, shop=shop, name=f"Top {i}")
        for j in range(3):
            categories.category_create(
                actor=SYSTEM_ACTOR, shop=shop, name=f"Child {i} {j}", parent_id=top.pk
            )

    with django_assert_max_num_queries(TREE_BUDGET):
        response = store_client.get(f"{STORE}/categories")

    assert len(response.json()["items"]) == 11
    assert _count(store_client, f"{STORE}/categories") == small
    with django_assert_max_num_queries(CATEGORY_BUDGET):
        assert store_client.get(f"{STORE}/categories/shirts").status_code == 200


def test_the_store_lists_published_collections_only(shop, other_shop, store_client) -> None:
    for title, published in (("Visible", True), ("Hidden", False), ("Also visible", True)):
        collections.collection_create(
            actor=SYSTEM_ACTOR, shop=shop, title=title, is_published=published
        )
    collections.collection_create(
        actor=SYSTEM_ACTOR, shop=other_shop, title="Globex picks", is_published=True
    )

    listed = store_client.get(f"{STORE}/collections").json()
    visible = store_client.get(f"{STORE}/collections/visible")
    hidden = store_client.get(f"{STORE}/collections/hidden")
    foreign = store_client.get(f"{STORE}/collections/globex-picks")

    assert [c["handle"] for c in listed["items"]] == ["also-visible", "visible"]
    assert "rules" not in listed["items"][0]
    assert visible.json()["title"] == "Visible"
    assert (hidden.status_code, foreign.status_code) == (404, 404)


def test_the_store_collections_list_costs_the_same_whatever_the_page(
    shop, store_client, django_assert_max_num_queries
) -> None:
    store_client.get(f"{STORE}/collections")
    collections.collection_create(actor=SYSTEM_ACTOR, shop=shop, title="One", is_published=True)
    small = _count(store_client, f"{STORE}/collections")
    for i in range(40):
        collections.collection_create(
            actor=SYSTEM_ACTOR, shop=shop, title=f"Many {i}", is_published=True
        )

    with django_assert_max_num_queries(COLLECTIONS_BUDGET):
        response = store_client.get(f"{STORE}/collections")

    assert len(response.json()["items"]) == 41
    assert _count(store_client, f"{STORE}/collections") == small


def test_another_channels_key_of_the_shop_sees_the_same_taxonomy(shop, store_tree) -> None:
    other = ChannelFactory(shop=shop, slug="pos", currency="EUR")
    client = Client(headers={"X-Publishable-Key": publishable_key(other)})

    assert _handles(client.get(f"{STORE}/categories").json()["items"]) == [
        ("clothing", [("shirts", ["linen"])])
    ]


def test_the_admin_collections_list_costs_the_same_whatever_the_page(
    shop, admin_client, django_assert_max_num_queries
) -> None:
    admin_client.get(f"{ADMIN}/collections")  # the key's first use also records it
    collections.collection_create(actor=SYSTEM_ACTOR, shop=shop, title="One")
    small = _count(admin_client, f"{ADMIN}/collections")
    for i in range(40):
        collections.collection_create(actor=SYSTEM_ACTOR, shop=shop, title=f"Many {i}")

    with django_assert_max_num_queries(COLLECTIONS_BUDGET):
        response = admin_client.get(f"{ADMIN}/collections")

    assert len(response.json()["items"]) == 41
    assert _count(admin_client, f"{ADMIN}/collections") == small
