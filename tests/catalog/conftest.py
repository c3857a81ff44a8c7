"""Catalog fixtures: an all-permission actor and products built through the services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from merchantry.catalog import services
from merchantry.catalog.models import Product
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.models import Channel, Shop


def make_product(
    shop: Shop,
    *,
    title: str = "Linen shirt",
    channel: Channel | None = None,
    price: str | None = "19.99",
    status: str = "active",
    options: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Product:
    """Create a product, optionally with options, published and priced on ``channel``."""
    product = services.product_create(
        actor=SYSTEM_ACTOR, shop=shop, title=title, status=status, **fields
    )
    if options:
        services.options_set(actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, options=options)
        services.variants_generate(actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk)
    if channel is not None:
        services.listing_publish(
            actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, channel_id=channel.pk
        )
        if price is not None:
            for variant in product.variants.all():
                services.price_set(
                    actor=SYSTEM_ACTOR,
                    shop=shop,
                    variant_id=variant.pk,
                    channel_id=channel.pk,
                    price=Decimal(price),
                )
    product.refresh_from_db()
    return product


@pytest.fixture
def actor():
    return SYSTEM_ACTOR
