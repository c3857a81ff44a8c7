"""Admin API DTOs for zones, methods and shipments; Store API DTOs for shipping quotes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import NonNegativeInt

from merchantry.catalog.schemas import IsoDatetime, MoneyOut
from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.shipping.models import ShipmentStatus
from merchantry.shipping.rates import MAX_TIERS, RateType
from merchantry.shipping.shipments import LABEL_MAX_BYTES
from merchantry.tenancy.schemas import StrictBool, Text

__all__ = [
    "MethodCreate",
    "MethodOut",
    "MethodPatch",
    "QuoteIn",
    "QuoteOut",
    "ShipmentCreate",
    "ShipmentOut",
    "ShipmentPatch",
    "TrackingEventIn",
    "TrackingEventOut",
    "TrackingEventResult",
    "ZoneCreate",
    "ZoneOut",
    "ZonePatch",
]

Name = Text(120, min_length=1)
CountryCode = Text(2, min_length=2)
SubdivisionCode = Text(10, min_length=4)
PostalPattern = Text(40, min_length=1)
IdText = Text(20, min_length=1)
Amount = Text(32, min_length=1)
CurrencyCode = Text(3, min_length=3)
Word = Text(120, min_length=1)
TagText = Text(60, min_length=1)

_AMOUNT_HELP = 'A decimal string in the currency, e.g. "4.99" (JPY: "500", BHD: "1.250").'
_CHANNELS_HELP = "Channels (ids) that use the zone."


def _ids(values: Any) -> list[str]:
    return [str(v.pk) for v in values.all()]


# -- zones ------------------------------------------------------------------------------


class ZoneCreate(InputSchema):
    name: Name
    countries: list[CountryCode] = Field(
        ..., min_length=1, max_length=250, description="ISO 3166-1 alpha-2 codes, e.g. US."
    )
    subdivisions: list[SubdivisionCode] = Field(
        default_factory=list,
        max_length=500,
        description="ISO 3166-2 codes (US-CA); a country with some listed is limited to them.",
    )
    postal_codes: list[PostalPattern] = Field(
        default_factory=list,
        max_length=500,
        description="Exact codes (10001), wildcards (SW1*, 750??) or ranges (10000..14999).",
    )
    channel_ids: list[IdText] = Field(
        default_factory=list, max_length=50, description=_CHANNELS_HELP
    )


class ZonePatch(InputSchema):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    name: Name = Field(None)
    countries: list[CountryCode] = Field(None, min_length=1, max_length=250)
    subdivisions: list[SubdivisionCode] = Field(None, max_length=500)
    postal_codes: list[PostalPattern] = Field(None, max_length=500)
    channel_ids: list[IdText] = Field(None, max_length=50, description=_CHANNELS_HELP)


class ZoneOut(ObjectOut):
    name: str
    countries: list[str]
    subdivisions: list[str]
    postal_codes: list[str]
    channel_ids: list[str]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_channel_ids(obj: Any) -> list[str]:
        return _ids(obj.channels)


# -- methods ----------------------------------------------------------------------------


class WeightTierIn(InputSchema):
    min_grams: int = Field(..., description="From this weight, included.")
    max_grams: int | None = Field(None, description="Up to this weight, excluded; null: no end.")
    amount: Amount = Field(..., description=_AMOUNT_HELP)


class SubtotalTierIn(InputSchema):
    min: Amount = Field(..., description="From this subtotal, included.")
    max: Amount | None = Field(None, description="Up to this subtotal, excluded; null: no end.")
    amount: Amount = Field(..., description=_AMOUNT_HELP)


class RateIn(InputSchema):
    """A rule's entry for one currency: the fields its rate type uses."""

    currency: CurrencyCode
    amount: Amount | None = Field(None, description="flat, free_over: " + _AMOUNT_HELP)
    free_over: Amount | None = Field(None, description="free_over: free from this subtotal.")
    weight_tiers: list[WeightTierIn] | None = Field(None, max_length=MAX_TIERS)
    subtotal_tiers: list[SubtotalTierIn] | None = Field(None, max_length=MAX_TIERS)


