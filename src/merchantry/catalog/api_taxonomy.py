"""Admin API (categories, a product's categories, collections) and Store API (browsing them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from merchantry.catalog import categories, collections
from merchantry.catalog.models import Category, Collection, CollectionKind, CollectionProduct
from merchantry.catalog.schemas_taxonomy import (
    CategoryCreate,
    CategoryMoveIn,
    CategoryOut,
    CategoryPatch,
    CategoryTreeOut,
    CollectionCreate,
    CollectionOut,
    CollectionPatch,
    CollectionProductOut,
    MembersAddedOut,
    ProductCategoriesIn,
    ProductCategoriesOut,
    ProductIdsIn,
    ProductOrderIn,
    StoreCategoryOut,
    StoreCollectionOut,
)
from merchantry.core.errors import NotFound, invalid_field
from merchantry.core.ids import parse_id, pk_or_none
from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.tenancy.context import RequestContext, request_context
from merchantry.tenancy.models import Channel
from merchantry.tenancy.permissions import Perm

__all__ = ["admin_router", "store_router"]

admin_router = Router(tags=["categories and collections"])
store_router = Router(tags=["categories and collections"])


def _ids(values: Sequence[str]) -> list[int]:
    """Return the primary keys ``values`` name; 0 for an unreadable one."""
    # 0 names no row, so the service reports it where it reports an unknown
    # id: as a field error at its index, together with the others.
    return [pk_or_none(value) or 0 for value in values]


def _ref(value: str | None, field: str) -> int | None:
    # An id naming nothing is a field error of the body, not a missing route.
    if value is None:
        return None
    pk = pk_or_none(value)
    if pk is None:
        raise invalid_field(field, "No such category.", "not_found")
    return pk


def _viewer(request: HttpRequest) -> RequestContext:
    ctx = request_context(request)
    ctx.actor.require(Perm.CATALOG_VIEW)
    return ctx


def _with_family(category: Category) -> Category:
    category.family = categories.category_family(category)  # type: ignore[attr-defined]
    return category


# -- admin: categories ------------------------------------------------------------------


@admin_router.get("/categories", response=CategoryTreeOut, summary="The category tree")
def category_tree(request: HttpRequest) -> dict[str, Any]:
    ctx = _viewer(request)
    return {"items": categories.category_tree(ctx.shop)}


@admin_router.post("/categories", response={201: CategoryOut}, summary="Create a category")
def category_create(request: HttpRequest, payload: CategoryCreate) -> Status[Category]:
    ctx = request_context(request)
    data = payload.model_dump(exclude_unset=True)
    data["parent_id"] = _ref(data.pop("parent_id", None), "parent_id")
    category = categories.category_create(actor=ctx.actor, shop=ctx.shop, **data)
    return Status(201, _with_family(category))


@admin_router.get("/categories/{category_id}", response=CategoryOut, summary="One category")
def category_get(request: HttpRequest, category_id: str) -> Category:
    ctx = _viewer(request)
    category = categories.category_get(
        shop=ctx.shop, category_id=parse_id(category_id, what="category")
    )
    return _with_family(category)


@admin_router.patch("/categories/{category_id}", response=CategoryOut, summary="Change a category")
def category_patch(request: HttpRequest, category_id: str, payload: CategoryPatch) -> Category:
    ctx = request_context(request)
    category = categories.category_update(
        actor=ctx.actor,
        shop=ctx.shop,
        category_id=parse_id(category_id, what="category"),
        changes=payload.model_dump(exclude_unset=True),
    )
    return _with_family(category)


@admin_router.delete(
    "/categories/{category_id}",
    response={204: None},
    summary="Delete a category without subcategories (its products just leave it)",
)
def category_delete(request: HttpRequest, category_id: str) -> Status[None]:
    ctx = request_context(request)
    categories.category_delete(
        actor=ctx.actor, shop=ctx.shop, category_id=parse_id(category_id, what="category")
    )
    return Status(204, None)


@admin_router.post(
    "/categories/{category_id}/move",
    response=CategoryOut,
    summary="Move a category and its subcategories (under a parent, or next to a sibling)",
)
def category_move(request: HttpRequest, category_id: str, payload: CategoryMoveIn) -> Category:
    ctx = request_context(request)
    given = payload.model_fields_set
    if not given & {"parent_id", "position", "before_id", "after_id"}:
        raise invalid_field(
            "parent_id", "Say where: parent_id (null: top level), position, before_id or after_id."
        )
    category = categories.category_move(
        actor=ctx.actor,
        shop=ctx.shop,
        category_id=parse_id(category_id, what="category"),
        parent_id=(
            _ref(payload.parent_id, "parent_id") if "parent_id" in given else categories.SAME_PARENT
        ),
        position=payload.position,
        before_id=_ref(payload.before_id, "before_id"),
        after_id=_ref(payload.after_id, "after_id"),
    )
    return _with_family(category)


@admin_router.get(
    "/products/{product_id}/categories",
    response=ProductCategoriesOut,
    summary="The categories a product is in",
)
def product_categories_get(request: HttpRequest, product_id: str) -> dict[str, Any]:
    ctx = _viewer(request)
    pk = parse_id(product_id, what="product")
    found = categories.product_categories(shop=ctx.shop, product_id=pk)
    return {"product_id": str(pk), "categories": found}


@admin_router.put(
    "/products/{product_id}/categories",
    response=ProductCategoriesOut,
    summary="Replace the categories a product is in",
)
def product_categories_put(
    request: HttpRequest, product_id: str, payload: ProductCategoriesIn
) -> dict[str, Any]:
    ctx = request_context(request)
    pk = parse_id(product_id, what="product")
    found = categories.product_set_categories(
        actor=ctx.actor,
        shop=ctx.shop,
        product_id=pk,
        category_ids=_ids(payload.category_ids),
    )
    return {"product_id": str(pk), "categories": found}


# -- admin: collections -----------------------------------------------------------------


class CollectionFilters(Schema):
    kind: CollectionKind | None = Field(None, description="manual or automated")
    is_published: bool | None = Field(None)


@admin_router.get("/collections", response=Page[CollectionOut], summary="Collections")
def collection_list(
    request: HttpRequest, filters: Query[CollectionFilters], page: Query[PageParams]
) -> CursorPage[Collection]:
    ctx = _viewer(request)
    rows = Collection.objects.for_shop(ctx.shop)
    if filters.kind is not None:
        rows = rows.filter(kind=filters.kind)
    if filters.is_published is not None:
        rows = rows.filter(is_published=filters.is_published)
    return paginate(rows, page, order_by=("title",))


@admin_router.post("/collections", response={201: CollectionOut}, summary="Create a collection")
def collection_create(request: HttpRequest, payload: CollectionCreate) -> Status[Collection]:
    ctx = request_context(request)
    collection = collections.collection_create(
        actor=ctx.actor, shop=ctx.shop, **payload.model_dump(exclude_unset=True)
    )
    return Status(201, collection)


@admin_router.get("/collections/{collection_id}", response=CollectionOut, summary="One collection")
def collection_get(request: HttpRequest, collection_id: str) -> Collection:
    ctx = _viewer(request)
    return collections.collection_get(
        shop=ctx.shop, collection_id=parse_id(collection_id, what="collection")
    )


@admin_router.patch(
    "/collections/{collection_id}", response=CollectionOut, summary="Change a collection"
)
def collection_patch(
    request: HttpRequest, collection_id: str, payload: CollectionPatch
) -> Collection:
    ctx = request_context(request)
    return collections.collection_update(
        actor=ctx.actor,
        shop=ctx.shop,
        collection_id=parse_id(collection_id, what="collection"),
        changes=payload.model_dump(exclude_unset=True),
    )


@admin_router.delete(
    "/collections/{collection_id}",
    response={204: None},
    summary="Delete a collection (its products stay)",
)
def collection_delete(request: HttpRequest, collection_id: str) -> Status[None]:
    ctx = request_context(request)
    collections.collection_delete(
        actor=ctx.actor, shop=ctx.shop, collection_id=parse_id(collection_id, what="collection")
    )
    return Status(204, None)


class PreviewParams(Schema):
    channel_id: str | None = Field(
        None, max_length=20, description="The channel whose prices price rules read."
    )


def _preview_channel(ctx: RequestContext, channel_id: str | None) -> Channel | None:
    if channel_id is None:
        return None
    pk = pk_or_none(channel_id)
    channel = None if pk is None else Channel.objects.for_shop(ctx.shop).filter(pk=pk).first()
    if channel is None:
        raise invalid_field("channel_id", "No such channel.", "not_found")
    return channel


@admin_router.get(
    "/collections/{collection_id}/products",
    response=Page[CollectionProductOut],
    summary="A collection's products: a manual one's in order, an automated one's matches",
)
def collection_product_list(
    request: HttpRequest,
    collection_id: str,
    params: Query[PreviewParams],
    page: Query[PageParams],
) -> CursorPage[Any]:
    ctx = _viewer(request)
    collection = collections.collection_get(
        shop=ctx.shop, collection_id=parse_id(collection_id, what="collection")
    )
    channel = _preview_channel(ctx, params.channel_id)
    if collection.kind == CollectionKind.AUTOMATED:
        products = collections.collection_products(collection, channel)
        return paginate(products, page, order_by=("title",))
    # A manual collection pages through its entries, keyed on their position.
    entries = CollectionProduct.objects.filter(collection=collection).select_related("product")
    result = paginate(entries, page, order_by=("position",))
    for entry in result.items:
        entry.product.collection_position = entry.position
    return CursorPage(items=[e.product for e in result.items], next_cursor=result.next_cursor)


@admin_router.put(
    "/collections/{collection_id}/products/order",
    response={204: None},
    summary="Put a manual collection's products in order (all of them, once each)",
)
def collection_products_order(
    request: HttpRequest, collection_id: str, payload: ProductOrderIn
) -> Status[None]:
    ctx = request_context(request)
    collections.collection_reorder(
        actor=ctx.actor,
        shop=ctx.shop,
        collection_id=parse_id(collection_id, what="collection"),
        product_ids=_ids(payload.product_ids),
    )
    return Status(204, None)


@admin_router.post(
    "/collections/{collection_id}/products",
    response=MembersAddedOut,
    summary="Add products at the end of a manual collection",
)
def collection_products_add(
    request: HttpRequest, collection_id: str, payload: ProductIdsIn
) -> dict[str, Any]:
    ctx = request_context(request)
    pk = parse_id(collection_id, what="collection")
    added = collections.collection_add_products(
        actor=ctx.actor,
        shop=ctx.shop,
        collection_id=pk,
        product_ids=_ids(payload.product_ids),
    )
    count = CollectionProduct.objects.filter(collection_id=pk).count()
    return {"added": [str(product_id) for product_id in added], "count": count}


@admin_router.delete(
    "/collections/{collection_id}/products/{product_id}",
    response={204: None},
    summary="Take a product out of a manual collection",
)
def collection_product_remove(
    request: HttpRequest, collection_id: str, product_id: str
) -> Status[None]:
    ctx = request_context(request)
    collections.collection_remove_product(
        actor=ctx.actor,
        shop=ctx.shop,
        collection_id=parse_id(collection_id, what="collection"),
        product_id=parse_id(product_id, what="product"),
    )
    return Status(204, None)


# -- Store API --------------------------------------------------------------------------


def _store(request: HttpRequest) -> RequestContext:
    ctx = request_context(request)
    if ctx.channel is None:
        raise NotFound("No channel.")
    return ctx


@store_router.get(
    "/categories", response=CategoryTreeOut, summary="The category tree (one query, any size)"
)
def store_category_tree(request: HttpRequest) -> dict[str, Any]:
    ctx = _store(request)
    return {"items": categories.category_tree(ctx.shop)}


@store_router.get(
    "/categories/{handle}",
    response=StoreCategoryOut,
    summary="One category by its handle, with its ancestors and children",
)
def store_category_get(request: HttpRequest, handle: str) -> Category:
    ctx = _store(request)
    if len(handle) > 120 or "\x00" in handle:
        raise NotFound("No such category.")
    return _with_family(categories.category_by_handle(ctx.shop, handle))


@store_router.get(
    "/collections", response=Page[StoreCollectionOut], summary="The published collections"
)
def store_collection_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[Collection]:
    ctx = _store(request)
    rows = Collection.objects.for_shop(ctx.shop).filter(is_published=True)
    return paginate(rows, page, order_by=("title",))


@store_router.get(
    "/collections/{handle}",
    response=StoreCollectionOut,
    summary="One published collection by its handle",
)
def store_collection_get(request: HttpRequest, handle: str) -> Collection:
    ctx = _store(request)
    if len(handle) > 255 or "\x00" in handle:
        raise NotFound("No such collection.")
    return collections.collection_by_handle(ctx.shop, handle, published_only=True)
