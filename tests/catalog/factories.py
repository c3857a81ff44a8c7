"""Catalog objects for the cross-cutting API tests (tenant wall, bad input)."""

from __future__ import annotations

from decimal import Decimal

from merchantry.catalog import services
from merchantry.catalog.models import Attribute, Product, ProductVariant
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.models import Channel, Shop
from tests.factories import ChannelFactory


def wall_product(shop: Shop) -> Product:
    """An active product of ``shop``, published and priced on each of its channels."""
    count = Product.objects.for_shop(shop).count()
    product = services.product_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        title=f"{shop.slug} wall product {count}",
        status="active",
        tags=["wall"],
    )
    channels = list(Channel.objects.for_shop(shop)) or [ChannelFactory(shop=shop, slug="web")]
    variant = product.variants.get()
    for channel in channels:
        services.listing_publish(
            actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, channel_id=channel.pk
        )
        services.price_set(
            actor=SYSTEM_ACTOR,
            shop=shop,
            variant_id=variant.pk,
            channel_id=channel.pk,
            price=Decimal(5),
        )
    return product


def wall_variant(shop: Shop) -> ProductVariant:
    """A second variant of a fresh product (so deleting it is allowed)."""
    product = wall_product(shop)
    services.options_set(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        options=[{"name": "Size", "values": ["S", "M"]}],
    )
    return services.variants_generate(actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk)[1]


def wall_sized_product(shop: Shop) -> Product:
    """A product sized S, M and L with variants for S and M only (L can be added)."""
    product = wall_product(shop)
    services.options_set(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        options=[{"name": "Size", "values": ["S", "M", "L"]}],
    )
    large = services.variants_generate(actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk)[2]
    services.variant_delete(actor=SYSTEM_ACTOR, shop=shop, variant_id=large.pk)
    return product


def wall_attribute(shop: Shop) -> Attribute:
    """A choice attribute of ``shop``."""
    from merchantry.catalog.attributes import attribute_create

    return attribute_create(
        actor=SYSTEM_ACTOR, shop=shop, name="Material", type="choice", choices=["Linen", "Wool"]
    )
