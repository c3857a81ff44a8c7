"""
Shipping reads for the APIs, with their prefetches spelled out: a page of
zones, methods or shipments is serialised with a fixed number of queries
whatever its size (see the budgets in ``tests/shipping/test_admin_api.py``).
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from merchantry.core.actors import Actor
from merchantry.core.errors import NotFound
from merchantry.inventory.models import StockLocation
from merchantry.shipping.models import Shipment, ShippingMethod, ShippingZone, TrackingEvent
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "method_detail",
    "method_list",
    "shipment_detail",
    "shipment_list",
    "zone_detail",
    "zone_list",
]


def _channels() -> Prefetch:
    return Prefetch("channels", queryset=Channel.objects.order_by("pk"))


def zone_list(*, actor: Actor, shop: Shop) -> QuerySet[ShippingZone]:
    actor.require(Perm.SHIPPING_VIEW)
    return ShippingZone.objects.for_shop(shop).prefetch_related(_channels())


def zone_detail(*, actor: Actor, shop: Shop, zone_id: int) -> ShippingZone:
    zone = zone_list(actor=actor, shop=shop).filter(pk=zone_id).first()
    if zone is None:
        raise NotFound("No such shipping zone.")
    return zone


def _methods(shop: Shop) -> QuerySet[ShippingMethod]:
    return ShippingMethod.objects.for_shop(shop).prefetch_related(
        _channels(), Prefetch("pickup_locations", queryset=StockLocation.objects.order_by("pk"))
    )


def method_list(*, actor: Actor, shop: Shop, zone_id: int) -> QuerySet[ShippingMethod]:
    actor.require(Perm.SHIPPING_VIEW)
    if not ShippingZone.objects.for_shop(shop).filter(pk=zone_id).exists():
        raise NotFound("No such shipping zone.")
    return _methods(shop).filter(zone_id=zone_id)


def method_detail(*, actor: Actor, shop: Shop, method_id: int) -> ShippingMethod:
    actor.require(Perm.SHIPPING_VIEW)
    method = _methods(shop).filter(pk=method_id).first()
    if method is None:
        raise NotFound("No such shipping method.")
    return method


def _shipments(shop: Shop) -> QuerySet[Shipment]:
    return Shipment.objects.for_shop(shop).prefetch_related(
        Prefetch("events", queryset=TrackingEvent.objects.order_by("occurred_at", "pk"))
    )


def shipment_list(
    *, actor: Actor, shop: Shop, order_id: str | None = None, status: str | None = None
) -> QuerySet[Shipment]:
    actor.require(Perm.ORDERS_VIEW)
    shipments = _shipments(shop)
    if order_id:
        shipments = shipments.filter(order_id=order_id)
    if status:
        shipments = shipments.filter(status=status)
    return shipments


def shipment_detail(*, actor: Actor, shop: Shop, shipment_id: int) -> Shipment:
    actor.require(Perm.ORDERS_VIEW)
    shipment = _shipments(shop).filter(pk=shipment_id).first()
    if shipment is None:
        raise NotFound("No such shipment.")
    return shipment