class _MethodFields(InputSchema):
    description: Text(500) = Field(None)
    is_active: StrictBool = Field(None)
    position: NonNegativeInt = Field(None, le=32767)
    min_days: NonNegativeInt | None = Field(None, le=365, description="Delivery estimate.")
    max_days: NonNegativeInt | None = Field(None, le=365)
    channel_ids: list[IdText] = Field(
        None, max_length=50, description="Empty: every channel that uses the zone."
    )
    rate_type: RateType = Field(None)
    rates: list[RateIn] = Field(None, max_length=20, description="One entry per currency.")
    carrier_plugin: Text(50) = Field(
        None, description="carrier: the plugin that prices it; empty: every enabled one."
    )
    carrier_service: Text(100) = Field(
        None, description="carrier: only the provider's options with this service code."
    )
    origin_id: IdText | None = Field(None, description="carrier: the stock location shipped from.")
    max_weight_grams: NonNegativeInt | None = Field(None)
    excluded_product_types: list[Word] = Field(None, max_length=50)
    excluded_tags: list[TagText] = Field(None, max_length=50)
    pickup_only: StrictBool = Field(None)
    pickup_location_ids: list[IdText] = Field(None, max_length=50)


class MethodCreate(_MethodFields):
    name: Name
    rate_type: RateType = Field(RateType.FLAT)


class MethodPatch(_MethodFields):
    """Fields to change; absent fields stay as they are."""

    name: Name = Field(None)


class MethodOut(ObjectOut):
    zone_id: str
    name: str
    description: str
    is_active: bool
    position: int
    min_days: int | None
    max_days: int | None
    channel_ids: list[str]
    rate_type: RateType
    rates: list[dict[str, Any]]
    carrier_plugin: str
    carrier_service: str
    origin_id: str | None
    max_weight_grams: int | None
    excluded_product_types: list[str]
    excluded_tags: list[str]
    pickup_only: bool
    pickup_location_ids: list[str]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_zone_id(obj: Any) -> str:
        return str(obj.zone_id)

    @staticmethod
    def resolve_origin_id(obj: Any) -> str | None:
        return str(obj.origin_id) if obj.origin_id else None

    @staticmethod
    def resolve_channel_ids(obj: Any) -> list[str]:
        return _ids(obj.channels)

    @staticmethod
    def resolve_pickup_location_ids(obj: Any) -> list[str]:
        return _ids(obj.pickup_locations)


# -- shipments --------------------------------------------------------------------------


class ShipmentLineIn(InputSchema):
    order_line_id: Text(64, min_length=1)
    quantity: int = Field(..., ge=1, le=1_000_000)


class LabelIn(InputSchema):
    format: Literal["pdf", "png", "zpl"]
    data_base64: str = Field(
        ..., min_length=4, max_length=(LABEL_MAX_BYTES * 4) // 3 + 4, description="The file."
    )


class _ShipmentFields(InputSchema):
    location_id: IdText | None = Field(None, description="The stock location it leaves from.")
    method_id: IdText | None = Field(None, description="The shipping method used.")
    carrier: Text(50) = Field(None, description="Carrier code, e.g. ups, usps, dhl.")
    service: Text(100) = Field(None)
    tracking_number: Text(100) = Field(None)
    tracking_url: Text(500) = Field(
        None, description="https://...; built from the carrier's template when not given."
    )
    label: LabelIn | None = Field(None, description="The shipping label (pdf, png or zpl).")


class ShipmentCreate(_ShipmentFields):
    order_id: Text(64, min_length=1)
    lines: list[ShipmentLineIn] = Field(..., min_length=1, max_length=500)


class ShipmentPatch(_ShipmentFields):
    """Fields to change; absent fields stay. ``status`` only moves forward."""

    lines: list[ShipmentLineIn] = Field(None, min_length=1, max_length=500)
    status: ShipmentStatus = Field(None)


