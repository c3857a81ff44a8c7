"""
The provider interfaces a plugin can implement, and the values they exchange.

Each interface is a :class:`typing.Protocol` (``runtime_checkable``, so the
platform can check what :meth:`Plugin.provider` returns); the values are small
frozen dataclasses that validate themselves. Money is :class:`Money`: a
``Decimal`` amount with its currency, exact at the currency's minor unit,
never a float. Every method takes keyword arguments only.

A provider raises :class:`ProviderUnavailable` for failures worth retrying
(timeouts, 5xx, rate limits) and :class:`ProviderRejected` for answers that
will not change on retry (declined, amount too large, unknown reference)::

    ProviderError
     ├── ProviderUnavailable   retryable
     └── ProviderRejected      terminal

``merchantry.testing`` has a conformance check per interface; run it against
your provider in your tests. The contract each check enforces is written on
the interface below. The shared values (addresses, checkouts, catalog
records) live in :mod:`merchantry.plugins.values` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from merchantry.core.money import Money
from merchantry.plugins.spec import ProviderKind, VerifiedWebhook
from merchantry.plugins.values import (
    Address,
    CheckoutLine,
    CheckoutProblem,
    CheckoutSnapshot,
    CheckoutTotals,
    CustomerRecord,
    InventoryRecord,
    OrderLineRecord,
    OrderRecord,
    Parcel,
    ProductRecord,
    RecordBatch,
    VariantRecord,
    same_currency,
)

__all__ = [
    "PROVIDER_INTERFACES",
    "SHIPPING_LINE_ID",
    "Address",
    "CatalogSource",
    "CheckoutLine",
    "CheckoutProblem",
    "CheckoutSnapshot",
    "CheckoutTotals",
    "CustomerRecord",
    "FulfillmentLine",
    "FulfillmentProvider",
    "FulfillmentResult",
    "FulfillmentStatus",
    "InventoryRecord",
    "Label",
    "Money",
    "OrderLineRecord",
    "OrderRecord",
    "PageContent",
    "PageContentProvider",
    "Parcel",
    "PaymentEvent",
    "PaymentEventKind",
    "PaymentProvider",
    "PaymentSession",
    "PaymentState",
    "PaymentStatus",
    "ProductRecord",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnavailable",
    "PushRejection",
    "PushResult",
    "RateOption",
    "RecordBatch",
    "SalesChannelConnector",
    "ShipmentRequest",
    "ShippingRateProvider",
    "TaxLine",
    "TaxProvider",
    "TaxRequest",
    "TaxableLine",
    "TrackingStatus",
    "TrackingUpdate",
    "VariantRecord",
]

# -- errors ---------------------------------------------------------------------------


class ProviderError(Exception):
    """A provider call failed; ``code`` is the provider's own error code, if any."""

    retryable = False

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ProviderUnavailable(ProviderError):
    """The provider could not answer now (timeout, 5xx, rate limit); try again later."""

    retryable = True

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    """The provider refused the request; retrying it unchanged will not help."""


# -- payments -------------------------------------------------------------------------


