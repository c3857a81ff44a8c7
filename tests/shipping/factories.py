"""Shipping objects for the cross-cutting API tests (tenant wall, bad input)."""

from __future__ import annotations

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.shipping import services
from merchantry.shipping.models import Shipment, ShippingMethod, ShippingZone
from merchantry.shipping.shipments import shipment_create
from merchantry.tenancy.models import Shop


def wall_zone(shop: Shop) -> ShippingZone:
    count = ShippingZone.objects.for_shop(shop).count()
    return services.zone_create(
        actor=SYSTEM_ACTOR, shop=shop, name=f"{shop.slug} wall zone {count}", countries=["US"]
    )


def wall_method(shop: Shop) -> ShippingMethod:
    return services.method_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        zone_id=wall_zone(shop).pk,
        name=f"{shop.slug} wall method",
        rate_type="flat",
        rates=[{"currency": "USD", "amount": "5.00"}],
    )


def wall_shipment(shop: Shop) -> Shipment:
    return shipment_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        order_id=f"{shop.slug}-order",
        lines=[{"order_line_id": f"{shop.slug}-line", "quantity": 1}],
        carrier="ups",
        tracking_number=f"{shop.slug}-1Z",
    )
