"""Admin and Store API DTOs for locations, channel stock settings, levels and the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import StrictInt

from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.inventory.models import MAX_QUANTITY, AllocationStrategy, MovementReason
from merchantry.tenancy.schemas import StrictBool, Text

__all__ = [
    "AdjustIn",
    "AvailabilityOut",
    "BulkSetIn",
    "BulkSetOut",
    "ChannelStockIn",
    "ChannelStockOut",
    "LevelOut",
    "LevelSettingsIn",
    "LocationCreate",
    "LocationOut",
    "LocationPatch",
    "MovementOut",
    "SetIn",
    "TransferIn",
    "TransferOut",
]

Name = Text(120, min_length=1)
Handle = Text(60, min_length=1, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
Line = Text(200)
City = Text(100)
PostalCode = Text(20)
Country = Text(2, min_length=2, pattern=r"^[A-Za-z]{2}$")
Subdivision = Text(10)
Phone = Text(32)
IdText = Text(20, min_length=1)
Reference = Text(255)
Note = Text(500)
Sku = Text(64, min_length=1)
Quantity = Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY)]
Delta = Annotated[StrictInt, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]

_REFERENCE_HELP = "What this is for, e.g. a purchase order or an import; stored in the ledger."


# -- locations -------------------------------------------------------------------------


class _LocationFields(InputSchema):
    is_active: StrictBool = Field(None)
    can_ship: StrictBool = Field(None, description="Orders can be shipped from here.")
    can_pickup: StrictBool = Field(None, description="Shoppers can collect here.")
    line1: Line = Field(None)
    line2: Line = Field(None)
    city: City = Field(None)
    postal_code: PostalCode = Field(None)
    country: Country = Field(None, description="ISO 3166-1 alpha-2; the shop's when absent.")
    subdivision: Subdivision = Field(None)
    phone: Phone = Field(None)


class LocationCreate(_LocationFields):
    name: Name
    handle: Handle = Field(None, description="Made from the name when absent.")


class LocationPatch(_LocationFields):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    name: Name = Field(None)
    handle: Handle = Field(None)


class LocationOut(ObjectOut):
    name: str
    handle: str
    is_active: bool
    can_ship: bool
    can_pickup: bool
    line1: str
    line2: str
    city: str
    postal_code: str
    country: str
    subdivision: str
    phone: str
    created_at: datetime
    updated_at: datetime


# -- channels ---------------------------------------------------------------------------


class ChannelStockIn(InputSchema):
    location_ids: list[IdText] = Field(
        ..., max_length=50, description="The locations the channel sells from, first first."
    )
    allocation_strategy: AllocationStrategy = Field(
        None, description="priority (the list's order) or most_stock."
    )
    show_quantity: StrictBool = Field(None, description="Show shoppers the quantity available.")
    reservation_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = Field(
        None, description="How long a checkout holds its stock (1-1440)."
    )


class ChannelStockOut(Schema):
    channel_id: str
    allocation_strategy: AllocationStrategy
    show_quantity: bool
    reservation_minutes: int
    locations: list[LocationOut]


# -- levels -------------------------------------------------------------------------------


class LevelOut(ObjectOut):
    variant_id: str
    sku: str | None
    location_id: str
    on_hand: int
    reserved: int
    allocated: int
    available: int = Field(..., description="on_hand - reserved - allocated; below 0 on backorder.")
    backorder_limit: int | None
    low_stock_threshold: int | None
    low_stock: bool
    updated_at: datetime

    @staticmethod
    def resolve_variant_id(obj: Any) -> str | None:
        return None if obj.variant_id is None else str(obj.variant_id)

    @staticmethod
    def resolve_location_id(obj: Any) -> str:
        return str(obj.location_id)

    @staticmethod
    def resolve_sku(obj: Any) -> str | None:
        return obj.variant.sku

    @staticmethod
    def resolve_low_stock(obj: Any) -> bool:
        threshold = obj.low_stock_threshold
        return threshold is not None and obj.available <= threshold


class LevelSettingsIn(InputSchema):
    low_stock_threshold: Count | None = Field(
        None, description="Raise inventory.low_stock when available falls to this; null: never."
    )
    backorder_limit: Count | None = Field(
        None,
        description="When the variant allows backorder: units this location may promise "
        "beyond its stock; null: no limit.",
    )


class AdjustIn(InputSchema):
    delta: Delta = Field(..., description="Units to add (positive) or remove (negative).")
    reason: Literal["adjust", "receive"] = Field("adjust", description="receive: a delivery.")
    reference: Reference = Field("", description=_REFERENCE_HELP)
    note: Note = Field("", description="Why, for people reading the ledger.")


class SetIn(InputSchema):
    on_hand: Count = Field(..., description="The number counted.")
    reference: Reference = Field("", description=_REFERENCE_HELP)
    note: Note = Field("")


class TransferIn(InputSchema):
    to_location_id: IdText
    quantity: Quantity
    reference: Reference = Field("", description=_REFERENCE_HELP)
    note: Note = Field("")


class TransferOut(Schema):
    source: LevelOut
    destination: LevelOut


class BulkItem(InputSchema):
    sku: Sku
    on_hand: Count


class BulkSetIn(InputSchema):
    items: list[BulkItem] = Field(..., min_length=1, max_length=1000)
    reference: Reference = Field("", description=_REFERENCE_HELP)
    note: Note = Field("")


class BulkSetOut(Schema):
    items: list[LevelOut]


class MovementOut(ObjectOut):
    variant_id: str | None = Field(description="None once the variant was deleted.")
    sku: str | None = Field(description="The variant's SKU when the row was written.")
    location_id: str
    on_hand_delta: int
    reserved_delta: int
    allocated_delta: int
    reason: MovementReason
    actor: str
    reference: str
    note: str
    created_at: datetime

    @staticmethod
    def resolve_variant_id(obj: Any) -> str | None:
        return None if obj.variant_id is None else str(obj.variant_id)

    @staticmethod
    def resolve_location_id(obj: Any) -> str:
        return str(obj.location_id)


# -- store ------------------------------------------------------------------------------


class AvailabilityOut(ObjectOut):
    """A variant's availability on the key's channel; ``id`` is the variant's."""

    product_id: str
    sku: str | None
    status: Literal["in_stock", "low_stock", "out_of_stock", "backorder"]
    quantity: int | None = Field(
        ..., description="Units available, when the shop shows them; else null."
    )

    @staticmethod
    def resolve_product_id(obj: Any) -> str:
        return str(obj.product_id)
