"""
Staff operations on inventory: locations, what each channel sells from, and
stock corrections (receive, adjust, count, transfer, bulk count by SKU).

Each service checks ``inventory.manage``, runs in one transaction and moves
stock only through a :class:`~merchantry.inventory.levels.StockBatch` (locked
levels, guarded updates, a ledger row per change). Reservations and
allocations, the checkout and order side, are in
:mod:`merchantry.inventory.reservations`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from django.utils.text import slugify

from merchantry.catalog.models import ProductChannelListing, ProductVariant
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    invalid_field,
    validation_failed_from_django,
)
from merchantry.inventory.availability import refresh_in_stock
from merchantry.inventory.errors import InsufficientStock, Shortage
from merchantry.inventory.levels import StockBatch, VariantInfo, raise_low_stock, variant_infos
from merchantry.inventory.models import (
    MAX_QUANTITY,
    AllocationStrategy,
    ChannelInventory,
    ChannelLocation,
    MovementReason,
    StockLevel,
    StockLocation,
    StockMovement,
)
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "MAX_BULK_ITEMS",
    "UNSET",
    "busy_guard",
    "channel_inventory",
    "channel_locations_set",
    "check_quantity",
    "level_settings_update",
    "location_create",
    "location_delete",
    "location_get",
    "location_update",
    "stock_adjust",
    "stock_bulk_set",
    "stock_receive",
    "stock_set",
    "stock_transfer",
    "variant_get",
]

MAX_BULK_ITEMS = 1000
UNSET: Any = object()
_LOCATION_FIELDS = (
    "name", "handle", "is_active", "can_ship", "can_pickup", "line1", "line2", "city",
    "postal_code", "country", "subdivision", "phone",
)  # fmt: skip


@contextmanager
def busy_guard() -> Iterator[None]:
    """
    Turn SQLite's "database is locked" (a writer waited past the busy
    timeout) into a 503 the client may retry, instead of a server error.
    """
    try:
        yield
    except OperationalError as exc:
        if "locked" in str(exc).lower():
            raise ServiceUnavailable(
                "The shop is busy; try again in a moment.", headers={"Retry-After": "1"}
            ) from None
        raise


def check_quantity(
    value: Any, field: str | tuple[str | int, ...], *, minimum: int = 1, signed: bool = False
) -> int:
    """Return ``value`` as a whole number of units, or raise a field error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_field(field, "Give a whole number of units.", "not_an_integer")
    low = -MAX_QUANTITY if signed else minimum
    if value < low or value > MAX_QUANTITY:
        raise invalid_field(field, f"Must be between {low} and {MAX_QUANTITY}.", "out_of_range")
    if signed and value == 0:
        raise invalid_field(field, "A change of zero changes nothing.", "zero")
    return value


def _text(value: str, limit: int) -> str:
    return (value or "").replace("\x00", "").strip()[:limit]


def variant_get(*, shop: Shop, variant_id: int) -> VariantInfo:
    info = variant_infos([variant_id], shop=shop).get(variant_id)
    if info is None:
        raise NotFound("No such variant.")
    return info


def location_get(*, shop: Shop, location_id: int) -> StockLocation:
    location = StockLocation.objects.for_shop(shop).filter(pk=location_id).first()
    if location is None:
        raise NotFound("No such location.")
    return location


def _body_location(shop: Shop, location_id: Any, field: str | tuple[str | int, ...]) -> int:
    """A location named in a request body: unknown is a field error, not a 404."""
    pk = location_id if isinstance(location_id, int) and not isinstance(location_id, bool) else 0
    if pk <= 0 or not StockLocation.objects.for_shop(shop).filter(pk=pk).exists():
        raise invalid_field(field, "No such location.", "not_found")
    return pk


# -- locations ----------------------------------------------------------------------


