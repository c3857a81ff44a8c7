"""
A shop's category tree: its changes, a product's categories, and the reads
storefronts and product filters need.

Each shop's top-level categories are roots of the installation-wide
materialised-path tree (:class:`~merchantry.catalog.models.Category`), so:

- a branch is a prefix match on ``path``: a product filter over a category
  and all its descendants is one subquery, whatever the depth;
- the shop's whole tree is one query ordered by ``path`` (a parent comes
  before its children, siblings in their order);
- the roots of every shop share one level, so nothing here shifts siblings
  to make room (treebeard's "left" or "first-sibling" would rewrite the paths
  of every later root, other shops' included): a category changes place by
  taking a fresh slot after its last sibling, and reordering sends the
  categories that must come later to fresh slots, in order. Only the shop's
  own rows are ever written.

The tree changes of a shop are serialised by locking the shop's row. Two
shops adding a top-level category at the same instant may both pick the next
root path; the unique index refuses one, which retries with the path after.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, Subquery

from merchantry.catalog.handles import unique_handle
from merchantry.catalog.models import Category, Product
from merchantry.catalog.services import product_get, sanitize_description
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    invalid_field,
    refuse_nulls,
    validation_failed_from_django,
)
from merchantry.core.events import record_event
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "CATEGORY_FIELDS",
    "MAX_CATEGORIES_PER_PRODUCT",
    "MAX_DEPTH",
    "SAME_PARENT",
    "CategoryNode",
    "category_by_handle",
    "category_create",
    "category_delete",
    "category_family",
    "category_get",
    "category_move",
    "category_parent",
    "category_product_filter",
    "category_siblings",
    "category_tree",
    "category_update",
    "product_categories",
    "product_set_categories",
]

CATEGORY_FIELDS = (
    "name", "handle", "description", "seo_title", "seo_description", "metadata_public",
)  # fmt: skip
MAX_DEPTH = 10
MAX_CATEGORIES_PER_PRODUCT = 50
HANDLE_MAX_LENGTH = 120
_ROOT_ATTEMPTS = 5
_STEP = Category.steplen
_TREE_FIELDS = ["path", "depth", "numchild", "shop"]

T = TypeVar("T")


class _SameParent:
    def __repr__(self) -> str:
        return "SAME_PARENT"


SAME_PARENT = _SameParent()
"""The default ``parent_id`` of :func:`category_move`: stay under the current parent."""


# -- reads ----------------------------------------------------------------------------


@dataclass(slots=True)
class CategoryNode:
    """A category and its subcategories, in their order."""

    category: Category
    children: list[CategoryNode] = field(default_factory=list)


def category_tree(shop: Shop) -> list[CategoryNode]:
    """
    Return the shop's category tree: its top-level categories, each with
    its subcategories, in tree order. One query, whatever the tree's size.
    """
    nodes: dict[str, CategoryNode] = {}
    roots: list[CategoryNode] = []
    for category in Category.objects.for_shop(shop).order_by("path"):
        node = CategoryNode(category)
        nodes[category.path] = node
        parent = nodes.get(category.path[:-_STEP])
        # Ordered by path, a parent is always seen before its children.
        (parent.children if parent is not None else roots).append(node)
    return roots


def category_get(*, shop: Shop, category_id: int) -> Category:
    category = Category.objects.for_shop(shop).filter(pk=category_id).first()
    if category is None:
        raise NotFound("No such category.")
    return category


def category_by_handle(shop: Shop, handle: str) -> Category:
    """Return the shop's category with ``handle``, or raise :class:`NotFound`."""
    category = Category.objects.for_shop(shop).filter(handle=handle).first()
    if category is None:
        raise NotFound("No such category.")
    return category


def category_family(category: Category) -> tuple[list[Category], list[Category]]:
    """Return the category's ancestors (from the top) and children, in one query."""
    ancestor_paths = [category.path[:end] for end in range(_STEP, len(category.path), _STEP)]
    rows = Category.objects.filter(shop_id=category.shop_id).filter(
        Q(path__in=ancestor_paths) | Q(depth=category.depth + 1, path__startswith=category.path)
    )
    ancestors, children = [], []
    for row in rows.order_by("path"):
        (children if row.depth > category.depth else ancestors).append(row)
    return ancestors, children


