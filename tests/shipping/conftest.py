"""Shipping fixtures: zones, methods and locations built through the services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.inventory.models import ChannelLocation, StockLocation
from merchantry.shipping import services
from merchantry.shipping.models import ShippingMethod, ShippingZone
from merchantry.shipping.quotes import ShippingLine
from merchantry.tenancy.models import Channel, Shop


def make_zone(
    shop: Shop,
    *,
    name: str = "Domestic",
    countries: tuple[str, ...] = ("US",),
    channels: tuple[Channel, ...] = (),
    **fields: Any,
) -> ShippingZone:
    return services.zone_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        name=name,
        countries=list(countries),
        channel_ids=[c.pk for c in channels],
        **fields,
    )


def make_method(
    zone: ShippingZone,
    *,
    name: str = "Standard",
    amount: str = "5.00",
    currency: str = "USD",
    rate_type: str = "flat",
    rates: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> ShippingMethod:
    if rates is None:
        rates = [] if rate_type == "carrier" else [{"currency": currency, "amount": amount}]
    return services.method_create(
        actor=SYSTEM_ACTOR,
        shop=zone.shop,
        zone_id=zone.pk,
        name=name,
        rate_type=rate_type,
        rates=rates,
        **fields,
    )


def make_location(
    shop: Shop,
    handle: str = "main",
    *,
    channel: Channel | None = None,
    **fields: Any,
) -> StockLocation:
    defaults = {
        "name": handle.title(),
        "country": "US",
        "postal_code": "10001",
        "city": "New York",
        "line1": "1 Main St",
    }
    location = StockLocation.objects.create(shop=shop, handle=handle, **{**defaults, **fields})
    if channel is not None:
        ChannelLocation.objects.create(shop=shop, channel=channel, location=location)
    return location


def line(
    *,
    quantity: int = 1,
    price: str = "10.00",
    grams: int = 0,
    product_type: str = "",
    tags: tuple[str, ...] = (),
) -> ShippingLine:
    return ShippingLine(
        quantity=quantity,
        total=Decimal(price) * quantity,
        unit_weight_grams=grams,
        product_type=product_type,
        tags=tags,
    )


@pytest.fixture
def actor():
    return SYSTEM_ACTOR