def _save_location(location: StockLocation) -> None:
    try:
        location.full_clean(validate_constraints=False, validate_unique=False)
    except ValidationError as exc:
        raise validation_failed_from_django(exc) from None
    try:
        with transaction.atomic():
            location.save()
    except IntegrityError:
        raise invalid_field("handle", "This value is already in use.", "unique") from None


def _unique_handle(shop: Shop, name: str) -> str:
    base = (slugify(name) or "location")[:50]
    taken = set(
        StockLocation.objects.for_shop(shop)
        .filter(handle__startswith=base)
        .values_list("handle", flat=True)
    )
    candidate, suffix = base, 2
    while candidate in taken:
        candidate, suffix = f"{base}-{suffix}", suffix + 1
    return candidate


def location_create(
    *, actor: Actor, shop: Shop, name: str, handle: str | None = None, **fields: Any
) -> StockLocation:
    """Create a stock location (a warehouse, a store, a supplier)."""
    actor.require(Perm.INVENTORY_MANAGE)
    unknown = set(fields) - set(_LOCATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown location fields {sorted(unknown)}")
    location = StockLocation(shop=shop, name=name, **fields)
    location.country = (location.country or shop.default_country).upper()
    with transaction.atomic():
        location.handle = handle or _unique_handle(shop, name)
        _save_location(location)
        audit.record(
            actor, "location.create", location, {"handle": location.handle}, shop_id=shop.pk
        )
    return location


def location_update(
    *, actor: Actor, shop: Shop, location_id: int, changes: Mapping[str, Any]
) -> StockLocation:
    actor.require(Perm.INVENTORY_MANAGE)
    unknown = set(changes) - set(_LOCATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown location fields {sorted(unknown)}")
    with transaction.atomic():
        location = location_get(shop=shop, location_id=location_id)
        was_active = location.is_active
        for field, value in changes.items():
            setattr(location, field, value)
        location.country = location.country.upper()
        _save_location(location)
        audit.record(actor, "location.update", location, dict(changes), shop_id=shop.pk)
        if location.is_active != was_active:
            # Channels stop (or start) selling this location's stock.
            _refresh_channels(
                ChannelLocation.objects.filter(location=location).values_list(
                    "channel_id", flat=True
                )
            )
    return location


def location_delete(*, actor: Actor, shop: Shop, location_id: int) -> None:
    """
    Delete a location that never held stock. One with a stock history is
    kept for its ledger: deactivate it instead.
    """
    actor.require(Perm.INVENTORY_MANAGE)
    with transaction.atomic():
        location = location_get(shop=shop, location_id=location_id)
        if StockMovement.objects.filter(location=location).exists():
            raise Conflict(
                "This location has a stock history; deactivate it instead.",
                code="location_in_use",
            )
        channels = list(
            ChannelLocation.objects.filter(location=location).values_list("channel_id", flat=True)
        )
        audit.record(
            actor, "location.delete", location, {"handle": location.handle}, shop_id=shop.pk
        )
        location.delete()
        _refresh_channels(channels)


# -- channels ------------------------------------------------------------------------


def channel_inventory(*, shop: Shop, channel_id: int) -> tuple[ChannelInventory, list[int]]:
    """Return a channel's inventory settings and its locations' ids, in priority order."""
    channel = Channel.objects.for_shop(shop).filter(pk=channel_id).first()
    if channel is None:
        raise NotFound("No such channel.")
    settings = ChannelInventory.objects.filter(channel=channel).first()
    if settings is None:
        settings = ChannelInventory(shop=shop, channel=channel)
    location_ids = list(
        ChannelLocation.objects.filter(channel=channel)
        .order_by("position", "pk")
        .values_list("location_id", flat=True)
    )
    return settings, location_ids


def channel_locations_set(
    *,
    actor: Actor,
    shop: Shop,
    channel_id: int,
    location_ids: Sequence[Any],
    allocation_strategy: str | None = None,
    show_quantity: bool | None = None,
    reservation_minutes: int | None = None,
) -> tuple[ChannelInventory, list[int]]:
    """
    Set the locations a channel sells from, in priority order, and its
    inventory settings (those given). Listings' ``in_stock`` follow.
    """
    actor.require(Perm.INVENTORY_MANAGE)
    ids = list(location_ids)
    if len(set(map(str, ids))) != len(ids):
        raise invalid_field("location_ids", "A location appears twice.", "duplicate")
    if allocation_strategy is not None and allocation_strategy not in AllocationStrategy.values:
        raise invalid_field("allocation_strategy", "Unknown strategy.", "invalid_choice")
    if reservation_minutes is not None:
        check_quantity(reservation_minutes, "reservation_minutes")
        if reservation_minutes > 1440:
            raise invalid_field("reservation_minutes", "At most 1440 (a day).", "out_of_range")
    with transaction.atomic():
        channel = Channel.objects.for_shop(shop).select_for_update().filter(pk=channel_id).first()
        if channel is None:
            raise NotFound("No such channel.")
        pks = [_body_location(shop, pk, ("location_ids", i)) for i, pk in enumerate(ids)]
        settings, _ = ChannelInventory.objects.get_or_create(
            channel=channel, defaults={"shop": shop}
        )
        if allocation_strategy is not None:
            settings.allocation_strategy = allocation_strategy
        if show_quantity is not None:
            settings.show_quantity = show_quantity
        if reservation_minutes is not None:
            settings.reservation_minutes = reservation_minutes
        settings.save()
        ChannelLocation.objects.filter(channel=channel).delete()
        ChannelLocation.objects.bulk_create(
            ChannelLocation(shop=shop, channel=channel, location_id=pk, position=position)
            for position, pk in enumerate(pks)
        )
        audit.record(
            actor,
            "channel.locations_set",
            channel,
            {
                "location_ids": [str(pk) for pk in pks],
                "allocation_strategy": settings.allocation_strategy,
                "show_quantity": settings.show_quantity,
                "reservation_minutes": settings.reservation_minutes,
            },
            shop_id=shop.pk,
        )
        _refresh_channels([channel.pk])
    return settings, pks


def _refresh_channels(channel_ids: Sequence[int] | Any) -> None:
    """Recompute ``in_stock`` of every listing on the channels (in batches)."""
    products = sorted(
        set(
            ProductChannelListing.objects.filter(channel_id__in=list(channel_ids)).values_list(
                "product_id", flat=True
            )
        )
    )
    for start in range(0, len(products), 500):
        refresh_in_stock(products[start : start + 500], now=timezone.now())


# -- stock levels ---------------------------------------------------------------------


def level_settings_update(
    *,
    actor: Actor,
    shop: Shop,
    variant_id: int,
    location_id: int,
    low_stock_threshold: Any = UNSET,
    backorder_limit: Any = UNSET,
) -> StockLevel:
    """Set a level's low-stock threshold and backorder limit (None clears either)."""
    actor.require(Perm.INVENTORY_MANAGE)
    info = variant_get(shop=shop, variant_id=variant_id)
    changes: dict[str, Any] = {}
    for field, value in (
        ("low_stock_threshold", low_stock_threshold),
        ("backorder_limit", backorder_limit),
    ):
        if value is not UNSET:
            changes[field] = None if value is None else check_quantity(value, field, minimum=0)
    with busy_guard(), transaction.atomic():
        location = location_get(shop=shop, location_id=location_id)
        batch = StockBatch(shop=shop, actor=actor, variants={info.pk: info})
        key = (info.pk, location.pk)
        level = batch.lock([key], create=[key])[key]
        if changes:
            StockLevel.objects.filter(pk=level.pk).update(**changes)
            for field, value in changes.items():
                setattr(level, field, value)
            raise_low_stock(shop, [level], batch.variants)
            if "backorder_limit" in changes:
                refresh_in_stock([info.product_id], now=batch.now, location_ids=[location.pk])
            audit.record(
                actor,
                "stock.settings",
                ("inventory.stocklevel", level.pk),
                {"variant": info.sku or str(info.pk), "location": location.handle, **changes},
                shop_id=shop.pk,
            )
    return level


def _note(note: str) -> str:
    return _text(note, 500)


def _single(
    actor: Actor, shop: Shop, variant_id: int, location_id: int
) -> tuple[StockBatch, StockLevel]:
    """Lock (creating it if need be) the level of one variant at one location."""
    info = variant_get(shop=shop, variant_id=variant_id)
    location = location_get(shop=shop, location_id=location_id)
    batch = StockBatch(shop=shop, actor=actor, variants={info.pk: info})
    key = (info.pk, location.pk)
    return batch, batch.lock([key], create=[key])[key]


def stock_receive(
    *,
    actor: Actor,
    shop: Shop,
    variant_id: int,
    location_id: int,
    quantity: Any,
    reference: str = "",
    note: str = "",
) -> StockLevel:
    """Add ``quantity`` received units to the level's ``on_hand``."""
    actor.require(Perm.INVENTORY_MANAGE)
    quantity = check_quantity(quantity, "quantity")
    with busy_guard(), transaction.atomic():
        batch, level = _single(actor, shop, variant_id, location_id)
        batch.move(
            level,
            on_hand=quantity,
            reason=MovementReason.RECEIVE,
            reference=_text(reference, 255),
            note=_note(note),
        )
        batch.finish(refresh_all=True)
    return level


def stock_adjust(
    *,
    actor: Actor,
    shop: Shop,
    variant_id: int,
    location_id: int,
    delta: Any,
    reason: str = MovementReason.ADJUST,
    reference: str = "",
    note: str = "",
) -> StockLevel:
    """
    Change ``on_hand`` by ``delta`` (damage, loss, a found box). A decrease
    may leave fewer units than are promised: that is recorded as it is (the
    available quantity goes below zero) rather than refused.
    """
    actor.require(Perm.INVENTORY_MANAGE)
    delta = check_quantity(delta, "delta", signed=True)
    if reason not in (MovementReason.ADJUST, MovementReason.RECEIVE):
        raise invalid_field("reason", "An adjustment is 'adjust' or 'receive'.", "invalid_choice")
    if reason == MovementReason.RECEIVE and delta < 0:
        raise invalid_field("delta", "A receipt adds units.", "negative")
    with busy_guard(), transaction.atomic():
        batch, level = _single(actor, shop, variant_id, location_id)
        if level.on_hand + delta < 0:
            raise Conflict(
                f"Only {level.on_hand} on hand; cannot remove {-delta}.",
                code="insufficient_on_hand",
            )
        batch.move(
            level,
            on_hand=delta,
            reason=reason,
            reference=_text(reference, 255),
            note=_note(note),
            correction=True,
        )
        batch.finish(refresh_all=True)
    return level


def stock_set(
    *,
    actor: Actor,
    shop: Shop,
    variant_id: int,
    location_id: int,
    on_hand: Any,
    reference: str = "",
    note: str = "",
) -> StockLevel:
    """Record a stock count: ``on_hand`` becomes the number counted."""
    actor.require(Perm.INVENTORY_MANAGE)
    on_hand = check_quantity(on_hand, "on_hand", minimum=0)
    with busy_guard(), transaction.atomic():
        batch, level = _single(actor, shop, variant_id, location_id)
        _count(batch, level, on_hand, reference=_text(reference, 255), note=_note(note))
        batch.finish(refresh_all=True)
    return level


def _count(
    batch: StockBatch, level: StockLevel, on_hand: int, *, reference: str, note: str
) -> None:
    # The level is locked: the difference to the count cannot change under us.
    batch.move(
        level,
        on_hand=on_hand - level.on_hand,
        reason=MovementReason.COUNT,
        reference=reference,
        note=note,
        correction=True,
    )


def stock_transfer(
    *,
    actor: Actor,
    shop: Shop,
    variant_id: int,
    from_location_id: int,
    to_location_id: Any,
    quantity: Any,
    reference: str = "",
    note: str = "",
) -> tuple[StockLevel, StockLevel]:
    """
    Move ``quantity`` available units from one location to another. Only
    units that are neither reserved nor allocated can move.
    """
    actor.require(Perm.INVENTORY_MANAGE)
    quantity = check_quantity(quantity, "quantity")
    info = variant_get(shop=shop, variant_id=variant_id)
    source = location_get(shop=shop, location_id=from_location_id)
    target = _body_location(shop, to_location_id, "to_location_id")
    if target == source.pk:
        raise invalid_field("to_location_id", "Choose another location.", "same_location")
    reference = _text(reference, 255) or f"transfer:{uuid.uuid4().hex[:16]}"
    with busy_guard(), transaction.atomic():
        batch = StockBatch(shop=shop, actor=actor, variants={info.pk: info})
        keys = [(info.pk, source.pk), (info.pk, target)]
        levels = batch.lock(keys, create=keys)
        out, into = levels[keys[0]], levels[keys[1]]
        if out.available < quantity:
            raise InsufficientStock(
                [Shortage(info.pk, info.sku, quantity, max(out.available, 0), ("quantity",))]
            )
        batch.move(
            out,
            on_hand=-quantity,
            reason=MovementReason.TRANSFER,
            reference=reference,
            note=_note(note),
            backorder=False,
        )
        batch.move(
            into,
            on_hand=quantity,
            reason=MovementReason.TRANSFER,
            reference=reference,
            note=_note(note),
        )
        batch.finish(refresh_all=True)
    return out, into


def stock_bulk_set(
    *,
    actor: Actor,
    shop: Shop,
    location_id: int,
    items: Sequence[Mapping[str, Any]],
    reference: str = "",
    note: str = "",
) -> list[StockLevel]:
    """
    Record counts by SKU at one location (``[{"sku": "TEE-M", "on_hand": 12}]``),
    all or nothing: one unknown SKU and nothing is written.
    """
    actor.require(Perm.INVENTORY_MANAGE)
    location = location_get(shop=shop, location_id=location_id)
    if not items:
        raise invalid_field("items", "Give at least one item.", "empty")
    if len(items) > MAX_BULK_ITEMS:
        raise invalid_field("items", f"At most {MAX_BULK_ITEMS} items.", "too_many")
    counts: dict[str, int] = {}
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        sku = _text(str(item.get("sku") or ""), 64)
        if not sku:
            errors.append(FieldError(("items", index, "sku"), "Give a SKU.", "missing"))
            continue
        if sku in counts:
            errors.append(
                FieldError(("items", index, "sku"), "This SKU appears twice.", "duplicate")
            )
        counts[sku] = check_quantity(item.get("on_hand"), ("items", index, "on_hand"), minimum=0)
    found = dict(
        ProductVariant.objects.for_shop(shop).filter(sku__in=list(counts)).values_list("sku", "pk")
    )
    for index, item in enumerate(items):
        sku = _text(str(item.get("sku") or ""), 64)
        if sku and sku not in found:
            errors.append(
                FieldError(("items", index, "sku"), "No variant has this SKU.", "not_found")
            )
    if errors:
        raise ValidationFailed("Some items are invalid; nothing was written.", errors=errors)
    reference = _text(reference, 255) or f"bulk:{uuid.uuid4().hex[:16]}"
    with busy_guard(), transaction.atomic():
        batch = StockBatch(
            shop=shop, actor=actor, variants=variant_infos(found.values(), shop=shop)
        )
        keys = [(found[sku], location.pk) for sku in counts]
        levels = batch.lock(keys, create=keys)
        result = []
        for sku, on_hand in counts.items():
            level = levels[(found[sku], location.pk)]
            _count(batch, level, on_hand, reference=reference, note=_note(note))
            result.append(level)
        batch.finish(refresh_all=True)
    return result