class TrackingEventIn(InputSchema):
    status: ShipmentStatus
    occurred_at: IsoDatetime = Field(..., description="ISO 8601 with a time zone.")
    carrier_event_id: Text(100) = Field(
        "", description="The carrier's id of the event; the same id is applied once."
    )
    description: Text(500) = Field("")
    location: Text(200) = Field("")


class TrackingEventOut(ObjectOut):
    status: ShipmentStatus
    occurred_at: datetime
    carrier_event_id: str
    description: str
    location: str
    applied: bool


class ShipmentOut(ObjectOut):
    order_id: str
    lines: list[dict[str, Any]]
    location_id: str | None
    method_id: str | None
    carrier: str
    service: str
    tracking_number: str
    tracking_url: str
    label_url: str | None
    status: ShipmentStatus
    status_at: datetime | None
    events: list[TrackingEventOut]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_location_id(obj: Any) -> str | None:
        return str(obj.location_id) if obj.location_id else None

    @staticmethod
    def resolve_method_id(obj: Any) -> str | None:
        return str(obj.method_id) if obj.method_id else None

    @staticmethod
    def resolve_label_url(obj: Any) -> str | None:
        return obj.label.url if obj.label else None

    @staticmethod
    def resolve_events(obj: Any) -> list[Any]:
        return list(obj.events.all())


class TrackingEventResult(Schema):
    created: bool = Field(..., description="False: this event was known; nothing changed.")
    event: TrackingEventOut
    shipment: ShipmentOut


# -- store: quotes ----------------------------------------------------------------------


class AddressIn(InputSchema):
    country: CountryCode = Field(..., description="ISO 3166-1 alpha-2, e.g. US.")
    region: Text(10) = Field("", description="ISO 3166-2 subdivision, e.g. US-CA (or CA).")
    postal_code: Text(20) = Field("")
    city: Text(100) = Field("")
    line1: Text(200) = Field("")
    line2: Text(200) = Field("")


class QuoteLineIn(InputSchema):
    variant_id: IdText
    quantity: int = Field(..., ge=1, le=10_000)


class QuoteIn(InputSchema):
    address: AddressIn
    lines: list[QuoteLineIn] = Field(..., min_length=1, max_length=250)
    discounted_subtotal: Amount | None = Field(
        None, description="The subtotal after discounts, when there are any. " + _AMOUNT_HELP
    )


class ZoneRef(Schema):
    id: str
    name: str

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.pk)


class PickupLocationOut(ObjectOut):
    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    country: str
    subdivision: str


class AvailableMethodOut(Schema):
    id: str = Field(..., description="Names this choice in a checkout.")
    method_id: str
    name: str
    description: str
    price: MoneyOut
    min_days: int | None
    max_days: int | None
    carrier: str
    service: str
    pickup: bool
    pickup_locations: list[PickupLocationOut]

    @staticmethod
    def resolve_method_id(obj: Any) -> str:
        return str(obj.method_id)

    @staticmethod
    def resolve_price(obj: Any) -> dict[str, str]:
        return obj.price.as_json()

    @staticmethod
    def resolve_pickup_locations(obj: Any) -> list[Any]:
        return list(obj.pickup_locations)


class UnavailableOut(Schema):
    method_id: str
    name: str
    code: str
    message: str

    @staticmethod
    def resolve_method_id(obj: Any) -> str:
        return str(obj.method_id)


class ReasonOut(Schema):
    code: str
    message: str


class QuoteOut(Schema):
    currency: str
    zone: ZoneRef | None
    weight_grams: int
    subtotal: MoneyOut
    methods: list[AvailableMethodOut]
    unavailable: list[UnavailableOut] = Field(..., description="Methods of the zone left out.")
    reasons: list[ReasonOut] = Field(..., description="Why no method can ship, when none can.")

    @staticmethod
    def resolve_subtotal(obj: Any) -> dict[str, str]:
        return obj.subtotal.as_json()
