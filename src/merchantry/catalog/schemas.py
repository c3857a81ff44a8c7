"""Admin and Store API DTOs for products, options, variants, listings and prices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import BeforeValidator, NonNegativeInt

from merchantry.catalog.models import ProductStatus
from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.tenancy.schemas import JsonObject, StrictBool, Text

__all__ = [
    "ListingIn",
    "ListingOut",
    "MoneyOut",
    "OptionOut",
    "OptionsIn",
    "PriceIn",
    "PriceOut",
    "ProductCreate",
    "ProductDetailOut",
    "ProductOut",
    "ProductPatch",
    "StoreProductDetailOut",
    "StoreProductOut",
    "UnpublishIn",
    "VariantCreate",
    "VariantOut",
    "VariantPatch",
]

Title = Text(255, min_length=1)
Handle = Text(255, min_length=1, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
Description = Text(100_000)
ShortText = Text(120)
Tag = Text(60, min_length=1, pattern=r"^[^|]+$")
SeoTitle = Text(255)
SeoDescription = Text(500)
OptionName = Text(60, min_length=1)
OptionValue = Text(120, min_length=1)
Sku = Text(64)
Barcode = Text(32, pattern=r"^[0-9A-Za-z-]*$")
Amount = Text(32, min_length=1)
IdText = Text(20, min_length=1)
Size = NonNegativeInt


def _iso_text(value: Any) -> Any:
    # Pydantic would read a number as a Unix timestamp; the API speaks ISO 8601.
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text)]

_AMOUNT_HELP = 'A decimal string in the channel currency, e.g. "19.99" (JPY: "1500").'


class MoneyOut(Schema):
    amount: str
    currency: str


# -- admin: products -----------------------------------------------------------------


class _ProductFields(InputSchema):
    description: Description = Field(None, description="HTML; sanitized to an allow-list.")
    product_type: ShortText = Field(None)
    vendor: ShortText = Field(None)
    tags: list[Tag] = Field(None, max_length=50)
    status: ProductStatus = Field(None)
    seo_title: SeoTitle = Field(None)
    seo_description: SeoDescription = Field(None)
    metadata_public: JsonObject = Field(None)
    metadata_private: JsonObject = Field(None)
    attributes: JsonObject = Field(
        None, description="Values of the shop's attributes by slug; null removes one."
    )


class ProductCreate(_ProductFields):
    title: Title
    handle: Handle = Field(None, description="Made from the title when absent.")


class ProductPatch(_ProductFields):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    title: Title = Field(None)
    handle: Handle = Field(None, description="Frozen once the product was published.")


class ProductOut(ObjectOut):
    title: str
    handle: str
    status: ProductStatus
    product_type: str
    vendor: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class OptionOut(ObjectOut):
    name: str
    position: int
    values: list[str]

    @staticmethod
    def resolve_values(obj: Any) -> list[str]:
        return [v.value for v in obj.values.all()]


class PriceOut(Schema):
    channel_id: str
    price: MoneyOut
    compare_at_price: MoneyOut | None

    @staticmethod
    def resolve_channel_id(obj: Any) -> str:
        return str(obj.channel_id)

    @staticmethod
    def resolve_price(obj: Any) -> dict[str, str]:
        return _money(obj.price, obj.currency)

    @staticmethod
    def resolve_compare_at_price(obj: Any) -> dict[str, str] | None:
        return None if obj.compare_at_price is None else _money(obj.compare_at_price, obj.currency)


def _money(amount: Any, currency: str) -> dict[str, str]:
    from merchantry.core.money import Money

    return Money.rounded(amount, currency).as_json()


class VariantOut(ObjectOut):
    product_id: str
    title: str
    sku: str | None
    barcode: str
    option_values: dict[str, str]
    weight_grams: int | None
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    track_inventory: bool
    allow_backorder: bool
    position: int
    prices: list[PriceOut]

    @staticmethod
    def resolve_product_id(obj: Any) -> str:
        return str(obj.product_id)

    @staticmethod
    def resolve_prices(obj: Any) -> list[Any]:
        return list(obj.prices.all())


class ListingOut(Schema):
    channel_id: str
    is_published: bool
    published_at: datetime | None

    @staticmethod
    def resolve_channel_id(obj: Any) -> str:
        return str(obj.channel_id)


class ProductDetailOut(ProductOut):
    description: str
    seo_title: str
    seo_description: str
    metadata_public: dict[str, Any]
    metadata_private: dict[str, Any]
    attributes: dict[str, Any]
    options: list[OptionOut]
    variants: list[VariantOut]
    channel_listings: list[ListingOut]

    @staticmethod
    def resolve_options(obj: Any) -> list[Any]:
        return list(obj.options.all())

    @staticmethod
    def resolve_variants(obj: Any) -> list[Any]:
        return list(obj.variants.all())

    @staticmethod
    def resolve_channel_listings(obj: Any) -> list[Any]:
        return list(obj.channel_listings.all())


# -- admin: attributes -------------------------------------------------------------

AttributeKind = Literal["text", "number", "boolean", "choice"]


class AttributeCreate(InputSchema):
    name: Text(100, min_length=1)  # type: ignore[valid-type]
    slug: Text(60) = Field(None, description="Made from the name when absent.")  # type: ignore[valid-type]
    type: AttributeKind = "text"
    choices: list[Text(120, min_length=1)] = Field(None, max_length=200)  # type: ignore[valid-type]
    is_facet: StrictBool = Field(None, description="Offered as a Store API filter.")
    position: Size = Field(None)


class AttributePatch(InputSchema):
    name: Text(100, min_length=1) = Field(None)  # type: ignore[valid-type]
    choices: list[Text(120, min_length=1)] = Field(None, max_length=200)  # type: ignore[valid-type]
    is_facet: StrictBool = Field(None)
    position: Size = Field(None)


class AttributeOut(ObjectOut):
    name: str
    slug: str
    type: str
    choices: list[str]
    is_facet: bool
    position: int


# -- admin: options, variants, listings, prices -----------------------------------


class OptionIn(InputSchema):
    name: OptionName
    values: list[OptionValue] = Field(..., min_length=1, max_length=100)


class OptionsIn(InputSchema):
    options: list[OptionIn] = Field(..., max_length=5)


class _VariantFields(InputSchema):
    title: Title = Field(None)
    sku: Sku = Field(None, description="Unique in the shop; empty for none.")
    barcode: Barcode = Field(None, description="GTIN, UPC or EAN.")
    weight_grams: Size = Field(None)
    length_mm: Size = Field(None)
    width_mm: Size = Field(None)
    height_mm: Size = Field(None)
    track_inventory: StrictBool = Field(None)
    allow_backorder: StrictBool = Field(None)
    position: Size = Field(None)


class VariantCreate(_VariantFields):
    option_values: dict[OptionName, OptionValue] = Field(
        default_factory=dict, description='One value per option, e.g. {"Size": "M"}.'
    )


class VariantPatch(_VariantFields):
    """Fields to change; absent fields stay as they are (null is not allowed)."""


class ListingIn(InputSchema):
    channel_id: IdText
    published_at: IsoDatetime | None = Field(
        None, description="Visible from then on; null or absent: now."
    )


class UnpublishIn(InputSchema):
    channel_id: IdText


class PriceIn(InputSchema):
    channel_id: IdText
    price: Amount = Field(..., description=_AMOUNT_HELP)
    compare_at_price: Amount | None = Field(None, description=_AMOUNT_HELP)


# -- store -----------------------------------------------------------------------


# The Store API renders these shapes itself (catalog.store), for speed; the
# schemas document them in the OpenAPI description.


class StoreVariantOut(Schema):
    id: str
    title: str
    sku: str | None
    option_values: dict[str, str]
    price: MoneyOut | None
    compare_at_price: MoneyOut | None


class StoreProductOut(Schema):
    id: str
    handle: str
    title: str
    product_type: str
    vendor: str
    tags: list[str]
    thumbnail_url: str | None
    min_price: MoneyOut
    max_price: MoneyOut
    in_stock: bool
    variants: list[StoreVariantOut]


class StoreOptionOut(Schema):
    name: str
    values: list[str]


class StoreMediaOut(Schema):
    id: str
    alt: str
    width: int
    height: int
    thumbnail_url: str | None
    variant_ids: list[str]


class StoreCategoryRef(Schema):
    handle: str
    name: str


class StoreProductDetailOut(StoreProductOut):
    description: str
    seo_title: str
    seo_description: str
    metadata_public: dict[str, Any]
    attributes: dict[str, Any]
    options: list[StoreOptionOut]
    media: list[StoreMediaOut]
    categories: list[StoreCategoryRef]


class FacetCount(Schema):
    value: str
    count: int


class CategoryFacet(Schema):
    handle: str
    name: str
    count: int


class OptionFacet(Schema):
    name: str
    values: list[FacetCount]


class PriceSpan(Schema):
    min: MoneyOut | None
    max: MoneyOut | None


class AttributeFacetCount(Schema):
    value: str | bool
    count: int


class AttributeFacet(Schema):
    slug: str
    name: str
    type: str
    values: list[AttributeFacetCount]


class StoreFacetsOut(Schema):
    total: int
    price: PriceSpan
    in_stock: dict[str, int]
    categories: list[CategoryFacet]
    vendors: list[FacetCount]
    product_types: list[FacetCount]
    options: list[OptionFacet]
    attributes: list[AttributeFacet]
