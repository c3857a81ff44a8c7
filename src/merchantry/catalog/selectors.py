"""
Catalog reads for the APIs, each with its prefetches spelled out.

A page of products is serialised with a fixed number of queries whatever its
size and however many variants its products have: the page itself, then one
query per prefetched relation (the Store API list: 4 with its auth lookups
aside; see the budgets in ``tests/catalog/test_store_api.py``).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from merchantry.catalog.models import (
    Category,
    Collection,
    Product,
    ProductChannelListing,
    ProductOption,
    ProductVariant,
    VariantChannelPrice,
)
from merchantry.core.actors import Actor
from merchantry.core.errors import NotFound, invalid_field
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "ADMIN_SORTS",
    "admin_product_detail",
    "admin_product_list",
    "admin_variant_list",
    "store_product_detail",
    "store_product_list",
]

# Sort parameter -> ordering; every field is non-null, as keyset pagination needs.
ADMIN_SORTS: dict[str, tuple[str, ...]] = {
    "updated_at": ("updated_at",),
    "-updated_at": ("-updated_at",),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
    "title": ("title",),
    "-title": ("-title",),
}


def _variants_with_prices(channel: Channel | None = None) -> Prefetch:
    prices = VariantChannelPrice.objects.all()
    if channel is not None:
        prices = prices.filter(channel=channel)
        return Prefetch(
            "variants",
            queryset=ProductVariant.objects.order_by("position", "pk").prefetch_related(
                Prefetch("prices", queryset=prices, to_attr="channel_prices")
            ),
        )
    return Prefetch(
        "variants",
        queryset=ProductVariant.objects.order_by("position", "pk").prefetch_related(
            Prefetch("prices", queryset=prices.order_by("channel_id"))
        ),
    )


def _options() -> Prefetch:
    return Prefetch(
        "options",
        queryset=ProductOption.objects.order_by("position", "pk").prefetch_related("values"),
    )


def admin_product_list(
    *,
    actor: Actor,
    shop: Shop,
    status: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    updated_since: datetime | None = None,
    category_id: int | None = None,
    collection_id: int | None = None,
    channel_id: int | None = None,
    in_stock: bool | None = None,
) -> QuerySet[Product]:
    """Return the shop's products, filtered; the caller paginates."""
    actor.require(Perm.CATALOG_VIEW)
    products = Product.objects.for_shop(shop)
    if category_id is not None:
        node = Category.objects.for_shop(shop).filter(pk=category_id).first()
        if node is None:
            raise invalid_field("category_id", "No such category.", "not_found")
        members = Product.categories.through.objects.filter(
            category__shop=shop, category__path__startswith=node.path
        )
        products = products.filter(pk__in=members.values("product_id"))
    if collection_id is not None:
        collection = Collection.objects.for_shop(shop).filter(pk=collection_id).first()
        if collection is None:
            raise invalid_field("collection_id", "No such collection.", "not_found")
        from merchantry.catalog.collections import collection_product_filter

        products = products.filter(collection_product_filter(collection, None))
    if channel_id is not None or in_stock is not None:
        listings = ProductChannelListing.objects.filter(shop=shop, is_published=True)
        if channel_id is not None:
            listings = listings.filter(channel_id=channel_id)
        if in_stock is not None:
            listings = listings.filter(in_stock=in_stock)
        products = products.filter(pk__in=listings.values("product_id"))
    if status:
        products = products.filter(status=status)
    if tag:
        products = products.tagged(tag)
    if q:
        products = products.filter(
            Q(title__icontains=q)
            | Q(handle__icontains=q)
            | Q(pk__in=ProductVariant.objects.filter(shop=shop, sku=q).values("product_id"))
        )
    if updated_since:
        products = products.filter(updated_at__gte=updated_since)
    return products


def admin_product_detail(*, actor: Actor, shop: Shop, product_id: int) -> Product:
    actor.require(Perm.CATALOG_VIEW)
    product = (
        Product.objects.for_shop(shop)
        .filter(pk=product_id)
        .prefetch_related(
            _options(),
            _variants_with_prices(),
            Prefetch("channel_listings", queryset=ProductChannelListing.objects.order_by("pk")),
        )
        .first()
    )
    if product is None:
        raise NotFound("No such product.")
    return product


def admin_variant_list(*, actor: Actor, shop: Shop, product_id: int) -> QuerySet[ProductVariant]:
    actor.require(Perm.CATALOG_VIEW)
    if not Product.objects.for_shop(shop).filter(pk=product_id).exists():
        raise NotFound("No such product.")
    return (
        ProductVariant.objects.for_shop(shop)
        .filter(product_id=product_id)
        .prefetch_related(Prefetch("prices", queryset=VariantChannelPrice.objects.order_by("pk")))
    )


def store_product_list(
    *, channel: Channel, q: str | None = None, tag: str | None = None
) -> QuerySet[Product]:
    """Return what ``channel`` sells, with the channel's prices prefetched."""
    products = Product.objects.visible_in(channel).prefetch_related(_variants_with_prices(channel))
    if tag:
        products = products.tagged(tag)
    if q:
        products = products.filter(Q(title__icontains=q) | Q(handle__icontains=q))
    return products


def store_product_detail(*, channel: Channel, handle: str) -> Product:
    product = (
        Product.objects.visible_in(channel)
        .filter(handle=handle)
        .prefetch_related(_variants_with_prices(channel), _options())
        .first()
    )
    if product is None:
        raise NotFound("No such product.")
    return product