def category_parent(category: Category) -> Category | None:
    """Return the category's parent (None at the top level)."""
    if category.depth == 1:
        return None
    return Category.objects.get(path=category.path[:-_STEP])


def category_siblings(shop: Shop | int, category: Category) -> list[Category]:
    """Return the category and its siblings, in their order."""
    siblings = Category.objects.for_shop(shop).filter(depth=category.depth)
    if category.depth > 1:
        siblings = siblings.filter(path__startswith=category.path[:-_STEP])
    return list(siblings.order_by("path"))


def category_product_filter(
    shop: Shop, category: Category | str, *, include_descendants: bool = True
) -> Q:
    """
    Return a ``Q`` over :class:`Product`: the products in ``category``.

    ``category`` is a :class:`Category` or a handle. With
    ``include_descendants`` (the default), products filed under any of its
    subcategories, at any depth, match too. The ``Q`` runs no query of its
    own: it is one subquery over the product-category links whose category's
    path starts with the category's path (a handle is resolved inside it).
    A handle naming no category of ``shop``, or another shop's category,
    matches nothing; callers wanting a 404 look it up with
    :func:`category_by_handle` first. Combine it with the product list's own
    scope, e.g. ``Product.objects.visible_in(channel).filter(q)``.
    """
    links = Product.categories.through.objects.filter(category__shop_id=shop.pk)
    if isinstance(category, Category):
        if category.shop_id != shop.pk:
            return Q(pk__in=[])
        if include_descendants:
            links = links.filter(category__path__startswith=category.path)
        else:
            links = links.filter(category_id=category.pk)
    elif include_descendants:
        path = Category.objects.filter(shop_id=shop.pk, handle=category).values("path")[:1]
        links = links.filter(category__path__startswith=Subquery(path))
    else:
        links = links.filter(category__handle=category)
    return Q(pk__in=links.values("product_id"))


def product_categories(*, shop: Shop, product_id: int) -> list[Category]:
    """Return the categories a product of ``shop`` is in, in tree order."""
    product = product_get(shop=shop, product_id=product_id)
    return list(product.categories.filter(shop=shop).order_by("path"))


# -- changes --------------------------------------------------------------------------


def _changed(category: Category, action: str) -> None:
    record_event(
        shop_id=category.shop_id,
        type="category.changed",
        payload={"category_id": str(category.pk), "handle": category.handle, "action": action},
    )


def _lock_tree(shop: Shop) -> None:
    # Every change to a shop's tree first takes this lock: paths are computed
    # from the current siblings, and two concurrent moves would compute alike.
    Shop.objects.select_for_update().filter(pk=shop.pk).values_list("pk").first()


