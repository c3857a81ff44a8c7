"""
Admin API DTOs for the bulk upsert and for CSV imports and exports.

:class:`ProductItem` is also the contract of
:func:`merchantry.catalog.bulk.products_upsert`: the service validates each
item against it separately, so one malformed item is reported in its own
result instead of failing the whole batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic import Field as PydanticField

from merchantry.catalog.models import ProductStatus
from merchantry.catalog.models_io import TransferKind, TransferStatus
from merchantry.catalog.schemas import (
    Barcode,
    Description,
    Handle,
    OptionName,
    OptionValue,
    SeoDescription,
    SeoTitle,
    ShortText,
    Sku,
    Tag,
    Title,
)
from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.tenancy.schemas import JsonObject, StrictBool, Text

__all__ = [
    "MAX_BATCH",
    "BulkItemResultOut",
    "BulkUpsertIn",
    "BulkUpsertOut",
    "ExportIn",
    "OptionItem",
    "ProductItem",
    "TransferIssueOut",
    "TransferOut",
    "TransferSummaryOut",
    "VariantItem",
]

MAX_BATCH = 100
MAX_SIZE = 2_147_483_647  # a PositiveIntegerField on every database
CategoryPath = Text(1000, min_length=1)
IdText = Text(20, min_length=1)
Size = Annotated[int, PydanticField(ge=0, le=MAX_SIZE)]

_AMOUNT_HELP = (
    'A decimal string in the channel currency, e.g. "19.99" (JPY: "1500"); absent or null '
    "leaves the price as it is."
)


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OptionItem(_Item):
    name: OptionName
    values: list[OptionValue] = PydanticField(..., min_length=1, max_length=100)


class VariantItem(_Item):
    """A variant, matched by ``sku``, else by its option values."""

    sku: Sku | None = PydanticField(None, description="Unique in the shop; null for none.")
    title: Title | None = PydanticField(None, description='Default: the values, "S / Red".')
    option_values: dict[OptionName, OptionValue] = PydanticField(default_factory=dict)
    barcode: Barcode | None = None
    weight_grams: Size | None = None
    length_mm: Size | None = None
    width_mm: Size | None = None
    height_mm: Size | None = None
    track_inventory: StrictBool | None = None
    allow_backorder: StrictBool | None = None
    price: Any = PydanticField(None, description=_AMOUNT_HELP)
    compare_at_price: Any = PydanticField(None, description="As price; null removes it.")


class ProductItem(_Item):
    """
    A product, matched by ``handle``. Absent fields are left as they are (or
    take their defaults on a new product); ``variants``, when given, are the
    product's whole list: variants not in it are deleted.
    """

    handle: Handle
    title: Title | None = PydanticField(None, description="Required for a new product.")
    description: Description | None = PydanticField(None, description="HTML, sanitized.")
    product_type: ShortText | None = None
    vendor: ShortText | None = None
    tags: list[Tag] | None = PydanticField(None, max_length=50)
    status: ProductStatus | None = None
    seo_title: SeoTitle | None = None
    seo_description: SeoDescription | None = None
    metadata_public: JsonObject | None = None
    metadata_private: JsonObject | None = None
    categories: list[CategoryPath] | None = PydanticField(
        None, max_length=20, description='Category paths, "Apparel > Shirts"; made if missing.'
    )
    published: StrictBool | None = PydanticField(
        None, description="Published on the batch's channel (true), or taken off it (false)."
    )
    options: list[OptionItem] | None = PydanticField(
        None, max_length=5, description="Default: from the variants' option values, in order."
    )
    variants: list[VariantItem] | None = PydanticField(None, min_length=1, max_length=250)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Return ``schema`` with its local ``$ref``s replaced by the definitions."""
    definitions = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return walk(schema)


# Items are objects validated one by one by the service; the OpenAPI document
# still describes them in full.
BulkItem = Annotated[dict[str, Any], WithJsonSchema(_inline_refs(ProductItem.model_json_schema()))]


class BulkUpsertIn(InputSchema):
    channel_id: IdText | None = Field(
        None,
        description="The channel of the prices and of `published`. Default: the shop's "
        "first channel.",
    )
    items: list[BulkItem] = Field(..., min_length=1, max_length=MAX_BATCH)


class FieldErrorOut(Schema):
    loc: list[str | int]
    message: str
    code: str


class BulkItemResultOut(Schema):
    index: int
    handle: str | None
    status: Literal["created", "updated", "unchanged", "error"]
    product_id: str | None
    errors: list[FieldErrorOut]


class BulkUpsertOut(Schema):
    channel_id: str | None
    created: int
    updated: int
    unchanged: int
    failed: int
    results: list[BulkItemResultOut]


# -- imports and exports ---------------------------------------------------------------


class ExportIn(InputSchema):
    status: ProductStatus | None = Field(None, description="Only products in this status.")
    channel_id: IdText | None = Field(
        None, description="The channel whose prices and publication go in the file."
    )


class TransferIssueOut(Schema):
    row: int | None = Field(None, description="The file's row; the header is row 1.")
    column: str
    message: str
    code: str
    level: Literal["error", "warning"]
    handle: str | None = None


class TransferSummaryOut(ObjectOut):
    kind: TransferKind
    status: TransferStatus
    channel_id: str | None
    file_name: str
    rows_total: int
    rows_done: int
    counts: dict[str, int]
    errors_total: int
    warnings_total: int
    failure: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    download_url: str | None

    @staticmethod
    def resolve_channel_id(obj: Any) -> str | None:
        return None if obj.channel_id is None else str(obj.channel_id)

    @staticmethod
    def resolve_download_url(obj: Any) -> str | None:
        if obj.kind != TransferKind.EXPORT or obj.status != TransferStatus.DONE:
            return None
        return f"/api/v1/admin/product-exports/{obj.pk}/file"


class TransferOut(TransferSummaryOut):
    issues: list[TransferIssueOut] = Field(
        ..., description="Row errors and warnings, the first 1000 (the totals count all)."
    )
    filters: dict[str, Any]
