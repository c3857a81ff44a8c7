"""Category services: handles, the tree, moves, deletion, a product's categories, the filter."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from merchantry.catalog import categories
from merchantry.catalog.models import Category, Product
from merchantry.core.actors import SYSTEM_ACTOR, Actor
from merchantry.core.errors import Conflict, PermissionDenied, ValidationFailed
from merchantry.core.events import OutboxEvent
from merchantry.core.models import AuditEvent
from merchantry.tenancy.models import Shop
from tests.catalog.conftest import make_product

pytestmark = pytest.mark.django_db


def _codes(exc: ValidationFailed) -> list[tuple[tuple, str]]:
    return [(e.loc, e.code) for e in exc.errors]


def _shape(shop: Shop) -> list:
    """The tree as nested (handle, [children]) pairs; leaves are plain handles."""

    def walk(nodes: list[categories.CategoryNode]) -> list:
        return [
            (n.category.handle, walk(n.children)) if n.children else n.category.handle
            for n in nodes
        ]

    return walk(categories.category_tree(shop))


def _make(shop: Shop, actor, name: str, parent: Category | None = None, **kw) -> Category:
    return categories.category_create(
        actor=actor, shop=shop, name=name, parent_id=parent.pk if parent else None, **kw
    )


def _paths(shop: Shop) -> dict[int, str]:
    return dict(Category.objects.for_shop(shop).values_list("pk", "path"))


@pytest.fixture
def tree(shop, actor) -> dict[str, Category]:
    """Clothing > (Shirts > Linen, Trousers), Shoes; created in that order."""
    made: dict[str, Category] = {}
    made["clothing"] = _make(shop, actor, "Clothing")
    made["shirts"] = _make(shop, actor, "Shirts", made["clothing"])
    made["linen"] = _make(shop, actor, "Linen", made["shirts"])
    made["trousers"] = _make(shop, actor, "Trousers", made["clothing"])
    made["shoes"] = _make(shop, actor, "Shoes")
    for category in made.values():
        category.refresh_from_db()
    return made


# -- creating and changing ---------------------------------------------------------------


def test_handles_come_from_names_deduplicated_per_shop(shop, other_shop, actor) -> None:
    first = _make(shop, actor, "Summer Sale!")
    second = _make(shop, actor, "Summer sale")
    elsewhere = _make(other_shop, actor, "Summer sale")

    assert (first.handle, second.handle, elsewhere.handle) == (
        "summer-sale",
        "summer-sale-2",
        "summer-sale",
    )


def test_an_explicit_duplicate_handle_is_a_field_error(shop, actor) -> None:
    _make(shop, actor, "Shoes", handle="shoes")

    with pytest.raises(ValidationFailed) as caught:
        _make(shop, actor, "Boots", handle="shoes")

    assert _codes(caught.value) == [(("handle",), "unique")]
    assert Category.objects.for_shop(shop).count() == 1


def test_the_tree_nests_children_in_their_order(shop, tree) -> None:
    assert _shape(shop) == [("clothing", [("shirts", ["linen"]), "trousers"]), "shoes"]


def test_the_tree_is_one_query_and_only_the_shops(
    shop, other_shop, actor, tree, django_assert_num_queries
) -> None:
    theirs = _make(other_shop, actor, "Globex things")
    _make(other_shop, actor, "Globex child", theirs)
    for i in range(20):
        _make(shop, actor, f"Extra {i}", tree["linen"])

    with django_assert_num_queries(1):
        roots = categories.category_tree(shop)

    assert [n.category.handle for n in roots] == ["clothing", "shoes"]
    linen = roots[0].children[0].children[0]
    assert len(linen.children) == 20
    assert [n.category.handle for n in categories.category_tree(other_shop)] == ["globex-things"]


def test_create_at_a_position_among_siblings(shop, actor, tree) -> None:
    _make(shop, actor, "Hats", position=0)
    _make(shop, actor, "Socks", tree["clothing"], position=1)

    assert _shape(shop) == [
        "hats",
        ("clothing", [("shirts", ["linen"]), "socks", "trousers"]),
        "shoes",
    ]


def test_create_records_an_event_and_an_audit_entry(shop, actor) -> None:
    category = _make(shop, actor, "Shoes", description="<p onclick='x()'>Nice</p>")

    assert category.description == "<p>Nice</p>"
    event = OutboxEvent.objects.get(type="category.changed", shop_id=shop.pk)
    assert event.payload == {
        "category_id": str(category.pk),
        "handle": "shoes",
        "action": "created",
    }
    assert AuditEvent.objects.filter(action="category.create", shop_id=shop.pk).count() == 1


def test_an_unknown_parent_is_a_field_error(shop, other_shop, actor) -> None:
    theirs = _make(other_shop, actor, "Theirs")

    for parent_id in (theirs.pk, 999_999):
        with pytest.raises(ValidationFailed) as caught:
            categories.category_create(actor=actor, shop=shop, name="X", parent_id=parent_id)
        assert _codes(caught.value) == [(("parent_id",), "not_found")]
    assert not Category.objects.for_shop(shop).exists()


def test_update_changes_fields_and_refuses_a_taken_handle(shop, actor, tree) -> None:
    changed = categories.category_update(
        actor=actor,
        shop=shop,
        category_id=tree["shoes"].pk,
        changes={"name": "Footwear", "handle": "footwear", "seo_title": "Shoes!"},
    )

    with pytest.raises(ValidationFailed) as caught:
        categories.category_update(
            actor=actor, shop=shop, category_id=tree["shirts"].pk, changes={"handle": "footwear"}
        )

    assert (changed.name, changed.handle, changed.seo_title) == ("Footwear", "footwear", "Shoes!")
    assert _codes(caught.value) == [(("handle",), "unique")]
    assert Category.objects.get(pk=tree["shirts"].pk).handle == "shirts"


def test_a_viewer_cannot_change_categories(shop, tree) -> None:
    viewer = Actor(kind="api_key", key="k", label="k", permissions=frozenset({"catalog.view"}))

    with pytest.raises(PermissionDenied):
        categories.category_create(actor=viewer, shop=shop, name="X")
    with pytest.raises(PermissionDenied):
        categories.category_move(actor=viewer, shop=shop, category_id=tree["shoes"].pk)

    assert Category.objects.for_shop(shop).count() == 5


# -- moving ---------------------------------------------------------------------------


def test_move_under_another_parent_takes_the_branch_along(shop, actor, tree) -> None:
    categories.category_move(
        actor=actor, shop=shop, category_id=tree["shirts"].pk, parent_id=tree["shoes"].pk
    )

    assert _shape(shop) == [("clothing", ["trousers"]), ("shoes", [("shirts", ["linen"])])]
    linen = Category.objects.get(pk=tree["linen"].pk)
    assert linen.depth == 3
    assert Category.objects.get(pk=tree["clothing"].pk).numchild == 1
    assert Category.objects.get(pk=tree["shoes"].pk).numchild == 1
    assert OutboxEvent.objects.filter(type="category.changed", payload__action="moved").exists()


def test_move_to_the_top_level_and_to_a_position(shop, actor, tree) -> None:
    categories.category_move(
        actor=actor, shop=shop, category_id=tree["linen"].pk, parent_id=None, position=0
    )

    assert _shape(shop) == ["linen", ("clothing", ["shirts", "trousers"]), "shoes"]
    assert Category.objects.get(pk=tree["shirts"].pk).numchild == 0


def test_move_before_and_after_a_sibling(shop, actor, tree) -> None:
    hats = _make(shop, actor, "Hats")

    categories.category_move(
        actor=actor, shop=shop, category_id=hats.pk, before_id=tree["trousers"].pk
    )
    first = _shape(shop)
    categories.category_move(
        actor=actor, shop=shop, category_id=tree["shirts"].pk, after_id=tree["trousers"].pk
    )
    second = _shape(shop)
    categories.category_move(actor=actor, shop=shop, category_id=hats.pk, after_id=tree["shoes"].pk)

    assert first == [("clothing", [("shirts", ["linen"]), "hats", "trousers"]), "shoes"]
    assert second == [("clothing", ["hats", "trousers", ("shirts", ["linen"])]), "shoes"]
    assert _shape(shop) == [("clothing", ["trousers", ("shirts", ["linen"])]), "shoes", "hats"]


@pytest.mark.parametrize("position", [0, 1, 2, 3, 99])
def test_reordering_siblings_puts_the_category_at_the_position(shop, actor, position) -> None:
    names = ["a", "b", "c", "d"]
    made = {n: _make(shop, actor, n) for n in names}
    expected = [n for n in names if n != "b"]
    expected.insert(min(position, 3), "b")

    categories.category_move(actor=actor, shop=shop, category_id=made["b"].pk, position=position)

    assert _shape(shop) == expected


def test_a_position_alone_reorders_under_the_current_parent(shop, actor, tree) -> None:
    categories.category_move(actor=actor, shop=shop, category_id=tree["trousers"].pk, position=0)

    assert _shape(shop) == [("clothing", ["trousers", ("shirts", ["linen"])]), "shoes"]


def test_staying_under_the_same_parent_without_a_position_changes_nothing(
    shop, actor, tree
) -> None:
    before = _paths(shop)

    categories.category_move(
        actor=actor, shop=shop, category_id=tree["shirts"].pk, parent_id=tree["clothing"].pk
    )

    assert _paths(shop) == before


def test_moves_at_the_top_level_never_touch_another_shops_rows(
    shop, other_shop, actor, tree
) -> None:
    # given: the other shop's top-level categories are interleaved with ours
    theirs = _make(other_shop, actor, "Globex A")
    _make(other_shop, actor, "Globex A child", theirs)
    hats = _make(shop, actor, "Hats")
    _make(other_shop, actor, "Globex B")
    their_rows = list(Category.objects.for_shop(other_shop).values().order_by("pk"))

    # when: ours are reordered, moved to the top and back down
    categories.category_move(actor=actor, shop=shop, category_id=hats.pk, position=0)
    categories.category_move(actor=actor, shop=shop, category_id=tree["linen"].pk, parent_id=None)
    categories.category_move(
        actor=actor, shop=shop, category_id=tree["shoes"].pk, before_id=tree["clothing"].pk
    )

    # then
    assert _shape(shop) == ["hats", "shoes", ("clothing", ["shirts", "trousers"]), "linen"]
    assert list(Category.objects.for_shop(other_shop).values().order_by("pk")) == their_rows
    assert _shape(other_shop) == [("globex-a", ["globex-a-child"]), "globex-b"]


def test_a_category_cannot_move_under_itself_or_its_descendants(shop, actor, tree) -> None:
    before = _paths(shop)

    for kwargs in (
        {"parent_id": tree["clothing"].pk},
        {"parent_id": tree["linen"].pk},
        {"before_id": tree["linen"].pk},
    ):
        with pytest.raises(ValidationFailed) as caught:
            categories.category_move(
                actor=actor, shop=shop, category_id=tree["clothing"].pk, **kwargs
            )
        assert _codes(caught.value)[0][1] == "cycle"

    assert _paths(shop) == before


def test_move_refuses_ambiguous_or_foreign_targets(shop, other_shop, actor, tree) -> None:
    theirs = _make(other_shop, actor, "Theirs")
    cases = [
        ({"parent_id": theirs.pk}, [(("parent_id",), "not_found")]),
        ({"before_id": theirs.pk}, [(("before_id",), "not_found")]),
        (
            {"before_id": tree["shoes"].pk, "after_id": tree["shoes"].pk},
            [(("after_id",), "ambiguous")],
        ),
        ({"after_id": tree["clothing"].pk, "position": 0}, [(("after_id",), "ambiguous")]),
        ({"before_id": tree["shirts"].pk}, [(("before_id",), "self")]),
    ]
    before = _paths(shop)

    for kwargs, codes in cases:
        with pytest.raises(ValidationFailed) as caught:
            categories.category_move(
                actor=actor, shop=shop, category_id=tree["shirts"].pk, **kwargs
            )
        assert _codes(caught.value) == codes, kwargs

    assert _paths(shop) == before


def test_categories_nest_at_most_max_depth(shop, actor) -> None:
    parent = None
    for level in range(categories.MAX_DEPTH):
        parent = _make(shop, actor, f"Level {level}", parent)
    other = _make(shop, actor, "Other")
    _make(shop, actor, "Other child", other)

    with pytest.raises(ValidationFailed) as too_deep:
        _make(shop, actor, "Too deep", parent)
    with pytest.raises(ValidationFailed) as moved_too_deep:
        categories.category_move(actor=actor, shop=shop, category_id=other.pk, parent_id=parent.pk)

    assert _codes(too_deep.value) == [(("parent_id",), "too_deep")]
    assert _codes(moved_too_deep.value) == [(("parent_id",), "too_deep")]
    assert Category.objects.for_shop(shop).count() == categories.MAX_DEPTH + 2
    assert Category.objects.get(pk=other.pk).depth == 1


# -- deleting --------------------------------------------------------------------------


def test_a_category_with_subcategories_is_not_deleted(shop, actor, tree) -> None:
    with pytest.raises(Conflict) as caught:
        categories.category_delete(actor=actor, shop=shop, category_id=tree["shirts"].pk)

    assert "subcategories" in caught.value.detail
    assert Category.objects.for_shop(shop).count() == 5


def test_deleting_a_category_leaves_its_products_in_the_catalog(shop, actor, tree) -> None:
    product = make_product(shop)
    categories.product_set_categories(
        actor=actor,
        shop=shop,
        product_id=product.pk,
        category_ids=[tree["linen"].pk, tree["shoes"].pk],
    )

    categories.category_delete(actor=actor, shop=shop, category_id=tree["linen"].pk)

    assert list(product.categories.values_list("handle", flat=True)) == ["shoes"]
    assert Product.objects.filter(pk=product.pk).exists()
    assert Category.objects.get(pk=tree["shirts"].pk).numchild == 0
    assert AuditEvent.objects.filter(action="category.delete", target_id=str(tree["linen"].pk))


# -- a product's categories -----------------------------------------------------------


def test_a_products_categories_are_replaced(shop, actor, tree) -> None:
    product = make_product(shop)

    first = categories.product_set_categories(
        actor=actor,
        shop=shop,
        product_id=product.pk,
        category_ids=[tree["shoes"].pk, tree["linen"].pk, tree["shoes"].pk],
    )
    second = categories.product_set_categories(
        actor=actor, shop=shop, product_id=product.pk, category_ids=[tree["trousers"].pk]
    )

    assert [c.handle for c in first] == ["linen", "shoes"]  # tree order, once each
    assert [c.handle for c in second] == ["trousers"]
    assert list(product.categories.values_list("handle", flat=True)) == ["trousers"]
    assert OutboxEvent.objects.filter(type="product.changed", shop_id=shop.pk).count() >= 3


def test_another_shops_category_is_a_field_error_at_its_index(
    shop, other_shop, actor, tree
) -> None:
    product = make_product(shop)
    categories.product_set_categories(
        actor=actor, shop=shop, product_id=product.pk, category_ids=[tree["shoes"].pk]
    )
    theirs = _make(other_shop, actor, "Theirs")

    with pytest.raises(ValidationFailed) as caught:
        categories.product_set_categories(
            actor=actor,
            shop=shop,
            product_id=product.pk,
            category_ids=[tree["linen"].pk, theirs.pk, 999_999],
        )

    assert _codes(caught.value) == [
        (("category_ids", 1), "not_found"),
        (("category_ids", 2), "not_found"),
    ]
    assert list(product.categories.values_list("handle", flat=True)) == ["shoes"]


# -- the product filter ---------------------------------------------------------------


@pytest.fixture
def filed(shop, actor, tree) -> dict[str, Product]:
    """A product in each of linen, shirts, trousers and shoes, and one in none."""
    products = {}
    for name in ("linen", "shirts", "trousers", "shoes"):
        product = make_product(shop, title=f"In {name}")
        categories.product_set_categories(
            actor=actor, shop=shop, product_id=product.pk, category_ids=[tree[name].pk]
        )
        products[name] = product
    products["none"] = make_product(shop, title="Uncategorised")
    return products


def _titles(shop: Shop, q) -> list[str]:
    return sorted(Product.objects.for_shop(shop).filter(q).values_list("title", flat=True))


@pytest.mark.parametrize("by_handle", [False, True])
def test_the_filter_includes_every_descendant(shop, tree, filed, by_handle) -> None:
    def ref(name: str) -> Category | str:
        return name if by_handle else tree[name]

    assert _titles(shop, categories.category_product_filter(shop, ref("clothing"))) == [
        "In linen",
        "In shirts",
        "In trousers",
    ]
    assert _titles(shop, categories.category_product_filter(shop, ref("shirts"))) == [
        "In linen",
        "In shirts",
    ]
    assert _titles(shop, categories.category_product_filter(shop, ref("shoes"))) == ["In shoes"]
    assert _titles(
        shop, categories.category_product_filter(shop, ref("shirts"), include_descendants=False)
    ) == ["In shirts"]


def test_a_product_in_two_branches_appears_once(shop, actor, tree, filed) -> None:
    categories.product_set_categories(
        actor=actor,
        shop=shop,
        product_id=filed["linen"].pk,
        category_ids=[tree["linen"].pk, tree["trousers"].pk, tree["clothing"].pk],
    )

    titles = _titles(shop, categories.category_product_filter(shop, "clothing"))

    assert titles == ["In linen", "In shirts", "In trousers"]


def test_the_filter_follows_moves(shop, actor, tree, filed) -> None:
    categories.category_move(
        actor=actor, shop=shop, category_id=tree["shirts"].pk, parent_id=tree["shoes"].pk
    )

    assert _titles(shop, categories.category_product_filter(shop, "clothing")) == ["In trousers"]
    assert _titles(shop, categories.category_product_filter(shop, "shoes")) == [
        "In linen",
        "In shirts",
        "In shoes",
    ]


def test_unknown_or_foreign_categories_match_nothing(shop, other_shop, actor, tree, filed) -> None:
    theirs = _make(other_shop, actor, "Clothing")
    their_product = make_product(other_shop, title="Theirs")
    categories.product_set_categories(
        actor=actor, shop=other_shop, product_id=their_product.pk, category_ids=[theirs.pk]
    )

    assert _titles(shop, categories.category_product_filter(shop, "no-such-handle")) == []
    assert _titles(shop, categories.category_product_filter(shop, theirs)) == []
    everywhere = Product.objects.filter(categories.category_product_filter(shop, "clothing"))
    assert "Theirs" not in set(everywhere.values_list("title", flat=True))
    assert _titles(other_shop, categories.category_product_filter(other_shop, "clothing")) == [
        "Theirs"
    ]


def test_the_filter_is_one_query_with_one_subquery(shop, tree, filed) -> None:
    with CaptureQueriesContext(connection) as built:
        q = categories.category_product_filter(shop, "clothing")
    with CaptureQueriesContext(connection) as evaluated:
        titles = list(Product.objects.for_shop(shop).filter(q).values_list("title", flat=True))

    assert len(built) == 0
    assert len(evaluated) == 1
    assert len(titles) == 3
    sql = evaluated[0]["sql"].upper()
    assert sql.count("SELECT") == 3  # the products, the links, the handle's path


# -- two shops at once (PostgreSQL: real concurrent transactions) --------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_shops_adding_top_level_categories_at_once_both_succeed(shop, other_shop) -> None:
    # given: shop A has taken the next root path in a transaction still open
    inserted, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def shop_a() -> None:
        try:
            with transaction.atomic():
                results["a"] = _make(shop, SYSTEM_ACTOR, "First")
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()

    def shop_b() -> None:
        try:
            # computes the same path as A, waits on A's row, then retries
            results["b"] = _make(other_shop, SYSTEM_ACTOR, "Second")
        except Exception as exc:  # reported below
            results["b"] = exc
        finally:
            connections.close_all()

    first = threading.Thread(target=shop_a)
    first.start()
    assert inserted.wait(10)
    second = threading.Thread(target=shop_b)
    second.start()
    time.sleep(0.5)  # B is now blocked on A's uncommitted path

    # when: A commits
    release.set()
    first.join(10)
    second.join(10)

    # then: B took the next path
    assert isinstance(results["b"], Category), results["b"]
    a, b = results["a"], results["b"]
    assert a.path != b.path
    assert len(Category.objects.filter(depth=1)) == 2
