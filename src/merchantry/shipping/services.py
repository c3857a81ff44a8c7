"""
Every change to shipping zones and methods.

Services take the shop and the acting ``Actor`` explicitly, check
``shipping.manage``, validate everything before writing (a rejected change
writes nothing), run in one transaction and audit what they did. Zones and
methods name channels and stock locations by id; an id of another shop is
"no such channel" (a 422 on the field), never a way to reach it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction

from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    FieldError,
    NotFound,
    ValidationFailed,
    invalid_field,
    refuse_nulls,
)
from merchantry.core.ids import pk_or_none
from merchantry.inventory.models import StockLocation
from merchantry.shipping import geo
from merchantry.shipping.carriers import provides_shipping_rates
from merchantry.shipping.models import ShippingMethod, ShippingZone
from merchantry.shipping.rates import RateType, clean_rates
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "MAX_EXCLUSIONS",
    "method_create",
    "method_delete",
    "method_get",
    "method_update",
    "zone_create",
    "zone_delete",
    "zone_get",
    "zone_update",
]

MAX_EXCLUSIONS = 50
MAX_DAYS = 365
_ZONE_FIELDS = ("name", "countries", "subdivisions", "postal_codes", "channel_ids")
_METHOD_FIELDS = (
    "name", "description", "is_active", "position", "min_days", "max_days", "channel_ids",
    "rate_type", "rates", "carrier_plugin", "carrier_service", "origin_id", "max_weight_grams",
    "excluded_product_types", "excluded_tags", "pickup_only", "pickup_location_ids",
)  # fmt: skip
_NULLABLE = {"min_days", "max_days", "origin_id", "max_weight_grams"}


def _unknown(fields: Iterable[str], allowed: Sequence[str], what: str) -> None:
    extra = sorted(set(fields) - set(allowed))
    if extra:
        raise TypeError(f"unknown {what} field(s): {extra}")


def _channels(shop: Shop, ids: Sequence[Any], field: str = "channel_ids") -> list[Channel]:
    """Return the shop's channels ``ids`` name, or raise a 422 at the first unknown one."""
    pks = [pk_or_none(str(value)) for value in ids]
    found = {c.pk: c for c in Channel.objects.for_shop(shop).filter(pk__in=[p for p in pks if p])}
    errors = [
        FieldError((field, index), "No such channel.", "not_found")
        for index, pk in enumerate(pks)
        if pk not in found
    ]
    if errors:
        raise ValidationFailed(errors=errors)
    return list(dict.fromkeys(found[pk] for pk in pks if pk is not None))


def _locations(shop: Shop, ids: Sequence[Any], field: str) -> list[StockLocation]:
    pks = [pk_or_none(str(value)) for value in ids]
    found = {
        loc.pk: loc
        for loc in StockLocation.objects.for_shop(shop).filter(pk__in=[p for p in pks if p])
    }
    errors = [
        FieldError((field, index), "No such stock location.", "not_found")
        for index, pk in enumerate(pks)
        if pk not in found
    ]
    if errors:
        raise ValidationFailed(errors=errors)
    return list(dict.fromkeys(found[pk] for pk in pks if pk is not None))


# -- zones ----------------------------------------------------------------------------


def zone_get(*, shop: Shop, zone_id: int, lock: bool = False) -> ShippingZone:
    queryset = ShippingZone.objects.for_shop(shop)
    if lock:
        queryset = queryset.select_for_update()
    zone = queryset.filter(pk=zone_id).first()
    if zone is None:
        raise NotFound("No such shipping zone.")
    return zone


def _clean_name(value: Any, field: str = "name", max_length: int = 120) -> str:
    name = str(value or "").strip()
    if not name:
        raise invalid_field(field, "This field is required.", "required")
    if len(name) > max_length:
        raise invalid_field(field, f"At most {max_length} characters.", "too_long")
    return name


