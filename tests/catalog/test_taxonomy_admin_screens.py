"""The category tree and collection screens: one shop at a time, changes through the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from merchantry.catalog import categories, collections
from merchantry.catalog.models import Category, Collection, CollectionProduct
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import AuditEvent
from tests.catalog.conftest import make_product
from tests.test_admin_tenancy import member, staff_client

pytestmark = pytest.mark.django_db

CATEGORIES = "admin:catalog_category_changelist"


def _category(shop, name: str, parent: Category | None = None) -> Category:
    return categories.category_create(
        actor=SYSTEM_ACTOR, shop=shop, name=name, parent_id=parent.pk if parent else None
    )


def _tree(shop) -> list:
    def walk(nodes: list) -> list:
        return [
            (n.category.handle, walk(n.children)) if n.children else n.category.handle
            for n in nodes
        ]

    return walk(categories.category_tree(shop))


def _category_form(**fields: Any) -> dict[str, Any]:
    return {
        "name": "",
        "handle": "",
        "description": "",
        "seo_title": "",
        "seo_description": "",
        "treebeard_position": "first-child",
        "treebeard_ref_node": "",
        **fields,
    }


@pytest.fixture
def manager(shop):
    return staff_client(member(shop, "catalog_manager"), shop)


# -- categories -------------------------------------------------------------------------


def test_the_tree_screen_shows_the_shops_top_level_and_children(shop, other_shop, manager) -> None:
    clothing = _category(shop, "Acme-Clothing-x1")
    _category(shop, "Acme-Shirts-x1", clothing)
    theirs = _category(other_shop, "Globex-Top-x1")
    url = reverse(CATEGORIES)

    page = manager.get(url)
    children = manager.get(f"{url}children/{clothing.pk}/")
    foreign = manager.get(f"{url}children/{theirs.pk}/")
    searched = manager.get(url, {"q": "shirts"})

    assert page.status_code == 200
    body = page.content.decode()
    assert "Acme-Clothing-x1" in body
    assert "Acme-Shirts-x1" not in body  # one level at a time
    assert "Globex" not in body
    assert children.status_code == 200
    assert "Acme-Shirts-x1" in children.json()["result_html"]
    assert foreign.status_code == 404
    assert "Acme-Shirts-x1" in searched.content.decode()


def test_the_form_offers_only_the_shops_categories_outside_the_branch(
    shop, other_shop, manager
) -> None:
    clothing = _category(shop, "Clothing")
    shirts = _category(shop, "Shirts", clothing)
    _category(shop, "Linen", shirts)
    _category(shop, "Shoes")
    _category(other_shop, "Globex-Top-x1")

    add = manager.get(reverse("admin:catalog_category_add"))
    change = manager.get(reverse("admin:catalog_category_change", args=[shirts.pk]))

    assert add.status_code == 200
    assert "Globex" not in add.content.decode()
    assert change.status_code == 200
    choices = change.context["adminform"].form.fields["treebeard_ref_node"].queryset
    assert [c.handle for c in choices] == ["clothing", "shoes"]
    initial = change.context["adminform"].form.initial
    assert (initial["treebeard_position"], initial["treebeard_ref_node"]) == (
        "first-child",
        clothing,
    )


def test_a_category_added_in_the_admin_goes_through_the_service(shop, manager) -> None:
    clothing = _category(shop, "Clothing")
    _category(shop, "Shirts", clothing)
    trousers = _category(shop, "Trousers", clothing)

    response = manager.post(
        reverse("admin:catalog_category_add"),
        _category_form(
            name="Hats & Caps",
            description="<p onclick='x()'>Hats</p>",
            treebeard_position="left",
            treebeard_ref_node=str(trousers.pk),
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    hats = Category.objects.get(handle="hats-caps")
    assert hats.description == "<p>Hats</p>"
    assert _tree(shop) == [("clothing", ["shirts", "hats-caps", "trousers"])]
    assert AuditEvent.objects.filter(action="category.create", target_id=str(hats.pk)).exists()


def test_a_category_moved_in_the_form_goes_through_the_service(shop, manager) -> None:
    clothing = _category(shop, "Clothing")
    shirts = _category(shop, "Shirts", clothing)
    shoes = _category(shop, "Shoes")

    response = manager.post(
        reverse("admin:catalog_category_change", args=[shirts.pk]),
        _category_form(
            name="Shirts",
            handle="shirts",
            treebeard_position="right",
            treebeard_ref_node=str(shoes.pk),
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert _tree(shop) == ["clothing", "shoes", "shirts"]
    assert AuditEvent.objects.filter(action="category.move", target_id=str(shirts.pk)).exists()


def test_a_drop_in_the_tree_moves_through_the_service(shop, other_shop, manager) -> None:
    clothing = _category(shop, "Clothing")
    shirts = _category(shop, "Shirts", clothing)
    shoes = _category(shop, "Shoes")
    theirs = _category(other_shop, "Theirs")
    url = f"{reverse(CATEGORIES)}move/"

    into = manager.post(url, {"node": shirts.pk, "target": shoes.pk, "relation": "child"})
    before = manager.post(url, {"node": shoes.pk, "target": clothing.pk, "relation": "sibling"})
    foreign = manager.post(url, {"node": shirts.pk, "target": theirs.pk, "relation": "child"})
    cycle = manager.post(url, {"node": shoes.pk, "target": shirts.pk, "relation": "child"})
    garbage = manager.post(url, {"node": "x", "target": shoes.pk, "relation": "child"})

    assert (into.status_code, before.status_code) == (200, 200)
    assert (foreign.status_code, cycle.status_code, garbage.status_code) == (400, 400, 400)
    assert _tree(shop) == [("shoes", ["shirts"]), "clothing"]
    assert _tree(other_shop) == ["theirs"]


def test_a_category_with_subcategories_is_not_deleted_in_the_admin(shop, manager) -> None:
    clothing = _category(shop, "Clothing")
    _category(shop, "Shirts", clothing)

    response = manager.post(
        reverse("admin:catalog_category_delete", args=[clothing.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert Category.objects.filter(pk=clothing.pk).exists()


def test_a_read_only_member_sees_the_tree_but_cannot_add(shop) -> None:
    _category(shop, "Clothing")
    client = staff_client(member(shop, "read_only"), shop)

    listed = client.get(reverse(CATEGORIES))
    added = client.post(reverse("admin:catalog_category_add"), _category_form(name="X"))
    dropped = client.post(f"{reverse(CATEGORIES)}move/", {})

    assert listed.status_code == 200
    assert (added.status_code, dropped.status_code) == (403, 403)
    assert Category.objects.count() == 1


# -- collections ------------------------------------------------------------------------


def _collection_form(**fields: Any) -> dict[str, Any]:
    return {
        "title": "",
        "handle": "",
        "kind": "manual",
        "rules": "[]",
        "rules_match_all": "on",
        "description": "",
        "seo_title": "",
        "seo_description": "",
        **fields,
    }


def test_the_collection_screens_render_for_the_shop(shop, other_shop, manager) -> None:
    manual = collections.collection_create(actor=SYSTEM_ACTOR, shop=shop, title="Acme-Picks-x1")
    automated = collections.collection_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        title="Acme-Summer-x1",
        kind="automated",
        rules=[{"field": "tag", "op": "equals", "value": "summer"}],
    )
    collections.collection_create(actor=SYSTEM_ACTOR, shop=other_shop, title="Globex-x1")
    make_product(shop, title="Sunhat-x1", tags=["summer"])
    make_product(shop, title="Scarf-x1", tags=["winter"])

    listed = manager.get(reverse("admin:catalog_collection_changelist"))
    add = manager.get(reverse("admin:catalog_collection_add"))
    manual_page = manager.get(reverse("admin:catalog_collection_change", args=[manual.pk]))
    auto_page = manager.get(reverse("admin:catalog_collection_change", args=[automated.pk]))

    assert (listed.status_code, add.status_code) == (200, 200)
    assert "Acme-Picks-x1" in listed.content.decode()
    assert "Globex" not in listed.content.decode()
    assert manual_page.status_code == 200
    assert "entries-TOTAL_FORMS" in manual_page.content.decode()
    assert auto_page.status_code == 200
    preview = auto_page.content.decode()
    assert "Sunhat-x1" in preview
    assert "Scarf-x1" not in preview
    assert "entries-TOTAL_FORMS" not in preview


def test_an_automated_collection_with_a_bad_rule_shows_the_error(shop, manager) -> None:
    bad = manager.post(
        reverse("admin:catalog_collection_add"),
        _collection_form(
            title="Cheap",
            kind="automated",
            rules='[{"field": "price", "op": "equals", "value": "10"}]',
        ),
    )
    good = manager.post(
        reverse("admin:catalog_collection_add"),
        _collection_form(
            title="Cheap",
            kind="automated",
            rules='[{"field": "price", "op": "lte", "value": "10"}]',
            is_published="on",
        ),
    )

    assert bad.status_code == 200
    assert "op is one of: gte, lte" in bad.content.decode()
    assert good.status_code == 302, good.content.decode()[:3000]
    created = Collection.objects.get(shop=shop)
    assert (created.handle, created.kind, created.is_published) == ("cheap", "automated", True)
    assert created.rules == [{"field": "price", "op": "lte", "value": "10"}]


def _members_form(
    collection: Collection, rows: list[tuple[Any, int, bool]], initial: int = 0
) -> dict[str, Any]:
    """The change form of a manual collection with its inline rows (entry, product, delete)."""
    data = _collection_form(title=collection.title, handle=collection.handle)
    data.pop("kind")  # disabled on the change form
    data.update(
        {
            "entries-TOTAL_FORMS": str(len(rows)),
            "entries-INITIAL_FORMS": str(initial),
            "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "1000",
        }
    )
    for index, (entry, product_id, delete) in enumerate(rows):
        data[f"entries-{index}-id"] = str(entry.pk) if entry else ""
        data[f"entries-{index}-collection"] = str(collection.pk)
        data[f"entries-{index}-product"] = str(product_id)
        data[f"entries-{index}-position"] = str(index)
        if delete:
            data[f"entries-{index}-DELETE"] = "on"
    return data


def test_manual_members_are_saved_in_order_through_the_service(shop, manager) -> None:
    p0, p1, p2 = (make_product(shop, title=f"P{i}") for i in range(3))
    collection = collections.collection_create(actor=SYSTEM_ACTOR, shop=shop, title="Picks")
    collections.collection_add_products(
        actor=SYSTEM_ACTOR, shop=shop, collection_id=collection.pk, product_ids=[p0.pk, p1.pk]
    )
    e0, e1 = CollectionProduct.objects.filter(collection=collection).order_by("position")

    # when: p1 moves first, p0 is removed, p2 is added last
    response = manager.post(
        reverse("admin:catalog_collection_change", args=[collection.pk]),
        _members_form(collection, [(e1, p1.pk, False), (e0, p0.pk, True), (None, p2.pk, False)], 2),
    )

    assert response.status_code == 302, response.content.decode()[:4000]
    ordered = collections.collection_products(collection)
    assert [p.title for p in ordered] == ["P1", "P2"]
    assert AuditEvent.objects.filter(action="collection.products").count() == 2


def test_another_shops_product_cannot_be_added_and_nothing_is_saved(
    shop, other_shop, manager
) -> None:
    mine = make_product(shop, title="Mine")
    theirs = make_product(other_shop, title="Theirs")
    collection = collections.collection_create(actor=SYSTEM_ACTOR, shop=shop, title="Picks")
    data = _members_form(collection, [(None, mine.pk, False), (None, theirs.pk, False)])
    data["title"] = "Renamed"

    response = manager.post(reverse("admin:catalog_collection_change", args=[collection.pk]), data)

    assert response.status_code == 200  # shown again with the error
    collection.refresh_from_db()
    assert collection.title == "Picks"  # the form's change was rolled back too
    assert not CollectionProduct.objects.exists()


def test_deleting_a_collection_in_the_admin_goes_through_the_service(shop, manager) -> None:
    collection = collections.collection_create(actor=SYSTEM_ACTOR, shop=shop, title="Gone")

    response = manager.post(
        reverse("admin:catalog_collection_delete", args=[collection.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Collection.objects.exists()
    assert AuditEvent.objects.filter(action="collection.delete").count() == 1
