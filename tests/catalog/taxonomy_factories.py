"""Categories and collections for the cross-cutting API tests (tenant wall, bad input)."""

from __future__ import annotations

from merchantry.catalog import categories, collections
from merchantry.catalog.models import Category, Collection, CollectionProduct
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.models import Shop
from tests.catalog.factories import wall_product


def wall_category(shop: Shop) -> Category:
    """A top-level category of ``shop``, named after it (so a leak shows in a response)."""
    count = Category.objects.for_shop(shop).count()
    return categories.category_create(
        actor=SYSTEM_ACTOR, shop=shop, name=f"{shop.slug} wall category {count}"
    )


def wall_collection(shop: Shop) -> Collection:
    """A published, empty manual collection of ``shop``."""
    count = Collection.objects.for_shop(shop).count()
    return collections.collection_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        title=f"{shop.slug} wall collection {count}",
        is_published=True,
    )


def wall_collection_entry(shop: Shop) -> CollectionProduct:
    """A product's place in a fresh manual collection of ``shop``."""
    collection = wall_collection(shop)
    product = wall_product(shop)
    collections.collection_add_products(
        actor=SYSTEM_ACTOR, shop=shop, collection_id=collection.pk, product_ids=[product.pk]
    )
    return CollectionProduct.objects.get(collection=collection, product=product)