def _apply(category: Category, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        if name not in CATEGORY_FIELDS:
            raise TypeError(f"unknown category field {name!r}")
        setattr(category, name, value)
    if "name" in changes:
        category.name = (category.name or "").strip()
    if "description" in changes:
        category.description = sanitize_description(category.description or "")


def _validate(category: Category) -> None:
    try:
        category.full_clean(exclude=_TREE_FIELDS, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise validation_failed_from_django(exc) from None
    # Checked here, under the tree lock, rather than left to the constraint:
    # the retry around new root paths takes an IntegrityError for a taken path.
    clash = Category.objects.for_shop(category.shop_id).filter(handle=category.handle)
    if clash.exclude(pk=category.pk).exists():
        raise invalid_field("handle", "This value is already in use.", "unique")


def _retrying_root_slot(operation: Callable[[], T]) -> T:
    """Run ``operation``, which takes a new root path, again if another shop took it first."""
    for _ in range(_ROOT_ATTEMPTS):
        try:
            with transaction.atomic():
                return operation()
        except IntegrityError:
            continue
    raise Conflict("The category tree changed at the same time; try again.")


def _reference(shop: Shop, category_id: int, field_name: str) -> Category:
    category = Category.objects.for_shop(shop).filter(pk=category_id).first()
    if category is None:
        raise invalid_field(field_name, "No such category.", "not_found")
    return category


def _to_end(category: Category) -> None:
    # A fresh slot after the last sibling: nothing else moves.
    _retrying_root_slot(lambda: Category.objects.move(category, category, "last-sibling"))


def _place(shop: Shop, category: Category, index: int) -> None:
    """Put ``category`` at ``index`` among its siblings (clamped to the ends)."""
    current = category_siblings(shop, category)
    wanted = [s for s in current if s.pk != category.pk]
    wanted.insert(max(0, min(index, len(wanted))), category)
    first = next(
        (i for i, (a, b) in enumerate(zip(wanted, current, strict=True)) if a.pk != b.pk), None
    )
    if first is None:
        return
    for sibling in wanted[first:]:
        _to_end(sibling)
    category.refresh_from_db()


def _height(category: Category) -> int:
    """Return how many levels the category's branch spans (1 for a leaf)."""
    if category.numchild == 0:
        return 1
    deepest = Category.objects.filter(path__startswith=category.path).aggregate(d=Max("depth"))
    return deepest["d"] - category.depth + 1


def _check_depth(parent: Category | None, height: int, field_name: str) -> None:
    if (parent.depth if parent else 0) + height > MAX_DEPTH:
        raise invalid_field(
            field_name, f"Categories nest at most {MAX_DEPTH} levels deep.", "too_deep"
        )


def category_create(
    *,
    actor: Actor,
    shop: Shop,
    name: str,
    handle: str | None = None,
    parent_id: int | None = None,
    position: int | None = None,
    **fields: Any,
) -> Category:
    """
    Create a category at the top level or under ``parent_id``, last among its
    siblings or at ``position`` (0 is first). The handle is made from the
    name (``-2``, ``-3``... on a clash) unless given.
    """
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        _lock_tree(shop)
        parent = None if parent_id is None else _reference(shop, parent_id, "parent_id")
        category = Category(shop=shop)
        _apply(category, {"name": name, **fields})
        category.handle = handle or unique_handle(
            Category.objects.for_shop(shop),
            category.name,
            fallback="category",
            max_length=HANDLE_MAX_LENGTH,
        )
        _validate(category)
        _check_depth(parent, 1, "parent_id")
        if parent is None:
            category = _retrying_root_slot(lambda: Category.objects.add_root(instance=category))
        else:
            category = Category.objects.add_child(parent, instance=category)
        if position is not None:
            _place(shop, category, position)
        audit.record(
            actor,
            "category.create",
            category,
            {"handle": category.handle, "parent_id": parent.pk if parent else None},
            shop_id=shop.pk,
        )
        _changed(category, "created")
    return category


def category_update(
    *, actor: Actor, shop: Shop, category_id: int, changes: Mapping[str, Any]
) -> Category:
    """Change a category's name, handle, description, SEO fields or public metadata."""
    actor.require(Perm.CATALOG_MANAGE)
    refuse_nulls(changes, ("name", "handle"))
    with transaction.atomic():
        _lock_tree(shop)
        category = category_get(shop=shop, category_id=category_id)
        _apply(category, changes)
        _validate(category)
        category.save()
        audit.record(
            actor, "category.update", category, {"changed": sorted(changes)}, shop_id=shop.pk
        )
        _changed(category, "updated")
    return category


def category_move(
    *,
    actor: Actor,
    shop: Shop,
    category_id: int,
    parent_id: int | _SameParent | None = SAME_PARENT,
    position: int | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
) -> Category:
    """
    Move a category, with its subcategories, within the shop's tree.

    Either under ``parent_id`` (None: the top level; by default the parent
    it has), last or at ``position`` among its new siblings (0 is first; a
    category staying under the same parent without a position keeps its
    place); or right before ``before_id`` or after ``after_id``, under that
    category's parent.
    A category cannot move under itself or one of its own subcategories.
    """
    actor.require(Perm.CATALOG_MANAGE)
    if before_id is not None and after_id is not None:
        raise invalid_field("after_id", "Give before_id or after_id, not both.", "ambiguous")
    sibling_id, sibling_field = (
        (before_id, "before_id") if before_id is not None else (after_id, "after_id")
    )
    if sibling_id is not None and (parent_id is not SAME_PARENT or position is not None):
        raise invalid_field(
            sibling_field, "Give parent_id and position, or a sibling, not both.", "ambiguous"
        )
    with transaction.atomic():
        _lock_tree(shop)
        category = category_get(shop=shop, category_id=category_id)
        sibling = None
        if sibling_id is not None:
            sibling = _reference(shop, sibling_id, sibling_field)
            if sibling.pk == category.pk:
                raise invalid_field(sibling_field, "Name another category.", "self")
            parent, field_name = category_parent(sibling), sibling_field
        else:
            field_name = "parent_id"
            if isinstance(parent_id, _SameParent):
                parent = category_parent(category)
            elif parent_id is None:
                parent = None
            else:
                parent = _reference(shop, parent_id, "parent_id")
        if parent is not None and parent.path.startswith(category.path):
            raise invalid_field(
                field_name,
                "A category cannot move under itself or one of its subcategories.",
                "cycle",
            )
        old_parent_path = category.path[:-_STEP]
        moved = old_parent_path != (parent.path if parent else "")
        if moved:
            _check_depth(parent, _height(category), field_name)
            if parent is None:
                _retrying_root_slot(
                    lambda: Category.objects.move(
                        category, Category.objects.get_last_root_node(), "last-sibling"
                    )
                )
            else:
                Category.objects.move(category, parent, "last-child")
            category.refresh_from_db()
        if sibling is not None:
            others = [s.pk for s in category_siblings(shop, category) if s.pk != category.pk]
            _place(shop, category, others.index(sibling.pk) + (after_id is not None))
        elif position is not None:
            _place(shop, category, position)
        audit.record(
            actor,
            "category.move",
            category,
            {"from_parent_path": old_parent_path, "to_parent_id": parent.pk if parent else None},
            shop_id=shop.pk,
        )
        _changed(category, "moved")
    return category


def category_delete(*, actor: Actor, shop: Shop, category_id: int) -> None:
    """
    Delete a category without subcategories; its products just leave it.

    A category with subcategories is refused (409): move or delete those
    first, so a whole branch never disappears by accident.
    """
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        _lock_tree(shop)
        category = category_get(shop=shop, category_id=category_id)
        if category.numchild:
            raise Conflict(
                f"{category.name!r} has {category.numchild} subcategories; "
                "move or delete them first."
            )
        audit.record(
            actor, "category.delete", category, {"handle": category.handle}, shop_id=shop.pk
        )
        _changed(category, "deleted")
        category.delete()


def product_set_categories(
    *, actor: Actor, shop: Shop, product_id: int, category_ids: Sequence[int]
) -> list[Category]:
    """
    Replace the categories a product is in (``[]``: none). Every id must name a
    category of ``shop``: the others are field errors at their index.
    """
    actor.require(Perm.CATALOG_MANAGE)
    ids = list(dict.fromkeys(category_ids))
    if len(ids) > MAX_CATEGORIES_PER_PRODUCT:
        raise invalid_field(
            "category_ids",
            f"A product is in at most {MAX_CATEGORIES_PER_PRODUCT} categories.",
            "too_many",
        )
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        found = {c.pk: c for c in Category.objects.for_shop(shop).filter(pk__in=ids)}
        errors = [
            FieldError(("category_ids", index), "No such category.", "not_found")
            for index, pk in enumerate(category_ids)
            if pk not in found
        ]
        if errors:
            raise ValidationFailed(errors=errors)
        product.categories.set(ids)
        product.save(update_fields=["updated_at"])
        audit.record(
            actor,
            "product.categories",
            product,
            {"categories": [found[pk].handle for pk in ids]},
            shop_id=shop.pk,
        )
        record_event(
            shop_id=shop.pk,
            type="product.changed",
            payload={"product_id": str(product.pk), "handle": product.handle},
        )
    return sorted(found.values(), key=lambda c: c.path)
