"""Product media for the cross-cutting API tests (tenant wall, bad input)."""

from __future__ import annotations

from merchantry.catalog.media import media_upload
from merchantry.catalog.models import ProductMedia
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.models import Shop
from tests.catalog.factories import wall_product
from tests.catalog.images import image_bytes


def wall_media(shop: Shop) -> ProductMedia:
    """An image of a fresh product of ``shop``, stored through the service."""
    product = wall_product(shop)
    return media_upload(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        file=image_bytes("PNG", (8, 8)),
        alt=f"{shop.slug} wall image",
    )
