"""
Shipments and their tracking: create and change them, and apply tracking
events from carriers and fulfillment integrations.

A shipment's status only moves forward (:func:`moves_forward`)::

    pending -> label_purchased -> in_transit -> out_for_delivery -> failed
            -> delivered | returned   (both final)

A status may skip steps, never go back. :func:`tracking_event_apply` is
idempotent: an event is known by the carrier's event id (or, without one, by
its status and time), and the same event applied twice is stored once. An
event older than the one that set the current status is kept in the history
but changes nothing, so events delivered out of order never regress a
shipment.

Writes need ``orders.manage`` (shipments are how orders get fulfilled; the
fulfillment role has it).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    invalid_field,
    refuse_nulls,
)
from merchantry.core.events import record_event
from merchantry.core.ids import pk_or_none
from merchantry.inventory.models import StockLocation
from merchantry.shipping.models import Shipment, ShipmentStatus, ShippingMethod, TrackingEvent
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "FINAL_STATUSES",
    "LABEL_MAX_BYTES",
    "STATUS_RANK",
    "TRACKING_URL_TEMPLATES",
    "LabelInput",
    "decode_label",
    "moves_forward",
    "shipment_create",
    "shipment_get",
    "shipment_update",
    "tracking_event_apply",
    "tracking_url_for",
]

STATUS_RANK: dict[str, int] = {
    ShipmentStatus.PENDING: 0,
    ShipmentStatus.LABEL_PURCHASED: 1,
    ShipmentStatus.IN_TRANSIT: 2,
    ShipmentStatus.OUT_FOR_DELIVERY: 3,
    ShipmentStatus.FAILED: 4,
    ShipmentStatus.DELIVERED: 5,
    ShipmentStatus.RETURNED: 5,
}
FINAL_STATUSES = frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED})

# Where each carrier shows a parcel; ``{tracking_number}`` is URL-quoted. A
# shop adds or replaces carriers in its settings under
# ``shipping.tracking_url_templates``.
TRACKING_URL_TEMPLATES: dict[str, str] = {
    "ups": "https://www.ups.com/track?tracknum={tracking_number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={tracking_number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={tracking_number}",
    "royal_mail": "https://www.royalmail.com/track-your-item#/tracking-results/{tracking_number}",
    "canada_post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={tracking_number}",
    "australia_post": "https://auspost.com.au/mypost/track/details/{tracking_number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{tracking_number}",
}  # fmt: skip

LABEL_MAX_BYTES = 2 * 1024 * 1024
MAX_LINES = 500
_CARRIER_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
_LABEL_MAGIC = {"pdf": (b"%PDF-",), "png": (b"\x89PNG\r\n\x1a\n",), "zpl": (b"^XA",)}


def moves_forward(current: str, current_at: datetime | None, new: str, new_at: datetime) -> bool:
    """
    Return whether an event of status ``new`` at ``new_at`` moves a shipment
    that is ``current`` (set by an event at ``current_at``, None when set by
    hand or at creation): never out of a final status, never to a status of
    the same or a lower rank, never by an event older than the current one.
    """
    if current in FINAL_STATUSES:
        return False
    if STATUS_RANK[new] <= STATUS_RANK[current]:
        return False
    return current_at is None or new_at >= current_at


def tracking_url_for(shop: Shop, carrier: str, tracking_number: str) -> str:
    """Return the carrier's tracking page for ``tracking_number``, or '' when unknown."""
    if not carrier or not tracking_number:
        return ""
    custom = (shop.settings or {}).get("shipping", {})
    overrides = custom.get("tracking_url_templates", {}) if isinstance(custom, dict) else {}
    template = (overrides if isinstance(overrides, dict) else {}).get(carrier)
    if not isinstance(template, str) or not template.startswith("https://"):
        template = TRACKING_URL_TEMPLATES.get(carrier, "")
    if "{tracking_number}" not in template:
        return ""
    return template.replace("{tracking_number}", quote(tracking_number, safe=""))


