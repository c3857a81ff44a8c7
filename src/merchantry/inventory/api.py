"""
Admin API (locations, what each channel sells from, stock levels, corrections,
the ledger) and Store API (availability per variant on the key's channel).

Stock corrections accept an ``Idempotency-Key`` header: a retry with the same
key and body returns the first response instead of changing stock twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Header, Query, Router, Schema, Status

from merchantry.catalog.models import ProductVariant
from merchantry.core.errors import NotFound
from merchantry.core.ids import parse_id, pk_or_none
from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.inventory import selectors, services
from merchantry.inventory.idempotency import HEADER, idempotent
from merchantry.inventory.models import MovementReason, StockLevel, StockLocation, StockMovement
from merchantry.inventory.schemas import (
    AdjustIn,
    AvailabilityOut,
    BulkSetIn,
    BulkSetOut,
    ChannelStockIn,
    ChannelStockOut,
    LevelOut,
    LevelSettingsIn,
    LocationCreate,
    LocationOut,
    LocationPatch,
    MovementOut,
    SetIn,
    TransferIn,
    TransferOut,
)
from merchantry.tenancy.context import request_context
from merchantry.tenancy.permissions import Perm

__all__ = ["admin_router", "store_router"]

admin_router = Router(tags=["inventory"])
store_router = Router(tags=["inventory"])

_IDEMPOTENCY = Header(
    None,
    alias=HEADER,
    max_length=255,
    description="Any unique string (a UUID); a retry with the same key returns the first "
    "response instead of changing stock again.",
)


def _clean(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "").strip() or None


def _filter_id(value: str | None) -> int | None:
    """An id filter: absent is None; a malformed one matches nothing (0)."""
    if value is None or not value.strip():
        return None
    return pk_or_none(value) or 0


def _ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    return [pk for part in value.split(",")[:100] if (pk := pk_or_none(part)) is not None]


# -- locations ------------------------------------------------------------------------


@admin_router.get("/inventory/locations", response=Page[LocationOut], summary="Stock locations")
def location_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[StockLocation]:
    ctx = request_context(request)
    return paginate(selectors.location_list(actor=ctx.actor, shop=ctx.shop), page)


@admin_router.post(
    "/inventory/locations", response={201: LocationOut}, summary="Create a stock location"
)
def location_create(request: HttpRequest, payload: LocationCreate) -> Status[StockLocation]:
    ctx = request_context(request)
    location = services.location_create(
        actor=ctx.actor, shop=ctx.shop, **payload.model_dump(exclude_unset=True)
    )
    return Status(201, location)


@admin_router.get(
    "/inventory/locations/{location_id}", response=LocationOut, summary="One stock location"
)
def location_get(request: HttpRequest, location_id: str) -> StockLocation:
    ctx = request_context(request)
    return selectors.location_detail(
        actor=ctx.actor, shop=ctx.shop, location_id=parse_id(location_id, what="location")
    )


@admin_router.patch(
    "/inventory/locations/{location_id}", response=LocationOut, summary="Change a stock location"
)
def location_patch(request: HttpRequest, location_id: str, payload: LocationPatch) -> Any:
    ctx = request_context(request)
    return services.location_update(
        actor=ctx.actor,
        shop=ctx.shop,
        location_id=parse_id(location_id, what="location"),
        changes=payload.model_dump(exclude_unset=True),
    )


@admin_router.delete(
    "/inventory/locations/{location_id}",
    response={204: None},
    summary="Delete a location that never held stock (deactivate the others)",
)
def location_delete(request: HttpRequest, location_id: str) -> Status[None]:
    ctx = request_context(request)
    services.location_delete(
        actor=ctx.actor, shop=ctx.shop, location_id=parse_id(location_id, what="location")
    )
    return Status(204, None)


@admin_router.post(
    "/inventory/locations/{location_id}/bulk-set",
    response=BulkSetOut,
    summary="Record counts by SKU at a location (all or nothing), e.g. from an ERP",
)
def bulk_set(
    request: HttpRequest,
    location_id: str,
    payload: BulkSetIn,
    idempotency_key: str | None = _IDEMPOTENCY,
) -> Any:
    ctx = request_context(request)
    pk = parse_id(location_id, what="location")

    def run() -> dict[str, Any]:
        levels = services.stock_bulk_set(
            actor=ctx.actor,
            shop=ctx.shop,
            location_id=pk,
            items=[item.model_dump() for item in payload.items],
            reference=payload.reference,
            note=payload.note,
        )
        return {"items": _levels(levels)}

    return idempotent(request, key=idempotency_key, payload=payload, out=BulkSetOut, run=run)


# -- channels ----------------------------------------------------------------------------


def _channel_stock(request: HttpRequest, channel_id: int) -> dict[str, Any]:
    ctx = request_context(request)
    settings, location_ids = services.channel_inventory(shop=ctx.shop, channel_id=channel_id)
    by_pk = StockLocation.objects.for_shop(ctx.shop).in_bulk(location_ids)
    return {
        "channel_id": str(channel_id),
        "allocation_strategy": settings.allocation_strategy,
        "show_quantity": settings.show_quantity,
        "reservation_minutes": settings.reservation_minutes,
        "locations": [by_pk[pk] for pk in location_ids if pk in by_pk],
    }


@admin_router.get(
    "/inventory/channels/{channel_id}",
    response=ChannelStockOut,
    summary="Where a channel sells from, and how",
)
def channel_stock_get(request: HttpRequest, channel_id: str) -> dict[str, Any]:
    ctx = request_context(request)
    ctx.actor.require(Perm.INVENTORY_VIEW)
    return _channel_stock(request, parse_id(channel_id, what="channel"))


@admin_router.put(
    "/inventory/channels/{channel_id}",
    response=ChannelStockOut,
    summary="Set the locations a channel sells from (in priority order) and its stock settings",
)
def channel_stock_put(request: HttpRequest, channel_id: str, payload: ChannelStockIn) -> Any:
    ctx = request_context(request)
    pk = parse_id(channel_id, what="channel")
    services.channel_locations_set(
        actor=ctx.actor,
        shop=ctx.shop,
        channel_id=pk,
        location_ids=[pk_or_none(value) or 0 for value in payload.location_ids],
        allocation_strategy=payload.allocation_strategy,
        show_quantity=payload.show_quantity,
        reservation_minutes=payload.reservation_minutes,
    )
    return _channel_stock(request, pk)


# -- levels ----------------------------------------------------------------------------


class LevelFilters(Schema):
    location_id: str | None = Field(None, max_length=20, description="At this location.")
    variant_id: str | None = Field(None, max_length=20, description="Of this variant.")
    low_stock: bool = Field(False, description="Only levels at or below their threshold.")
    sku: str | None = Field(None, max_length=64, description="SKU contains.")


def _levels(levels: Iterable[StockLevel]) -> list[StockLevel]:
    """The levels again, with their variants, for serialisation (one query)."""
    pks = [level.pk for level in levels]
    found = StockLevel.objects.filter(pk__in=pks).select_related("variant").in_bulk()
    return [found[pk] for pk in pks]


def _level(level: StockLevel) -> StockLevel:
    return _levels([level])[0]


@admin_router.get("/inventory/levels", response=Page[LevelOut], summary="Stock levels")
def level_list(
    request: HttpRequest, filters: Query[LevelFilters], page: Query[PageParams]
) -> CursorPage[StockLevel]:
    ctx = request_context(request)
    levels = selectors.level_list(
        actor=ctx.actor,
        shop=ctx.shop,
        location_id=_filter_id(filters.location_id),
        variant_id=_filter_id(filters.variant_id),
        low_stock=filters.low_stock,
        sku=_clean(filters.sku),
    )
    return paginate(levels, page)


@admin_router.get(
    "/inventory/variants/{variant_id}/levels",
    response=list[LevelOut],
    summary="A variant's stock at each location",
)
def variant_levels(request: HttpRequest, variant_id: str) -> list[StockLevel]:
    ctx = request_context(request)
    return selectors.variant_levels(
        actor=ctx.actor, shop=ctx.shop, variant_id=parse_id(variant_id, what="variant")
    )


def _level_ids(variant_id: str, location_id: str) -> tuple[int, int]:
    return parse_id(variant_id, what="variant"), parse_id(location_id, what="location")


@admin_router.patch(
    "/inventory/variants/{variant_id}/levels/{location_id}",
    response=LevelOut,
    summary="Set a level's low-stock threshold and backorder limit",
)
def level_settings(
    request: HttpRequest, variant_id: str, location_id: str, payload: LevelSettingsIn
) -> StockLevel:
    ctx = request_context(request)
    variant, location = _level_ids(variant_id, location_id)
    level = services.level_settings_update(
        actor=ctx.actor,
        shop=ctx.shop,
        variant_id=variant,
        location_id=location,
        **payload.model_dump(exclude_unset=True),
    )
    return _level(level)


@admin_router.post(
    "/inventory/variants/{variant_id}/levels/{location_id}/adjust",
    response=LevelOut,
    summary="Add or remove units on hand (a delivery, damage, a found box)",
)
def level_adjust(
    request: HttpRequest,
    variant_id: str,
    location_id: str,
    payload: AdjustIn,
    idempotency_key: str | None = _IDEMPOTENCY,
) -> Any:
    ctx = request_context(request)
    variant, location = _level_ids(variant_id, location_id)

    def run() -> StockLevel:
        return _level(
            services.stock_adjust(
                actor=ctx.actor,
                shop=ctx.shop,
                variant_id=variant,
                location_id=location,
                delta=payload.delta,
                reason=payload.reason,
                reference=payload.reference,
                note=payload.note,
            )
        )

    return idempotent(request, key=idempotency_key, payload=payload, out=LevelOut, run=run)


@admin_router.post(
    "/inventory/variants/{variant_id}/levels/{location_id}/set",
    response=LevelOut,
    summary="Record a stock count: on hand becomes the number counted",
)
def level_set(
    request: HttpRequest,
    variant_id: str,
    location_id: str,
    payload: SetIn,
    idempotency_key: str | None = _IDEMPOTENCY,
) -> Any:
    ctx = request_context(request)
    variant, location = _level_ids(variant_id, location_id)

    def run() -> StockLevel:
        return _level(
            services.stock_set(
                actor=ctx.actor,
                shop=ctx.shop,
                variant_id=variant,
                location_id=location,
                on_hand=payload.on_hand,
                reference=payload.reference,
                note=payload.note,
            )
        )

    return idempotent(request, key=idempotency_key, payload=payload, out=LevelOut, run=run)


@admin_router.post(
    "/inventory/variants/{variant_id}/levels/{location_id}/transfer",
    response=TransferOut,
    summary="Move available units from this location to another",
)
def level_transfer(
    request: HttpRequest,
    variant_id: str,
    location_id: str,
    payload: TransferIn,
    idempotency_key: str | None = _IDEMPOTENCY,
) -> Any:
    ctx = request_context(request)
    variant, location = _level_ids(variant_id, location_id)

    def run() -> dict[str, StockLevel]:
        source, destination = services.stock_transfer(
            actor=ctx.actor,
            shop=ctx.shop,
            variant_id=variant,
            from_location_id=location,
            to_location_id=pk_or_none(payload.to_location_id) or 0,
            quantity=payload.quantity,
            reference=payload.reference,
            note=payload.note,
        )
        source, destination = _levels([source, destination])
        return {"source": source, "destination": destination}

    return idempotent(request, key=idempotency_key, payload=payload, out=TransferOut, run=run)


# -- the ledger ---------------------------------------------------------------------------


class MovementFilters(Schema):
    variant_id: str | None = Field(None, max_length=20)
    location_id: str | None = Field(None, max_length=20)
    reason: MovementReason | None = Field(None)
    reference: str | None = Field(None, max_length=255)
    sku: str | None = Field(
        None, max_length=64, description="Exact; finds the rows of deleted variants too."
    )
    since: datetime | None = Field(None, description="At or after (ISO 8601).")


@admin_router.get(
    "/inventory/movements",
    response=Page[MovementOut],
    summary="The stock ledger, newest first",
)
def movement_list(
    request: HttpRequest, filters: Query[MovementFilters], page: Query[PageParams]
) -> CursorPage[StockMovement]:
    ctx = request_context(request)
    movements = selectors.movement_list(
        actor=ctx.actor,
        shop=ctx.shop,
        variant_id=_filter_id(filters.variant_id),
        location_id=_filter_id(filters.location_id),
        reason=filters.reason,
        reference=_clean(filters.reference),
        sku=_clean(filters.sku),
        since=filters.since,
    )
    return paginate(movements, page, order_by=("-created_at",))


# -- Store API -----------------------------------------------------------------------------


class AvailabilityFilters(Schema):
    product_ids: str | None = Field(
        None, max_length=2100, description="Comma-separated product ids (at most 100)."
    )
    variant_ids: str | None = Field(
        None, max_length=2100, description="Comma-separated variant ids (at most 100)."
    )


@store_router.get(
    "/availability",
    response=Page[AvailabilityOut],
    summary="Availability of the channel's variants (filter by products or variants)",
)
def store_availability(
    request: HttpRequest, filters: Query[AvailabilityFilters], page: Query[PageParams]
) -> CursorPage[Any]:
    ctx = request_context(request)
    if ctx.channel is None:
        raise NotFound("No channel.")
    variants = selectors.store_variants(
        channel=ctx.channel,
        product_ids=_ids(filters.product_ids),
        variant_ids=_ids(filters.variant_ids),
    )
    found: CursorPage[ProductVariant] = paginate(variants, page)
    return CursorPage(
        items=selectors.store_availability(channel=ctx.channel, variants=found.items),
        next_cursor=found.next_cursor,
    )