def _zone_snapshot(zone: ShippingZone, channels: Iterable[Channel]) -> dict[str, Any]:
    return {
        "name": zone.name,
        "countries": zone.countries,
        "subdivisions": zone.subdivisions,
        "postal_codes": zone.postal_codes,
        "channels": sorted(c.slug for c in channels),
    }


def zone_create(
    *,
    actor: Actor,
    shop: Shop,
    name: str,
    countries: Sequence[str],
    subdivisions: Sequence[str] = (),
    postal_codes: Sequence[str] = (),
    channel_ids: Sequence[Any] = (),
) -> ShippingZone:
    """Create a zone covering ``countries`` (narrowed as given), used by ``channel_ids``."""
    actor.require(Perm.SHIPPING_MANAGE)
    clean = _clean_name(name)
    area = geo.clean_area(countries=countries, subdivisions=subdivisions, postal_codes=postal_codes)
    channels = _channels(shop, channel_ids)
    with transaction.atomic():
        zone = ShippingZone.objects.create(
            shop=shop,
            name=clean,
            countries=list(area.countries),
            subdivisions=list(area.subdivisions),
            postal_codes=list(area.postal_codes),
        )
        zone.channels.set(channels)
        audit.record(
            actor, "shipping_zone.create", zone, _zone_snapshot(zone, channels), shop_id=shop.pk
        )
    return zone


def zone_update(
    *, actor: Actor, shop: Shop, zone_id: int, changes: Mapping[str, Any]
) -> ShippingZone:
    """Change a zone; absent fields stay as they are."""
    actor.require(Perm.SHIPPING_MANAGE)
    _unknown(changes, _ZONE_FIELDS, "zone")
    refuse_nulls(changes, _ZONE_FIELDS)
    with transaction.atomic():
        zone = zone_get(shop=shop, zone_id=zone_id, lock=True)
        name = _clean_name(changes["name"]) if "name" in changes else zone.name
        area = geo.clean_area(
            countries=changes.get("countries", zone.countries),
            subdivisions=changes.get("subdivisions", zone.subdivisions),
            postal_codes=changes.get("postal_codes", zone.postal_codes),
        )
        channels = (
            _channels(shop, changes["channel_ids"])
            if "channel_ids" in changes
            else list(zone.channels.all())
        )
        zone.name = name
        zone.countries = list(area.countries)
        zone.subdivisions = list(area.subdivisions)
        zone.postal_codes = list(area.postal_codes)
        zone.save()
        if "channel_ids" in changes:
            zone.channels.set(channels)
        audit.record(
            actor, "shipping_zone.update", zone, _zone_snapshot(zone, channels), shop_id=shop.pk
        )
    return zone


def zone_delete(*, actor: Actor, shop: Shop, zone_id: int) -> None:
    """Delete a zone and its methods (shipments keep their carrier and tracking)."""
    actor.require(Perm.SHIPPING_MANAGE)
    with transaction.atomic():
        zone = zone_get(shop=shop, zone_id=zone_id, lock=True)
        methods = list(zone.methods.values_list("name", flat=True))
        audit.record(
            actor, "shipping_zone.delete", zone, {"name": zone.name, "methods": methods},
            shop_id=shop.pk,
        )  # fmt: skip
        zone.delete()


# -- methods --------------------------------------------------------------------------


def method_get(*, shop: Shop, method_id: int, lock: bool = False) -> ShippingMethod:
    queryset = ShippingMethod.objects.for_shop(shop)
    if lock:
        queryset = queryset.select_for_update()
    method = queryset.filter(pk=method_id).first()
    if method is None:
        raise NotFound("No such shipping method.")
    return method


def _words(values: Any, field: str) -> list[str]:
    cleaned = list(dict.fromkeys(str(v).strip() for v in values or () if str(v).strip()))
    if len(cleaned) > MAX_EXCLUSIONS:
        raise invalid_field(field, f"At most {MAX_EXCLUSIONS}.", "too_many")
    for index, value in enumerate(cleaned):
        if len(value) > 120:
            raise invalid_field((field, index), "At most 120 characters.", "too_long")
    return cleaned