class PaymentStatus(StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    PARTIALLY_CAPTURED = "partially_captured"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentSession:
    """A payment started for a checkout; the storefront finishes it with the customer."""

    reference: str
    """The provider's id of the payment; every later call names it."""
    amount: Money
    status: PaymentStatus = PaymentStatus.PENDING
    client_secret: str = ""
    """For the provider's browser SDK; never logged, never stored by Merchantry."""
    redirect_url: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentState:
    """
    Where a payment stands. The amounts hold the invariant
    ``0 <= refunded <= captured <= authorized``, in one currency.
    """

    reference: str
    status: PaymentStatus
    authorized: Money
    captured: Money
    refunded: Money

    def __post_init__(self) -> None:
        same_currency(self.authorized.currency, self.captured, self.refunded)
        if not (
            Decimal(0) <= self.refunded.amount <= self.captured.amount <= self.authorized.amount
        ):
            raise ValueError(
                "a payment holds 0 <= refunded <= captured <= authorized "
                f"(got {self.refunded}, {self.captured}, {self.authorized})"
            )

    @property
    def capturable(self) -> Money:
        """Return how much may still be captured."""
        if self.status == PaymentStatus.VOIDED:
            return Money.zero(self.authorized.currency)
        return self.authorized - self.captured

    @property
    def refundable(self) -> Money:
        """Return how much may still be refunded."""
        return self.captured - self.refunded


class PaymentEventKind(StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"
    DISPUTED = "disputed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentEvent:
    """A provider's webhook, normalized: what happened to which payment, for how much."""

    kind: PaymentEventKind
    reference: str
    provider_event_id: str
    amount: Money | None = None
    occurred_at: datetime | None = None
    detail: str = ""


@runtime_checkable
class PaymentProvider(Protocol):
    """
    Takes payments for checkouts.

    Contract: ``capture`` and ``refund`` accept partial amounts, and the sum
    captured never exceeds what was authorized nor the sum refunded what was
    captured (asking for more raises :class:`ProviderRejected` and changes
    nothing); amounts keep the payment's currency (another currency raises
    :class:`ProviderRejected`); a call repeated with the same
    ``idempotency_key`` returns the first answer and moves no money twice; an
    unknown ``reference`` raises :class:`ProviderRejected`.
    """

    def create_payment_session(
        self, *, checkout: CheckoutSnapshot, amount: Money, idempotency_key: str, return_url: str
    ) -> PaymentSession:
        """Start a payment of ``amount`` for ``checkout``."""
        ...

    def authorize(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        """Reserve ``amount`` on the customer's means of payment."""
        ...

    def capture(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        """Take ``amount`` (all or part of what is still authorized)."""
        ...

    def void(self, *, reference: str, idempotency_key: str) -> PaymentState:
        """Release what is authorized and not captured."""
        ...

    def refund(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        """Give back ``amount`` (all or part of what is captured and not refunded)."""
        ...

    def fetch_status(self, *, reference: str) -> PaymentState:
        """Return the payment's state as the provider knows it now."""
        ...

    def handle_webhook(self, *, event: VerifiedWebhook) -> list[PaymentEvent]:
        """Translate a verified webhook into payment events (empty if irrelevant)."""
        ...


# -- shipping rates -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RateOption:
    """One way to ship, priced; ``id`` is stable for the same quote and unique in it."""

    id: str
    name: str
    price: Money
    carrier: str = ""
    service: str = ""
    min_days: int | None = None
    max_days: int | None = None

    def __post_init__(self) -> None:
        if self.price.amount < 0:
            raise ValueError("a shipping rate is not negative")
        days = (self.min_days, self.max_days)
        if None not in days and not 0 <= days[0] <= days[1]:  # type: ignore[operator]
            raise ValueError("delivery days hold 0 <= min_days <= max_days")


@runtime_checkable
class ShippingRateProvider(Protocol):
    """
    Prices shipping. Contract: every option is priced in ``currency``; option
    ids are unique within an answer; the same question gets the same answer
    (rates are quoted, not booked, so the call has no side effects); no
    parcels raises ``ValueError``.
    """

    def rates(
        self, *, origin: Address, destination: Address, parcels: Sequence[Parcel], currency: str
    ) -> list[RateOption]:
        """Return the ways to ship ``parcels`` from ``origin`` to ``destination``."""
        ...


# -- fulfillment ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FulfillmentLine:
    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError("a fulfillment line has a quantity above 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentRequest:
    """What to send where: the order's lines in parcels, with the chosen rate."""

    id: str
    order_id: str
    origin: Address
    destination: Address
    parcels: tuple[Parcel, ...]
    lines: tuple[FulfillmentLine, ...]
    rate_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    """A shipping label: a URL to fetch it or its bytes, in ``format`` (pdf, png, zpl)."""

    format: str
    url: str = ""
    data: bytes = b""


class FulfillmentStatus(StrEnum):
    CREATED = "created"
    CANCELED = "canceled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class FulfillmentResult:
    reference: str
    status: FulfillmentStatus
    tracking_number: str = ""
    tracking_url: str = ""
    carrier: str = ""
    label: Label | None = None


class TrackingStatus(StrEnum):
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingUpdate:
    reference: str
    status: TrackingStatus
    occurred_at: datetime
    description: str = ""
    location: str = ""


@runtime_checkable
class FulfillmentProvider(Protocol):
    """
    Ships orders (a 3PL, a dropshipper, a label service). Contract: the same
    ``idempotency_key`` creates one fulfillment; ``cancel`` is idempotent;
    tracking updates are in time order and only for the asked reference; an
    unknown reference raises :class:`ProviderRejected`.
    """

    def create_fulfillment(
        self, *, shipment: ShipmentRequest, idempotency_key: str
    ) -> FulfillmentResult:
        """Book the shipment (and its label, where the provider makes one)."""
        ...

    def cancel(self, *, reference: str, idempotency_key: str) -> FulfillmentResult:
        """Cancel a fulfillment that has not shipped."""
        ...

    def tracking_updates(
        self, *, reference: str, since: datetime | None = None
    ) -> list[TrackingUpdate]:
        """Return the tracking events after ``since`` (all when None), oldest first."""
        ...


# -- taxes ----------------------------------------------------------------------------

SHIPPING_LINE_ID = "shipping"
"""The ``line_id`` of the tax line for the shipping charge."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxableLine:
    id: str
    quantity: int
    amount: Money
    """The line's total before tax (after discounts)."""
    tax_code: str = ""
    sku: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxRequest:
    """A checkout or an order to tax (``kind`` is ``"checkout"`` or ``"order"``)."""

    kind: str
    id: str
    currency: str
    lines: tuple[TaxableLine, ...]
    ship_to: Address
    shipping: Money
    ship_from: Address | None = None
    prices_include_tax: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("checkout", "order"):
            raise ValueError("a tax request is for a checkout or an order")
        same_currency(self.currency, self.shipping, *(line.amount for line in self.lines))


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxLine:
    """The tax on one line (``line_id`` is a line's id or :data:`SHIPPING_LINE_ID`)."""

    line_id: str
    amount: Money
    rate: Decimal
    """e.g. ``Decimal("0.2")`` for 20 %."""
    name: str = ""


@runtime_checkable
class TaxProvider(Protocol):
    """
    Computes taxes. Contract: one tax line per request line and one for
    shipping (``line_id=SHIPPING_LINE_ID``), in the request's currency, none
    negative; the same request gets the same answer.
    """

    def tax_lines(self, *, request: TaxRequest) -> list[TaxLine]:
        """Return the tax of each line of ``request``."""
        ...


# -- catalog sources and sales channels -----------------------------------------------


@runtime_checkable
class CatalogSource(Protocol):
    """
    An external system Merchantry imports from. Contract for each stream:
    batches come in a stable order; resuming with a batch's ``cursor`` yields
    exactly the records after that batch; ``external_id`` (``sku`` for
    inventory) is unique within one pass. A stream the source does not have
    yields nothing.
    """

    def products(self, *, cursor: str | None = None) -> Iterator[RecordBatch[ProductRecord]]:
        """Yield products with their variants."""
        ...

    def inventory(self, *, cursor: str | None = None) -> Iterator[RecordBatch[InventoryRecord]]:
        """Yield stock levels by SKU and location."""
        ...

    def customers(self, *, cursor: str | None = None) -> Iterator[RecordBatch[CustomerRecord]]:
        """Yield customers."""
        ...

    def orders(self, *, cursor: str | None = None) -> Iterator[RecordBatch[OrderRecord]]:
        """Yield orders (history, for reporting and customer accounts)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PushRejection:
    key: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """Which pushed records the channel took (by key) and which it refused, and why."""

    accepted: tuple[str, ...] = ()
    rejected: tuple[PushRejection, ...] = ()


@runtime_checkable
class SalesChannelConnector(Protocol):
    """
    An external channel Merchantry sells on (a marketplace, a social shop).
    Contract: a push answers for every record exactly once, keyed by
    ``external_id`` (products) or ``sku`` (stock); pushing the same records
    again is safe and gives the same answer; ``pull_orders`` follows the
    :class:`CatalogSource` cursor rules.
    """

    def push_catalog(self, *, products: Sequence[ProductRecord]) -> PushResult:
        """Create or update ``products`` on the channel."""
        ...

    def push_stock(self, *, levels: Sequence[InventoryRecord]) -> PushResult:
        """Set the channel's available quantities."""
        ...

    def pull_orders(self, *, cursor: str | None = None) -> Iterator[RecordBatch[OrderRecord]]:
        """Yield orders placed on the channel."""
        ...


# -- page content ---------------------------------------------------------------------

PAGE_CONTENT_TYPES = frozenset({"text/html", "application/json"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PageContent:
    """
    A rendered page (HTML, or JSON for headless storefronts) and how long it
    may be cached: ``max_age`` seconds fresh, then ``stale_while_revalidate``
    seconds served stale while refreshed.
    """

    path: str
    body: str
    content_type: str = "text/html"
    title: str = ""
    max_age: int = 0
    stale_while_revalidate: int = 0
    etag: str = ""

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError("a page path starts with '/'")
        if self.content_type not in PAGE_CONTENT_TYPES:
            raise ValueError(f"page content is one of {sorted(PAGE_CONTENT_TYPES)}")
        if self.max_age < 0 or self.stale_while_revalidate < 0:
            raise ValueError("cache times are not negative")


@runtime_checkable
class PageContentProvider(Protocol):
    """
    Supplies storefront pages from a CMS or page builder. Contract: a path the
    provider does not have answers None (the storefront answers 404); a page
    echoes the asked ``path``; the same page keeps its ``etag`` until it
    changes.
    """

    def fetch_page(
        self, *, path: str, locale: str = "", preview: bool = False
    ) -> PageContent | None:
        """Return the page at ``path`` (draft content when ``preview``)."""
        ...


PROVIDER_INTERFACES: Mapping[ProviderKind, type] = {
    ProviderKind.PAYMENT: PaymentProvider,
    ProviderKind.SHIPPING_RATES: ShippingRateProvider,
    ProviderKind.FULFILLMENT: FulfillmentProvider,
    ProviderKind.TAX: TaxProvider,
    ProviderKind.CATALOG_SOURCE: CatalogSource,
    ProviderKind.SALES_CHANNEL: SalesChannelConnector,
    ProviderKind.PAGE_CONTENT: PageContentProvider,
}
"""The interface each :class:`ProviderKind` names."""
