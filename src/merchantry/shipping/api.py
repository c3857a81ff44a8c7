"""
Admin API (zones, methods, shipments and their tracking events) and Store
API (which methods can ship a cart to an address, priced).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from merchantry.core.errors import NotFound
from merchantry.core.ids import parse_id, pk_or_none
from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.shipping import quotes, selectors, services, shipments
from merchantry.shipping.models import Shipment, ShipmentStatus, ShippingMethod, ShippingZone
from merchantry.shipping.schemas import (
    MethodCreate,
    MethodOut,
    MethodPatch,
    QuoteIn,
    QuoteOut,
    ShipmentCreate,
    ShipmentOut,
    ShipmentPatch,
    TrackingEventIn,
    TrackingEventResult,
    ZoneCreate,
    ZoneOut,
    ZonePatch,
)
from merchantry.tenancy.context import request_context

__all__ = ["admin_router", "store_router"]

admin_router = Router(tags=["shipping"])
store_router = Router(tags=["shipping"])


def _clean(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "").strip() or None


# -- zones ------------------------------------------------------------------------------


@admin_router.get("/shipping/zones", response=Page[ZoneOut], summary="Shipping zones")
def zone_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[ShippingZone]:
    ctx = request_context(request)
    return paginate(selectors.zone_list(actor=ctx.actor, shop=ctx.shop), page, order_by=("name",))


@admin_router.post("/shipping/zones", response={201: ZoneOut}, summary="Create a shipping zone")
def zone_create(request: HttpRequest, payload: ZoneCreate) -> Status[ShippingZone]:
    ctx = request_context(request)
    zone = services.zone_create(actor=ctx.actor, shop=ctx.shop, **payload.model_dump())
    return Status(201, selectors.zone_detail(actor=ctx.actor, shop=ctx.shop, zone_id=zone.pk))


@admin_router.get("/shipping/zones/{zone_id}", response=ZoneOut, summary="One shipping zone")
def zone_get(request: HttpRequest, zone_id: str) -> ShippingZone:
    ctx = request_context(request)
    return selectors.zone_detail(
        actor=ctx.actor, shop=ctx.shop, zone_id=parse_id(zone_id, what="shipping zone")
    )


@admin_router.patch("/shipping/zones/{zone_id}", response=ZoneOut, summary="Change a zone")
def zone_patch(request: HttpRequest, zone_id: str, payload: ZonePatch) -> ShippingZone:
    ctx = request_context(request)
    pk = parse_id(zone_id, what="shipping zone")
    services.zone_update(
        actor=ctx.actor, shop=ctx.shop, zone_id=pk, changes=payload.model_dump(exclude_unset=True)
    )
    return selectors.zone_detail(actor=ctx.actor, shop=ctx.shop, zone_id=pk)


@admin_router.delete(
    "/shipping/zones/{zone_id}", response={204: None}, summary="Delete a zone and its methods"
)
def zone_delete(request: HttpRequest, zone_id: str) -> Status[None]:
    ctx = request_context(request)
    services.zone_delete(
        actor=ctx.actor, shop=ctx.shop, zone_id=parse_id(zone_id, what="shipping zone")
    )
    return Status(204, None)


# -- methods ----------------------------------------------------------------------------


@admin_router.get(
    "/shipping/zones/{zone_id}/methods", response=Page[MethodOut], summary="A zone's methods"
)
def method_list(
    request: HttpRequest, zone_id: str, page: Query[PageParams]
) -> CursorPage[ShippingMethod]:
    ctx = request_context(request)
    methods = selectors.method_list(
        actor=ctx.actor, shop=ctx.shop, zone_id=parse_id(zone_id, what="shipping zone")
    )
    return paginate(methods, page, order_by=("position",))


@admin_router.post(
    "/shipping/zones/{zone_id}/methods",
    response={201: MethodOut},
    summary="Add a shipping method to a zone",
)
def method_create(
    request: HttpRequest, zone_id: str, payload: MethodCreate
) -> Status[ShippingMethod]:
    ctx = request_context(request)
    fields = payload.model_dump(exclude_unset=True)
    method = services.method_create(
        actor=ctx.actor,
        shop=ctx.shop,
        zone_id=parse_id(zone_id, what="shipping zone"),
        **{"rate_type": payload.rate_type, **fields},
    )
    return Status(201, selectors.method_detail(actor=ctx.actor, shop=ctx.shop, method_id=method.pk))


@admin_router.get("/shipping/methods/{method_id}", response=MethodOut, summary="One method")
def method_get(request: HttpRequest, method_id: str) -> ShippingMethod:
    ctx = request_context(request)
    return selectors.method_detail(
        actor=ctx.actor, shop=ctx.shop, method_id=parse_id(method_id, what="shipping method")
    )


@admin_router.patch("/shipping/methods/{method_id}", response=MethodOut, summary="Change a method")
def method_patch(request: HttpRequest, method_id: str, payload: MethodPatch) -> ShippingMethod:
    ctx = request_context(request)
    pk = parse_id(method_id, what="shipping method")
    services.method_update(
        actor=ctx.actor, shop=ctx.shop, method_id=pk, changes=payload.model_dump(exclude_unset=True)
    )
    return selectors.method_detail(actor=ctx.actor, shop=ctx.shop, method_id=pk)


@admin_router.delete(
    "/shipping/methods/{method_id}", response={204: None}, summary="Delete a method"
)
def method_delete(request: HttpRequest, method_id: str) -> Status[None]:
    ctx = request_context(request)
    services.method_delete(
        actor=ctx.actor, shop=ctx.shop, method_id=parse_id(method_id, what="shipping method")
    )
    return Status(204, None)


# -- shipments --------------------------------------------------------------------------


class ShipmentFilters(Schema):
    order_id: str | None = Field(None, max_length=64, description="Shipments of this order.")
    status: ShipmentStatus | None = Field(None)


def _label(payload: Any) -> shipments.LabelInput | None:
    label = payload.label
    return None if label is None else shipments.decode_label(label.format, label.data_base64)


@admin_router.get("/shipments", response=Page[ShipmentOut], summary="Shipments")
def shipment_list(
    request: HttpRequest, filters: Query[ShipmentFilters], page: Query[PageParams]
) -> CursorPage[Shipment]:
    ctx = request_context(request)
    found = selectors.shipment_list(
        actor=ctx.actor, shop=ctx.shop, order_id=_clean(filters.order_id), status=filters.status
    )
    return paginate(found, page, order_by=("-created_at",))


@admin_router.post("/shipments", response={201: ShipmentOut}, summary="Record a shipment")
def shipment_create(request: HttpRequest, payload: ShipmentCreate) -> Status[Shipment]:
    ctx = request_context(request)
    fields = payload.model_dump(exclude_unset=True, exclude={"label"})
    shipment = shipments.shipment_create(
        actor=ctx.actor, shop=ctx.shop, label=_label(payload), **fields
    )
    return Status(
        201, selectors.shipment_detail(actor=ctx.actor, shop=ctx.shop, shipment_id=shipment.pk)
    )


@admin_router.get("/shipments/{shipment_id}", response=ShipmentOut, summary="One shipment")
def shipment_get(request: HttpRequest, shipment_id: str) -> Shipment:
    ctx = request_context(request)
    return selectors.shipment_detail(
        actor=ctx.actor, shop=ctx.shop, shipment_id=parse_id(shipment_id, what="shipment")
    )


@admin_router.patch("/shipments/{shipment_id}", response=ShipmentOut, summary="Change a shipment")
def shipment_patch(request: HttpRequest, shipment_id: str, payload: ShipmentPatch) -> Shipment:
    ctx = request_context(request)
    pk = parse_id(shipment_id, what="shipment")
    changes = payload.model_dump(exclude_unset=True, exclude={"label"})
    if "label" in payload.model_fields_set:
        changes["label"] = _label(payload)
    shipments.shipment_update(actor=ctx.actor, shop=ctx.shop, shipment_id=pk, changes=changes)
    return selectors.shipment_detail(actor=ctx.actor, shop=ctx.shop, shipment_id=pk)


@admin_router.post(
    "/shipments/{shipment_id}/tracking-events",
    response={200: TrackingEventResult, 201: TrackingEventResult},
    summary="Apply a tracking event (idempotent; the status only moves forward)",
)
def tracking_event_create(
    request: HttpRequest, shipment_id: str, payload: TrackingEventIn
) -> Status[dict[str, Any]]:
    ctx = request_context(request)
    pk = parse_id(shipment_id, what="shipment")
    event, created = shipments.tracking_event_apply(
        actor=ctx.actor, shop=ctx.shop, shipment_id=pk, **payload.model_dump()
    )
    shipment = selectors.shipment_detail(actor=ctx.actor, shop=ctx.shop, shipment_id=pk)
    return Status(
        201 if created else 200, {"created": created, "event": event, "shipment": shipment}
    )


# -- Store API --------------------------------------------------------------------------


@store_router.post(
    "/shipping/quote",
    response=QuoteOut,
    summary="The shipping methods for an address and some lines, priced in the channel currency",
)
def store_quote(request: HttpRequest, payload: QuoteIn) -> quotes.ShippingQuote:
    ctx = request_context(request)
    if ctx.channel is None:
        raise NotFound("No channel.")
    address = quotes.address_from_input(**payload.address.model_dump())
    lines = quotes.lines_from_variants(
        channel=ctx.channel,
        items=[(pk_or_none(line.variant_id), line.quantity) for line in payload.lines],
    )
    return quotes.available_methods(
        channel=ctx.channel,
        address=address,
        lines=lines,
        discounted_subtotal=payload.discounted_subtotal,
    )
