"""Inventory objects for tests, built through the services."""

from __future__ import annotations

from merchantry.catalog import services as catalog
from merchantry.catalog.models import ProductVariant
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.inventory import services
from merchantry.inventory.models import StockLevel, StockLocation
from merchantry.tenancy.models import Channel, Shop
from tests.factories import ChannelFactory


def make_location(shop: Shop, name: str = "Warehouse", **fields) -> StockLocation:
    return services.location_create(actor=SYSTEM_ACTOR, shop=shop, name=name, **fields)


def sell_from(channel: Channel, *locations: StockLocation, **settings) -> None:
    """Make ``channel`` sell from ``locations``, in that order."""
    services.channel_locations_set(
        actor=SYSTEM_ACTOR,
        shop=channel.shop,
        channel_id=channel.pk,
        location_ids=[location.pk for location in locations],
        **settings,
    )


def make_variants(
    shop: Shop,
    count: int = 1,
    *,
    channel: Channel | None = None,
    title: str = "Tee",
    sku: str | None = None,
    **variant_fields,
) -> list[ProductVariant]:
    """A product with ``count`` variants (SKUs ``{sku}-0``...), published on ``channel``."""
    product = catalog.product_create(actor=SYSTEM_ACTOR, shop=shop, title=title, status="active")
    if count > 1:
        catalog.options_set(
            actor=SYSTEM_ACTOR,
            shop=shop,
            product_id=product.pk,
            options=[{"name": "Size", "values": [f"S{i}" for i in range(count)]}],
        )
        variants = catalog.variants_generate(actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk)
    else:
        variants = [product.variants.get()]
    prefix = sku or product.handle.upper()
    for index, variant in enumerate(variants):
        catalog.variant_update(
            actor=SYSTEM_ACTOR,
            shop=shop,
            variant_id=variant.pk,
            changes={"sku": f"{prefix}-{index}", **variant_fields},
        )
        variant.refresh_from_db()
    if channel is not None:
        catalog.listing_publish(
            actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, channel_id=channel.pk
        )
    return variants


def stock(variant: ProductVariant, location: StockLocation, quantity: int) -> StockLevel:
    return services.stock_receive(
        actor=SYSTEM_ACTOR,
        shop=variant.shop,
        variant_id=variant.pk,
        location_id=location.pk,
        quantity=quantity,
    )


def level_of(variant: ProductVariant, location: StockLocation) -> StockLevel:
    return StockLevel.objects.get(variant=variant, location=location)


def wall_location(shop: Shop) -> StockLocation:
    count = StockLocation.objects.for_shop(shop).count()
    return make_location(shop, name=f"{shop.slug} wall store {count}")


def wall_level(shop: Shop) -> StockLevel:
    """A stocked level of a fresh variant at a fresh location, sold on every channel."""
    channels = list(Channel.objects.for_shop(shop)) or [ChannelFactory(shop=shop, slug="web")]
    location = wall_location(shop)
    [variant] = make_variants(shop, title=f"{shop.slug} stocked {location.pk}")
    for channel in channels:
        catalog.listing_publish(
            actor=SYSTEM_ACTOR, shop=shop, product_id=variant.product_id, channel_id=channel.pk
        )
        sell_from(channel, location)
    return stock(variant, location, 5)


def wall_level_path(level: StockLevel) -> tuple[int, int]:
    return (level.variant_id, level.location_id)


BULK_SKU = "WALL-BULK"


def wall_bulk_location(shop: Shop) -> StockLocation:
    """A location, and a variant with the SKU ``WALL-BULK`` (made once per shop)."""
    if not ProductVariant.objects.for_shop(shop).filter(sku=BULK_SKU).exists():
        [variant] = make_variants(shop, title=f"{shop.slug} bulk")
        catalog.variant_update(
            actor=SYSTEM_ACTOR, shop=shop, variant_id=variant.pk, changes={"sku": BULK_SKU}
        )
    return wall_location(shop)


def wall_target_location(shop: Shop) -> StockLocation:
    """The shop's location that bodies name as ``SHOP_LOCATION`` (made once)."""
    found = StockLocation.objects.for_shop(shop).filter(handle="wall-target").first()
    return found or make_location(shop, name="Wall target", handle="wall-target")
