"""
The values providers and hooks exchange: addresses, parcels, checkouts and
the records of catalog sources and sales channels.

Frozen dataclasses that validate themselves; money is always
:class:`~merchantry.core.money.Money`. Import them from
:mod:`merchantry.plugins.providers`, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from merchantry.core.money import Money
from merchantry.core.validators import is_country

__all__ = [
    "Address",
    "CheckoutLine",
    "CheckoutProblem",
    "CheckoutSnapshot",
    "CheckoutTotals",
    "CustomerRecord",
    "InventoryRecord",
    "OrderLineRecord",
    "OrderRecord",
    "Parcel",
    "ProductRecord",
    "RecordBatch",
    "VariantRecord",
    "same_currency",
]

T = TypeVar("T")

# -- shared values --------------------------------------------------------------------


def same_currency(currency: str, *amounts: Money | None) -> None:
    """Raise ValueError unless every given amount is in ``currency``."""
    for amount in amounts:
        if amount is not None and amount.currency != currency:
            raise ValueError(f"expected amounts in {currency}, got {amount.currency}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """A postal address; ``country`` is ISO 3166-1 alpha-2, ``region`` a subdivision code."""

    country: str
    postal_code: str = ""
    region: str = ""
    city: str = ""
    line1: str = ""
    line2: str = ""
    name: str = ""
    company: str = ""
    phone: str = ""

    def __post_init__(self) -> None:
        if not is_country(self.country):
            raise ValueError(f"country must be an upper-case ISO 3166-1 code, not {self.country!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Parcel:
    """One box to ship: weight in grams, dimensions in millimetres (0 when unknown)."""

    weight_grams: int
    length_mm: int = 0
    width_mm: int = 0
    height_mm: int = 0

    def __post_init__(self) -> None:
        if self.weight_grams <= 0:
            raise ValueError("a parcel weighs more than 0 grams")
        if min(self.length_mm, self.width_mm, self.height_mm) < 0:
            raise ValueError("parcel dimensions are not negative")


# -- checkouts (what payment, tax and the checkout hooks see) -------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutLine:
    """One line of a checkout: ``total`` is ``unit_price * quantity`` after line discounts."""

    id: str
    sku: str
    name: str
    quantity: int
    unit_price: Money
    total: Money
    tax_code: str = ""
    weight_grams: int = 0

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError("a checkout line has a quantity above 0")
        same_currency(self.unit_price.currency, self.total)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutTotals:
    """A checkout's totals, all in one currency and none negative."""

    subtotal: Money
    discount: Money
    shipping: Money
    tax: Money
    total: Money

    def __post_init__(self) -> None:
        same_currency(self.currency, self.discount, self.shipping, self.tax, self.total)
        for name in ("subtotal", "discount", "shipping", "tax", "total"):
            if getattr(self, name).amount < 0:
                raise ValueError(f"checkout {name} is not negative")

    @property
    def currency(self) -> str:
        return self.subtotal.currency


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutSnapshot:
    """What a plugin may know about a checkout: a read-only copy taken by the platform."""

    id: str
    shop_id: Any
    currency: str
    lines: tuple[CheckoutLine, ...]
    totals: CheckoutTotals
    email: str = ""
    channel_id: Any = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        same_currency(self.currency, self.totals.total, *(line.total for line in self.lines))


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutProblem:
    """Why a checkout may not be completed (``merchantry_validate_checkout``)."""

    code: str
    message: str
    plugin_id: str = ""
    """Filled in by the platform with the id of the plugin that raised the problem."""


# -- records of catalog sources and sales channels ------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantRecord:
    """One variant of an external product; ``sku`` links it to stock."""

    external_id: str
    sku: str
    title: str = ""
    price: Money | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    barcode: str = ""
    weight_grams: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductRecord:
    """A product of an external system, with its variants."""

    external_id: str
    title: str
    description: str = ""
    status: str = "active"
    variants: tuple[VariantRecord, ...] = ()
    image_urls: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryRecord:
    """A stock level: ``quantity`` available of ``sku`` at a location."""

    sku: str
    quantity: int
    location_external_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerRecord:
    """A customer of an external system."""

    external_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    accepts_marketing: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLineRecord:
    """One line of an external order."""

    sku: str
    quantity: int
    unit_price: Money
    name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRecord:
    """An order placed in an external system, in one currency."""

    external_id: str
    number: str
    currency: str
    lines: tuple[OrderLineRecord, ...]
    total: Money
    placed_at: datetime
    customer_email: str = ""
    status: str = ""
    shipping_address: Address | None = None

    def __post_init__(self) -> None:
        same_currency(self.currency, self.total, *(line.unit_price for line in self.lines))


@dataclass(frozen=True, slots=True)
class RecordBatch(Generic[T]):
    """
    Some records and the cursor after them: store ``cursor`` once the batch is
    processed, and pass it back to resume after it.
    """

    records: tuple[T, ...]
    cursor: str
