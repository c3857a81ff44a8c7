"""Admin API (products, options, variants, listings, prices) and Store API (products)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from merchantry.catalog import attributes, cache, selectors, services, store
from merchantry.catalog.models import Attribute, Product, ProductStatus, ProductVariant
from merchantry.catalog.schemas import (
    AttributeCreate,
    AttributeOut,
    AttributePatch,
    ListingIn,
    ListingOut,
    OptionOut,
    OptionsIn,
    PriceIn,
    PriceOut,
    ProductCreate,
    ProductDetailOut,
    ProductOut,
    ProductPatch,
    StoreFacetsOut,
    StoreProductDetailOut,
    StoreProductOut,
    UnpublishIn,
    VariantCreate,
    VariantOut,
    VariantPatch,
)
from merchantry.catalog.store import StoreQuery
from merchantry.core.errors import FieldError, NotFound, ValidationFailed
from merchantry.core.ids import parse_id, pk_or_none
from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.tenancy.context import request_context
from merchantry.tenancy.models import Channel
from merchantry.tenancy.permissions import Perm

__all__ = ["admin_router", "store_router"]

admin_router = Router(tags=["catalog"])
store_router = Router(tags=["catalog"])

Sort = Literal["updated_at", "-updated_at", "created_at", "-created_at", "title", "-title"]


class ProductFilters(Schema):
    status: ProductStatus | None = Field(None, description="draft, active or archived")
    tag: str | None = Field(None, max_length=60, description="Products carrying this tag.")
    q: str | None = Field(
        None, max_length=200, description="Title or handle contains, or a variant's exact SKU."
    )
    updated_since: datetime | None = Field(None, description="Changed at or after (ISO 8601).")
    category_id: str | None = Field(
        None, max_length=20, description="In this category or a subcategory."
    )
    collection_id: str | None = Field(None, max_length=20, description="In this collection.")
    channel_id: str | None = Field(None, max_length=20, description="Published on this channel.")
    in_stock: bool | None = Field(None, description="In (or out of) stock on a channel.")
    sort: Sort = Field("-updated_at", description="Field to sort by; '-' for descending.")


StoreSort = Literal["relevance", "title", "-title", "price", "-price", "newest"]


class StoreFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search words (prefixes match).")
    tag: str | None = Field(None, max_length=60)
    category: str | None = Field(
        None, max_length=120, description="Category handle; subcategories included."
    )
    collection: str | None = Field(None, max_length=255, description="Collection handle.")
    vendor: str | None = Field(None, max_length=120)
    product_type: str | None = Field(None, max_length=120)
    price_min: str | None = Field(None, max_length=32, description="Some variant costs at least.")
    price_max: str | None = Field(None, max_length=32, description="Some variant costs at most.")
    in_stock: bool | None = None
    option: list[str] = Field(
        default_factory=list, max_length=10, description='Option values, "Size:M" (repeatable).'
    )
    attr: list[str] = Field(
        default_factory=list,
        max_length=10,
        description='Values of facet attributes, "material:Linen" (repeatable).',
    )
    sort: StoreSort | None = Field(
        None, description="Default: relevance when searching, else title."
    )

    def to_query(self) -> StoreQuery:
        return StoreQuery(
            q=_clean(self.q),
            tag=_clean(self.tag),
            category=_clean(self.category),
            collection=_clean(self.collection),
            vendor=_clean(self.vendor),
            product_type=_clean(self.product_type),
            price_min=_clean(self.price_min),
            price_max=_clean(self.price_max),
            in_stock=self.in_stock,
            options=tuple(o for o in (_clean(o) for o in self.option) if o),
            attributes=tuple(a for a in (_clean(a) for a in self.attr) if a),
            sort=self.sort,
        )


def _clean(text: str | None) -> str | None:
    # PostgreSQL refuses NUL in a text parameter; nothing contains one anyway.
    return None if text is None else text.replace("\x00", "").strip() or None


# -- products ----------------------------------------------------------------------


@admin_router.get("/products", response=Page[ProductOut], summary="Products")
def product_list(
    request: HttpRequest, filters: Query[ProductFilters], page: Query[PageParams]
) -> CursorPage[Product]:
    ctx = request_context(request)
    products = selectors.admin_product_list(
        actor=ctx.actor,
        shop=ctx.shop,
        status=filters.status,
        tag=_clean(filters.tag),
        q=_clean(filters.q),
        updated_since=filters.updated_since,
        category_id=_filter_id(filters.category_id, "category_id"),
        collection_id=_filter_id(filters.collection_id, "collection_id"),
        channel_id=_filter_id(filters.channel_id, "channel_id"),
        in_stock=filters.in_stock,
    )
    return paginate(products, page, order_by=selectors.ADMIN_SORTS[filters.sort])


def _filter_id(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    pk = pk_or_none(value)
    if pk is None:
        raise ValidationFailed(errors=[FieldError((field,), "Not an id.", "invalid")])
    return pk


@admin_router.post("/products", response={201: ProductDetailOut}, summary="Create a product")
def product_create(request: HttpRequest, payload: ProductCreate) -> Status[Product]:
    ctx = request_context(request)
    product = services.product_create(
        actor=ctx.actor, shop=ctx.shop, **payload.model_dump(exclude_unset=True)
    )
    return Status(
        201, selectors.admin_product_detail(actor=ctx.actor, shop=ctx.shop, product_id=product.pk)
    )


@admin_router.get("/products/{product_id}", response=ProductDetailOut, summary="One product")
def product_get(request: HttpRequest, product_id: str) -> Product:
    ctx = request_context(request)
    return selectors.admin_product_detail(
        actor=ctx.actor, shop=ctx.shop, product_id=parse_id(product_id, what="product")
    )


@admin_router.patch("/products/{product_id}", response=ProductDetailOut, summary="Change a product")
def product_patch(request: HttpRequest, product_id: str, payload: ProductPatch) -> Product:
    ctx = request_context(request)
    pk = parse_id(product_id, what="product")
    services.product_update(
        actor=ctx.actor,
        shop=ctx.shop,
        product_id=pk,
        changes=payload.model_dump(exclude_unset=True),
    )
    return selectors.admin_product_detail(actor=ctx.actor, shop=ctx.shop, product_id=pk)


@admin_router.delete(
    "/products/{product_id}",
    response=ProductOut,
    summary="Archive a product (it stays for the orders that name it)",
)
def product_delete(request: HttpRequest, product_id: str) -> Product:
    ctx = request_context(request)
    return services.product_archive(
        actor=ctx.actor, shop=ctx.shop, product_id=parse_id(product_id, what="product")
    )


# -- options and variants ----------------------------------------------------------


@admin_router.put(
    "/products/{product_id}/options",
    response=list[OptionOut],
    summary="Replace the product's options (then generate its variants)",
)
def options_put(request: HttpRequest, product_id: str, payload: OptionsIn) -> list:
    ctx = request_context(request)
    services.options_set(
        actor=ctx.actor,
        shop=ctx.shop,
        product_id=parse_id(product_id, what="product"),
        options=[o.model_dump() for o in payload.options],
    )
    product = selectors.admin_product_detail(
        actor=ctx.actor, shop=ctx.shop, product_id=parse_id(product_id)
    )
    return list(product.options.all())


@admin_router.post(
    "/products/{product_id}/variants/generate",
    response=list[VariantOut],
    summary="Make a variant for every combination of option values, keeping existing ones",
)
def variants_generate(request: HttpRequest, product_id: str) -> list:
    ctx = request_context(request)
    pk = parse_id(product_id, what="product")
    services.variants_generate(actor=ctx.actor, shop=ctx.shop, product_id=pk)
    return list(selectors.admin_variant_list(actor=ctx.actor, shop=ctx.shop, product_id=pk))


@admin_router.get(
    "/products/{product_id}/variants", response=Page[VariantOut], summary="A product's variants"
)
def variant_list(
    request: HttpRequest, product_id: str, page: Query[PageParams]
) -> CursorPage[ProductVariant]:
    ctx = request_context(request)
    variants = selectors.admin_variant_list(
        actor=ctx.actor, shop=ctx.shop, product_id=parse_id(product_id, what="product")
    )
    return paginate(variants, page, order_by=("position",))


@admin_router.post(
    "/products/{product_id}/variants", response={201: VariantOut}, summary="Add a variant"
)
def variant_create(
    request: HttpRequest, product_id: str, payload: VariantCreate
) -> Status[ProductVariant]:
    ctx = request_context(request)
    variant = services.variant_create(
        actor=ctx.actor,
        shop=ctx.shop,
        product_id=parse_id(product_id, what="product"),
        **payload.model_dump(exclude_unset=True),
    )
    return Status(201, _variant(request, variant.pk))


def _variant(request: HttpRequest, variant_id: int) -> ProductVariant:
    ctx = request_context(request)
    variant = (
        ProductVariant.objects.for_shop(ctx.shop)
        .filter(pk=variant_id)
        .prefetch_related("prices")
        .first()
    )
    if variant is None:
        raise NotFound("No such variant.")
    return variant


@admin_router.get("/variants/{variant_id}", response=VariantOut, summary="One variant")
def variant_get(request: HttpRequest, variant_id: str) -> ProductVariant:
    ctx = request_context(request)
    ctx.actor.require(Perm.CATALOG_VIEW)
    return _variant(request, parse_id(variant_id, what="variant"))


@admin_router.patch("/variants/{variant_id}", response=VariantOut, summary="Change a variant")
def variant_patch(request: HttpRequest, variant_id: str, payload: VariantPatch) -> ProductVariant:
    ctx = request_context(request)
    pk = parse_id(variant_id, what="variant")
    services.variant_update(
        actor=ctx.actor,
        shop=ctx.shop,
        variant_id=pk,
        changes=payload.model_dump(exclude_unset=True),
    )
    return _variant(request, pk)


@admin_router.delete("/variants/{variant_id}", response={204: None}, summary="Delete a variant")
def variant_delete(request: HttpRequest, variant_id: str) -> Status[None]:
    ctx = request_context(request)
    services.variant_delete(
        actor=ctx.actor, shop=ctx.shop, variant_id=parse_id(variant_id, what="variant")
    )
    return Status(204, None)


# -- channel listings and prices ------------------------------------------------------


@admin_router.post(
    "/products/{product_id}/publish",
    response=ListingOut,
    summary="Publish the product on a channel, now or from a date",
)
def product_publish(request: HttpRequest, product_id: str, payload: ListingIn) -> object:
    ctx = request_context(request)
    return services.listing_publish(
        actor=ctx.actor,
        shop=ctx.shop,
        product_id=parse_id(product_id, what="product"),
        channel_id=_channel_id(payload.channel_id),
        published_at=payload.published_at,
    )


@admin_router.post(
    "/products/{product_id}/unpublish",
    response={204: None},
    summary="Take the product off a channel",
)
def product_unpublish(request: HttpRequest, product_id: str, payload: UnpublishIn) -> Status[None]:
    ctx = request_context(request)
    services.listing_unpublish(
        actor=ctx.actor,
        shop=ctx.shop,
        product_id=parse_id(product_id, what="product"),
        channel_id=_channel_id(payload.channel_id),
    )
    return Status(204, None)


@admin_router.put(
    "/variants/{variant_id}/prices",
    response=PriceOut,
    summary="Set the variant's price on a channel (in the channel's currency)",
)
def price_put(request: HttpRequest, variant_id: str, payload: PriceIn) -> object:
    ctx = request_context(request)
    return services.price_set(
        actor=ctx.actor,
        shop=ctx.shop,
        variant_id=parse_id(variant_id, what="variant"),
        channel_id=_channel_id(payload.channel_id),
        price=payload.price,
        compare_at_price=payload.compare_at_price,
    )


def _channel_id(value: str) -> int:
    # An id naming no channel is a field error of the body, not a missing route.
    pk = pk_or_none(value)
    if pk is None:
        raise ValidationFailed(
            errors=[FieldError(("channel_id",), "No such channel.", "not_found")]
        )
    return pk


# -- attributes ------------------------------------------------------------------------


@admin_router.get("/attributes", response=Page[AttributeOut], summary="Product attributes")
def attribute_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[Attribute]:
    ctx = request_context(request)
    ctx.actor.require(Perm.CATALOG_VIEW)
    return paginate(Attribute.objects.for_shop(ctx.shop), page, order_by=("position",))


@admin_router.post(
    "/attributes", response={201: AttributeOut}, summary="Define a typed product attribute"
)
def attribute_create(request: HttpRequest, payload: AttributeCreate) -> Status[Attribute]:
    ctx = request_context(request)
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    return Status(201, attributes.attribute_create(actor=ctx.actor, shop=ctx.shop, **data))


def _attribute(request: HttpRequest, attribute_id: str) -> Attribute:
    ctx = request_context(request)
    ctx.actor.require(Perm.CATALOG_VIEW)
    found = Attribute.objects.for_shop(ctx.shop).filter(pk=pk_or_none(attribute_id)).first()
    if found is None:
        raise NotFound("No such attribute.")
    return found


@admin_router.get("/attributes/{attribute_id}", response=AttributeOut, summary="One attribute")
def attribute_get(request: HttpRequest, attribute_id: str) -> Attribute:
    return _attribute(request, attribute_id)


@admin_router.patch(
    "/attributes/{attribute_id}", response=AttributeOut, summary="Change an attribute"
)
def attribute_patch(request: HttpRequest, attribute_id: str, payload: AttributePatch) -> Attribute:
    ctx = request_context(request)
    return attributes.attribute_update(
        actor=ctx.actor,
        shop=ctx.shop,
        attribute_id=parse_id(attribute_id, what="attribute"),
        changes=payload.model_dump(exclude_unset=True),
    )


@admin_router.delete(
    "/attributes/{attribute_id}",
    response={204: None},
    summary="Delete an attribute and its values on every product",
)
def attribute_delete(request: HttpRequest, attribute_id: str) -> Status[None]:
    ctx = request_context(request)
    attributes.attribute_delete(
        actor=ctx.actor, shop=ctx.shop, attribute_id=parse_id(attribute_id, what="attribute")
    )
    return Status(204, None)


# -- Store API -----------------------------------------------------------------------


def _cacheable_json(answer: object) -> HttpResponse:
    """The answer as JSON, the same for every shopper of the channel: the read cache keeps it."""
    return cache.cacheable(HttpResponse(orjson.dumps(answer), content_type="application/json"))


def _store_channel(request: HttpRequest) -> Channel:
    channel = request_context(request).channel
    if channel is None:
        raise NotFound("No channel.")
    return channel


@store_router.get(
    "/products", response=Page[StoreProductOut], summary="Products for sale on this channel"
)
def store_product_list(
    request: HttpRequest, filters: Query[StoreFilters], page: Query[PageParams]
) -> HttpResponse:
    channel = _store_channel(request)
    query = filters.to_query()
    return _cacheable_json(store.product_page(channel, query, limit=page.limit, cursor=page.cursor))


@store_router.get(
    "/facets",
    response=StoreFacetsOut,
    summary="Counts by category, vendor, type, option value and stock, and the price range",
)
def store_facets(request: HttpRequest, filters: Query[StoreFilters]) -> HttpResponse:
    channel = _store_channel(request)
    query = filters.to_query()
    return _cacheable_json(store.facets(channel, query))


@store_router.get(
    "/products/{handle}", response=StoreProductDetailOut, summary="One product, by its handle"
)
def store_product_get(request: HttpRequest, handle: str) -> HttpResponse:
    channel = _store_channel(request)
    handle = _clean(handle) or ""
    if len(handle) > 255:
        raise NotFound("No such product.")
    return _cacheable_json(store.product_detail(channel, handle))