def _count(value: Any, field: str, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_field(field, "Give a whole number.", "not_an_integer")
    if value < 0:
        raise invalid_field(field, "Must not be negative.", "negative")
    if value > maximum:
        raise invalid_field(field, f"At most {maximum}.", "too_large")
    return value


def _apply_method(method: ShippingMethod, shop: Shop, values: Mapping[str, Any]) -> dict[str, Any]:
    """
    Validate ``values`` (every field of the method, merged with what it had)
    onto ``method``; return the related objects to set once it is saved.
    """
    method.name = _clean_name(values["name"])
    description = str(values.get("description") or "").strip()
    if len(description) > 500:
        raise invalid_field("description", "At most 500 characters.", "too_long")
    method.description = description
    method.is_active = bool(values.get("is_active", True))
    method.position = _count(values.get("position", 0), "position", 32767) or 0
    method.min_days = _count(values.get("min_days"), "min_days", MAX_DAYS)
    method.max_days = _count(values.get("max_days"), "max_days", MAX_DAYS)
    if None not in (method.min_days, method.max_days) and method.min_days > method.max_days:  # type: ignore[operator]
        raise invalid_field("max_days", "The longest estimate is at least the shortest.", "order")
    try:
        rate_type = RateType(values.get("rate_type") or RateType.FLAT)
    except ValueError:
        raise invalid_field("rate_type", "Unknown rate type.", "invalid") from None
    method.rate_type = rate_type
    method.rates = clean_rates(rate_type, values.get("rates") or [])
    method.max_weight_grams = _count(values.get("max_weight_grams"), "max_weight_grams", 10**9)
    method.excluded_product_types = _words(
        values.get("excluded_product_types"), "excluded_product_types"
    )
    method.excluded_tags = _words(values.get("excluded_tags"), "excluded_tags")

    carrier_plugin = str(values.get("carrier_plugin") or "").strip()
    carrier_service = str(values.get("carrier_service") or "").strip()
    origin_id = values.get("origin_id")
    if rate_type == RateType.CARRIER:
        if carrier_plugin and not provides_shipping_rates(carrier_plugin):
            raise invalid_field(
                "carrier_plugin",
                "No plugin on this server provides shipping rates under this id.",
                "unknown_plugin",
            )
        if len(carrier_service) > 100:
            raise invalid_field("carrier_service", "At most 100 characters.", "too_long")
        origin = None
        if origin_id is not None:
            origin = _locations(shop, [origin_id], "origin_id")[0]
            if not origin.can_ship:
                raise invalid_field("origin_id", "This location does not ship.", "cannot_ship")
        method.carrier_plugin, method.carrier_service, method.origin = (
            carrier_plugin,
            carrier_service,
            origin,
        )
    else:
        for name, value in (
            ("carrier_plugin", carrier_plugin),
            ("carrier_service", carrier_service),
            ("origin_id", origin_id),
        ):
            if value and name in values.get("_given", ()):
                raise invalid_field(
                    name, "Only carrier-calculated methods take this.", "not_allowed"
                )
        method.carrier_plugin, method.carrier_service, method.origin = "", "", None

    pickup_ids = list(values.get("pickup_location_ids") or [])
    method.pickup_only = bool(values.get("pickup_only", False))
    pickup: list[StockLocation] = []
    if method.pickup_only:
        if rate_type == RateType.CARRIER:
            raise invalid_field(
                "pickup_only", "A pickup method is priced by a rule, not a carrier.", "not_allowed"
            )
        if not pickup_ids:
            raise invalid_field(
                "pickup_location_ids", "Name the locations to collect from.", "required"
            )
        pickup = _locations(shop, pickup_ids, "pickup_location_ids")
        for index, location in enumerate(pickup):
            if not location.can_pickup:
                raise invalid_field(
                    ("pickup_location_ids", index),
                    f"{location.name} does not allow pickup.",
                    "no_pickup",
                )
    elif pickup_ids and "pickup_location_ids" in values.get("_given", ()):
        raise invalid_field(
            "pickup_location_ids", "Only pickup methods have pickup locations.", "not_allowed"
        )
    return {"channels": _channels(shop, values.get("channel_ids") or []), "pickup": pickup}


def _method_snapshot(method: ShippingMethod, related: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": method.name,
        "zone": method.zone_id,
        "rate_type": method.rate_type,
        "rates": method.rates,
        "is_active": method.is_active,
        "pickup_only": method.pickup_only,
        "channels": sorted(c.slug for c in related["channels"]),
    }


def method_create(
    *, actor: Actor, shop: Shop, zone_id: int, name: str, **fields: Any
) -> ShippingMethod:
    """
    Create a method in a zone. ``fields`` are the method's fields by name
    (``rate_type``, ``rates``, ...), with ``channel_ids``,
    ``pickup_location_ids`` and ``origin_id`` naming related objects.
    """
    actor.require(Perm.SHIPPING_MANAGE)
    _unknown(fields, _METHOD_FIELDS, "method")
    with transaction.atomic():
        zone = zone_get(shop=shop, zone_id=zone_id, lock=True)
        method = ShippingMethod(shop=shop, zone=zone)
        related = _apply_method(method, shop, {**fields, "name": name, "_given": set(fields)})
        method.save()
        method.channels.set(related["channels"])
        method.pickup_locations.set(related["pickup"])
        audit.record(
            actor, "shipping_method.create", method, _method_snapshot(method, related),
            shop_id=shop.pk,
        )  # fmt: skip
    return method


def _current(method: ShippingMethod) -> dict[str, Any]:
    return {
        "name": method.name,
        "description": method.description,
        "is_active": method.is_active,
        "position": method.position,
        "min_days": method.min_days,
        "max_days": method.max_days,
        "channel_ids": [c.pk for c in method.channels.all()],
        "rate_type": method.rate_type,
        "rates": method.rates,
        "carrier_plugin": method.carrier_plugin,
        "carrier_service": method.carrier_service,
        "origin_id": method.origin_id,
        "max_weight_grams": method.max_weight_grams,
        "excluded_product_types": method.excluded_product_types,
        "excluded_tags": method.excluded_tags,
        "pickup_only": method.pickup_only,
        "pickup_location_ids": [loc.pk for loc in method.pickup_locations.all()],
    }


def method_update(
    *, actor: Actor, shop: Shop, method_id: int, changes: Mapping[str, Any]
) -> ShippingMethod:
    """Change a method; absent fields stay as they are, and the whole is validated again."""
    actor.require(Perm.SHIPPING_MANAGE)
    _unknown(changes, _METHOD_FIELDS, "method")
    refuse_nulls(changes, [f for f in _METHOD_FIELDS if f not in _NULLABLE])
    with transaction.atomic():
        method = method_get(shop=shop, method_id=method_id, lock=True)
        values = {**_current(method), **changes, "_given": set(changes)}
        new_type = changes.get("rate_type")
        if new_type is not None and new_type != method.rate_type and "rates" not in changes:
            # The old entries do not fit a rule of another type.
            if new_type != RateType.CARRIER:
                raise invalid_field("rates", "Give the rates of the new rate type.", "required")
            values["rates"] = []
        related = _apply_method(method, shop, values)
        method.save()
        method.channels.set(related["channels"])
        method.pickup_locations.set(related["pickup"])
        audit.record(
            actor, "shipping_method.update", method, _method_snapshot(method, related),
            shop_id=shop.pk,
        )  # fmt: skip
    return method


def method_delete(*, actor: Actor, shop: Shop, method_id: int) -> None:
    actor.require(Perm.SHIPPING_MANAGE)
    with transaction.atomic():
        method = method_get(shop=shop, method_id=method_id, lock=True)
        audit.record(
            actor, "shipping_method.delete", method, {"name": method.name}, shop_id=shop.pk
        )
        method.delete()