# -- labels -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelInput:
    """A label's bytes and format (pdf, png or zpl), checked by :func:`decode_label`."""

    format: str
    data: bytes


def decode_label(fmt: str, data_base64: str, *, field: str = "label") -> LabelInput:
    """Return the label the base64 text holds, or raise a 422 if it is not one of ``fmt``."""
    if fmt not in _LABEL_MAGIC:
        raise invalid_field((field, "format"), "A label is pdf, png or zpl.", "invalid")
    try:
        data = base64.b64decode(data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_field((field, "data_base64"), "Not base64.", "invalid") from None
    if not data:
        raise invalid_field((field, "data_base64"), "The label is empty.", "required")
    if len(data) > LABEL_MAX_BYTES:
        raise invalid_field(
            (field, "data_base64"), f"A label is at most {LABEL_MAX_BYTES} bytes.", "too_large"
        )
    if not data.lstrip().startswith(_LABEL_MAGIC[fmt]):
        raise invalid_field(
            (field, "data_base64"), f"This is not a {fmt.upper()} file.", "wrong_format"
        )
    return LabelInput(fmt, data)


def _store_label(shipment: Shipment, label: LabelInput) -> None:
    # A random name: label URLs must not be guessable from a shipment id.
    shipment.label.save(
        f"{secrets.token_urlsafe(16)}.{label.format}", ContentFile(label.data), save=False
    )


# -- shipments --------------------------------------------------------------------------


def shipment_get(*, shop: Shop, shipment_id: int, lock: bool = False) -> Shipment:
    queryset = Shipment.objects.for_shop(shop)
    if lock:
        queryset = queryset.select_for_update()
    shipment = queryset.filter(pk=shipment_id).first()
    if shipment is None:
        raise NotFound("No such shipment.")
    return shipment


def _clean_lines(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if not lines:
        raise invalid_field("lines", "A shipment carries at least one line.", "required")
    if len(lines) > MAX_LINES:
        raise invalid_field("lines", f"At most {MAX_LINES} lines.", "too_many")
    cleaned = []
    seen = set()
    for index, line in enumerate(lines):
        line_id = str(line.get("order_line_id") or "").strip()
        quantity = line.get("quantity")
        if not line_id or len(line_id) > 64:
            raise invalid_field(("lines", index, "order_line_id"), "1 to 64 characters.")
        if line_id in seen:
            raise invalid_field(
                ("lines", index, "order_line_id"), "Each order line once.", "duplicate"
            )
        seen.add(line_id)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise invalid_field(("lines", index, "quantity"), "A whole number, at least 1.")
        cleaned.append({"order_line_id": line_id, "quantity": quantity})
    return cleaned


def _text(value: Any, field: str, max_length: int) -> str:
    text = str(value or "").strip()
    if len(text) > max_length:
        raise invalid_field(field, f"At most {max_length} characters.", "too_long")
    return text


def _carrier(value: Any) -> str:
    carrier = str(value or "").strip().lower().replace(" ", "_")
    if carrier and not _CARRIER_RE.fullmatch(carrier):
        raise invalid_field(
            "carrier", "A carrier code: letters, digits, _ and -, e.g. ups.", "invalid"
        )
    return carrier


def _url(value: Any) -> str:
    url = str(value or "").strip()
    if url and (not url.startswith("https://") or len(url) > 500 or any(c.isspace() for c in url)):
        raise invalid_field("tracking_url", "An https:// URL of at most 500 characters.")
    return url


def _location(shop: Shop, value: Any) -> StockLocation | None:
    if value is None:
        return None
    pk = pk_or_none(str(value))
    location = StockLocation.objects.for_shop(shop).filter(pk=pk).first() if pk else None
    if location is None:
        raise invalid_field("location_id", "No such stock location.", "not_found")
    if not location.can_ship and not location.can_pickup:
        raise invalid_field("location_id", "Orders are neither shipped nor collected here.")
    return location


def _method(shop: Shop, value: Any) -> ShippingMethod | None:
    if value is None:
        return None
    pk = pk_or_none(str(value))
    method = ShippingMethod.objects.for_shop(shop).filter(pk=pk).first() if pk else None
    if method is None:
        raise invalid_field("method_id", "No such shipping method.", "not_found")
    return method


def _changed(shipment: Shipment, event_type: str, **extra: Any) -> None:
    record_event(
        shop_id=shipment.shop_id,
        type=event_type,
        payload={
            "shipment_id": str(shipment.pk),
            "order_id": shipment.order_id,
            "status": shipment.status,
            "tracking_number": shipment.tracking_number,
            **extra,
        },
    )


def shipment_create(
    *,
    actor: Actor,
    shop: Shop,
    order_id: str,
    lines: Sequence[Mapping[str, Any]],
    location_id: Any = None,
    method_id: Any = None,
    carrier: str = "",
    service: str = "",
    tracking_number: str = "",
    tracking_url: str = "",
    label: LabelInput | None = None,
) -> Shipment:
    """
    Record a shipment of some of an order's lines. The tracking URL is built
    from the carrier's template unless given.
    """
    actor.require(Perm.ORDERS_MANAGE)
    order = _text(order_id, "order_id", 64)
    if not order:
        raise invalid_field("order_id", "This field is required.", "required")
    shipment = Shipment(
        shop=shop,
        order_id=order,
        lines=_clean_lines(lines),
        location=_location(shop, location_id),
        method=_method(shop, method_id),
        carrier=_carrier(carrier),
        service=_text(service, "service", 100),
        tracking_number=_text(tracking_number, "tracking_number", 100),
    )
    shipment.tracking_url = _url(tracking_url) or tracking_url_for(
        shop, shipment.carrier, shipment.tracking_number
    )
    with transaction.atomic():
        if label is not None:
            _store_label(shipment, label)
        shipment.save()
        audit.record(
            actor, "shipment.create", shipment,
            {"order_id": order, "carrier": shipment.carrier, "lines": shipment.lines},
            shop_id=shop.pk,
        )  # fmt: skip
        _changed(shipment, "shipment.created")
    return shipment


_UPDATE_FIELDS = (
    "lines", "location_id", "method_id", "carrier", "service", "tracking_number",
    "tracking_url", "label", "status",
)  # fmt: skip


def shipment_update(
    *, actor: Actor, shop: Shop, shipment_id: int, changes: Mapping[str, Any]
) -> Shipment:
    """
    Change a shipment; absent fields stay. ``status`` moves it forward like a
    tracking event happening now (a step back is a 409); its lines change
    only before it is in transit.
    """
    actor.require(Perm.ORDERS_MANAGE)
    unknown = sorted(set(changes) - set(_UPDATE_FIELDS))
    if unknown:
        raise TypeError(f"unknown shipment field(s): {unknown}")
    refuse_nulls(changes, ("lines", "carrier", "service", "tracking_number", "tracking_url"))
    with transaction.atomic():
        shipment = shipment_get(shop=shop, shipment_id=shipment_id, lock=True)
        if "lines" in changes:
            if STATUS_RANK[shipment.status] >= STATUS_RANK[ShipmentStatus.IN_TRANSIT]:
                raise Conflict("A shipment's lines cannot change once it is on its way.")
            shipment.lines = _clean_lines(changes["lines"])
        if "location_id" in changes:
            shipment.location = _location(shop, changes["location_id"])
        if "method_id" in changes:
            shipment.method = _method(shop, changes["method_id"])
        if "carrier" in changes:
            shipment.carrier = _carrier(changes["carrier"])
        if "service" in changes:
            shipment.service = _text(changes["service"], "service", 100)
        if "tracking_number" in changes:
            shipment.tracking_number = _text(changes["tracking_number"], "tracking_number", 100)
        if "tracking_url" in changes:
            shipment.tracking_url = _url(changes["tracking_url"])
        elif {"carrier", "tracking_number"} & set(changes):
            shipment.tracking_url = tracking_url_for(
                shop, shipment.carrier, shipment.tracking_number
            )
        new_status = changes.get("status")
        if new_status is not None and new_status != shipment.status:
            now = timezone.now()
            if not moves_forward(shipment.status, shipment.status_at, new_status, now):
                raise Conflict(
                    f"A shipment moves forward only: it is {shipment.status}, "
                    f"it cannot become {new_status}.",
                    code="status_regression",
                )
            _record(shipment, status=new_status, occurred_at=now, key=f"manual:{now.isoformat()}",
                    description="Set by staff", applied=True)  # fmt: skip
            shipment.status, shipment.status_at = new_status, now
        if changes.get("label") is not None:
            _store_label(shipment, changes["label"])
        shipment.save()
        audit.record(
            actor, "shipment.update", shipment,
            {k: v for k, v in changes.items() if k != "label"} | (
                {"label": "replaced"} if changes.get("label") is not None else {}
            ),
            shop_id=shop.pk,
        )  # fmt: skip
        _changed(shipment, "shipment.updated")
    return shipment


# -- tracking ---------------------------------------------------------------------------


def _record(
    shipment: Shipment,
    *,
    status: str,
    occurred_at: datetime,
    key: str,
    applied: bool,
    carrier_event_id: str = "",
    description: str = "",
    location: str = "",
) -> TrackingEvent:
    return TrackingEvent.objects.create(
        shop_id=shipment.shop_id,
        shipment=shipment,
        status=status,
        occurred_at=occurred_at,
        carrier_event_id=carrier_event_id,
        dedupe_key=key,
        description=description,
        location=location,
        applied=applied,
    )


def tracking_event_apply(
    *,
    actor: Actor,
    shop: Shop,
    shipment_id: int,
    status: str,
    occurred_at: datetime,
    carrier_event_id: str = "",
    description: str = "",
    location: str = "",
) -> tuple[TrackingEvent, bool]:
    """
    Apply a carrier's tracking event; return it and whether it was new.

    The same event (same ``carrier_event_id``, or without one the same status
    and time) applied again returns the stored one and changes nothing.
    """
    actor.require(Perm.ORDERS_MANAGE)
    if status not in STATUS_RANK:
        raise invalid_field("status", "Unknown status.", "invalid")
    if timezone.is_naive(occurred_at):
        raise invalid_field("occurred_at", "Give a time zone (e.g. 2025-01-01T10:00:00Z).")
    occurred = occurred_at.astimezone(UTC)
    event_id = _text(carrier_event_id, "carrier_event_id", 100)
    errors = []
    if len(description or "") > 500:
        errors.append(FieldError(("description",), "At most 500 characters.", "too_long"))
    if len(location or "") > 200:
        errors.append(FieldError(("location",), "At most 200 characters.", "too_long"))
    if errors:
        raise ValidationFailed(errors=errors)
    key = f"id:{event_id}" if event_id else f"at:{status}:{occurred.isoformat()}"
    with transaction.atomic():
        # The lock makes concurrent deliveries of one shipment's events queue:
        # the duplicate check and the status change see each other's writes.
        shipment = shipment_get(shop=shop, shipment_id=shipment_id, lock=True)
        existing = TrackingEvent.objects.filter(shipment=shipment, dedupe_key=key).first()
        if existing is not None:
            return existing, False
        advance = moves_forward(shipment.status, shipment.status_at, status, occurred)
        event = _record(
            shipment,
            status=status,
            occurred_at=occurred,
            key=key,
            applied=advance,
            carrier_event_id=event_id,
            description=(description or "").strip(),
            location=(location or "").strip(),
        )
        if advance:
            previous = shipment.status
            shipment.status, shipment.status_at = status, occurred
            shipment.save(update_fields=["status", "status_at", "updated_at"])
            _changed(shipment, "shipment.status_changed", previous_status=previous)
        else:
            Shipment.objects.filter(pk=shipment.pk).update(updated_at=timezone.now())
    return event, True
