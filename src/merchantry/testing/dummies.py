"""
In-memory providers that follow each interface's contract to the letter.

They pass the conformance checks, so they serve as reference
implementations, and as stand-ins in tests of code that *uses* providers
(a checkout test needs a payment provider, not Stripe). They keep their
state on the instance; make one per test.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from merchantry.plugins.providers import (
    SHIPPING_LINE_ID,
    CheckoutSnapshot,
    CustomerRecord,
    FulfillmentResult,
    FulfillmentStatus,
    InventoryRecord,
    Money,
    OrderRecord,
    PageContent,
    PaymentEvent,
    PaymentEventKind,
    PaymentSession,
    PaymentState,
    PaymentStatus,
    ProductRecord,
    ProviderRejected,
    PushRejection,
    PushResult,
    RecordBatch,
    ShipmentRequest,
    TaxLine,
    TaxRequest,
    TrackingStatus,
    TrackingUpdate,
)
from merchantry.plugins.spec import VerifiedWebhook

__all__ = [
    "DummyCatalogSource",
    "DummyFulfillmentProvider",
    "DummyPageContentProvider",
    "DummyPaymentProvider",
    "DummySalesChannelConnector",
    "DummyTaxProvider",
]

T = TypeVar("T")


class _Idempotent:
    """Remembers each (operation, key)'s successful answer, as providers do."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Any] = {}

    def once(self, operation: str, key: str, act: Callable[[], T]) -> T:
        if (operation, key) not in self._answers:
            self._answers[(operation, key)] = act()
        return self._answers[(operation, key)]  # type: ignore[no-any-return]


class DummyPaymentProvider(_Idempotent):
    """A payment provider where every payment is approved, unless told otherwise."""

    def __init__(self, *, decline: bool = False) -> None:
        super().__init__()
        self.decline = decline
        self.payments: dict[str, PaymentState] = {}
        self.requested: dict[str, Money] = {}
        self._ids = itertools.count(1)

    def _get(self, reference: str) -> PaymentState:
        try:
            return self.payments[reference]
        except KeyError:
            raise ProviderRejected(f"no payment {reference}", code="not_found") from None

    def _set(self, state: PaymentState, **changes: Any) -> PaymentState:
        values = {
            "reference": state.reference,
            "status": state.status,
            "authorized": state.authorized,
            "captured": state.captured,
            "refunded": state.refunded,
            **changes,
        }
        self.payments[state.reference] = PaymentState(**values)
        return self.payments[state.reference]

    @staticmethod
    def _amount(state: PaymentState, amount: Money) -> None:
        if amount.currency != state.authorized.currency:
            raise ProviderRejected("the payment is in another currency", code="currency")
        if amount.amount <= 0:
            raise ProviderRejected("the amount is not positive", code="amount")

    def create_payment_session(
        self, *, checkout: CheckoutSnapshot, amount: Money, idempotency_key: str, return_url: str
    ) -> PaymentSession:
        def act() -> PaymentSession:
            reference = f"pay_{next(self._ids)}"
            zero = Money.zero(amount.currency)
            self.payments[reference] = PaymentState(
                reference=reference,
                status=PaymentStatus.PENDING,
                authorized=zero,
                captured=zero,
                refunded=zero,
            )
            self.requested[reference] = amount
            return PaymentSession(
                reference=reference, amount=amount, client_secret=f"{reference}_secret"
            )

        return self.once("session", idempotency_key, act)

    def authorize(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        def act() -> PaymentState:
            state = self._get(reference)
            if state.status != PaymentStatus.PENDING:
                raise ProviderRejected("the payment is not pending", code="state")
            if amount != self.requested[reference]:
                raise ProviderRejected("the amount differs from the session's", code="amount")
            if self.decline:
                self._set(state, status=PaymentStatus.FAILED)
                raise ProviderRejected("the card was declined", code="card_declined")
            return self._set(state, status=PaymentStatus.AUTHORIZED, authorized=amount)

        return self.once("authorize", idempotency_key, act)

    def capture(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        def act() -> PaymentState:
            state = self._get(reference)
            self._amount(state, amount)
            capturable_states = (PaymentStatus.AUTHORIZED, PaymentStatus.PARTIALLY_CAPTURED)
            if state.status not in capturable_states or amount > state.capturable:
                raise ProviderRejected("more than is authorized and not captured", code="amount")
            captured = state.captured + amount
            status = (
                PaymentStatus.CAPTURED
                if captured == state.authorized
                else PaymentStatus.PARTIALLY_CAPTURED
            )
            return self._set(state, status=status, captured=captured)

        return self.once("capture", idempotency_key, act)

    def void(self, *, reference: str, idempotency_key: str) -> PaymentState:
        def act() -> PaymentState:
            state = self._get(reference)
            if state.status not in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED):
                raise ProviderRejected("only an uncaptured payment can be voided", code="state")
            return self._set(state, status=PaymentStatus.VOIDED)

        return self.once("void", idempotency_key, act)

    def refund(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        def act() -> PaymentState:
            state = self._get(reference)
            self._amount(state, amount)
            if amount > state.refundable:
                raise ProviderRejected("more than is captured and not refunded", code="amount")
            refunded = state.refunded + amount
            status = (
                PaymentStatus.REFUNDED
                if refunded == state.captured
                else PaymentStatus.PARTIALLY_REFUNDED
            )
            return self._set(state, status=status, refunded=refunded)

        return self.once("refund", idempotency_key, act)

    def fetch_status(self, *, reference: str) -> PaymentState:
        return self._get(reference)

    def handle_webhook(self, *, event: VerifiedWebhook) -> list[PaymentEvent]:
        """Translate ``{"type": "payment.<kind>", "reference": ..., "amount": ..., ...}``."""
        prefix, _, kind = event.event_type.partition(".")
        if prefix != "payment" or kind not in set(PaymentEventKind):
            return []
        payload = event.payload
        amount = None
        if "amount" in payload:
            amount = Money(Decimal(str(payload["amount"])), str(payload["currency"]))
        return [
            PaymentEvent(
                kind=PaymentEventKind(kind),
                reference=str(payload["reference"]),
                provider_event_id=event.event_id,
                amount=amount,
                occurred_at=event.occurred_at,
            )
        ]


class DummyFulfillmentProvider(_Idempotent):
    """Books every shipment; :meth:`advance` adds tracking events."""

    def __init__(self, *, start: datetime | None = None) -> None:
        super().__init__()
        self.clock = start or datetime(2030, 1, 1, tzinfo=UTC)
        self.fulfillments: dict[str, FulfillmentResult] = {}
        self.tracking: dict[str, list[TrackingUpdate]] = {}
        self._ids = itertools.count(1)

    def _tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def _get(self, reference: str) -> FulfillmentResult:
        if reference not in self.fulfillments:
            raise ProviderRejected(f"no fulfillment {reference}", code="not_found")
        return self.fulfillments[reference]

    def create_fulfillment(
        self, *, shipment: ShipmentRequest, idempotency_key: str
    ) -> FulfillmentResult:
        def act() -> FulfillmentResult:
            reference = f"ful_{next(self._ids)}"
            result = FulfillmentResult(
                reference=reference,
                status=FulfillmentStatus.CREATED,
                tracking_number=f"TRACK{reference.upper()}",
                carrier="dummy",
            )
            self.fulfillments[reference] = result
            self.tracking[reference] = []
            self.advance(reference, TrackingStatus.LABEL_CREATED)
            return result

        return self.once("create", idempotency_key, act)

    def advance(self, reference: str, status: TrackingStatus, description: str = "") -> None:
        """Record a tracking event (what the carrier would report)."""
        self._get(reference)
        self.tracking[reference].append(
            TrackingUpdate(
                reference=reference,
                status=status,
                occurred_at=self._tick(),
                description=description,
            )
        )

    def cancel(self, *, reference: str, idempotency_key: str) -> FulfillmentResult:
        current = self._get(reference)
        shipped = {u.status for u in self.tracking[reference]} - {TrackingStatus.LABEL_CREATED}
        if shipped:
            raise ProviderRejected("the shipment has left", code="shipped")
        canceled = FulfillmentResult(
            reference=reference,
            status=FulfillmentStatus.CANCELED,
            tracking_number=current.tracking_number,
            carrier=current.carrier,
        )
        self.fulfillments[reference] = canceled
        return canceled

    def tracking_updates(
        self, *, reference: str, since: datetime | None = None
    ) -> list[TrackingUpdate]:
        self._get(reference)
        return [u for u in self.tracking[reference] if since is None or u.occurred_at > since]


class DummyTaxProvider:
    """One flat ``rate`` on every line and on shipping."""

    def __init__(self, *, rate: Decimal = Decimal("0.2")) -> None:
        self.rate = rate

    def _tax(self, amount: Money, *, included: bool) -> Money:
        if included:  # the price holds the tax: take out price - price / (1 + rate)
            return Money.rounded(amount.amount - amount.amount / (1 + self.rate), amount.currency)
        return Money.rounded(amount.amount * self.rate, amount.currency)

    def tax_lines(self, *, request: TaxRequest) -> list[TaxLine]:
        included = request.prices_include_tax
        lines = [
            TaxLine(
                line_id=line.id, amount=self._tax(line.amount, included=included), rate=self.rate
            )
            for line in request.lines
        ]
        lines.append(
            TaxLine(
                line_id=SHIPPING_LINE_ID,
                amount=self._tax(request.shipping, included=included),
                rate=self.rate,
            )
        )
        return lines


def _batches(records: Sequence[T], cursor: str | None, size: int) -> Iterator[RecordBatch[T]]:
    """Yield ``records`` in batches of ``size``; a cursor is the index after its batch."""
    start = int(cursor) if cursor else 0
    for index in range(start, len(records), size):
        chunk = tuple(records[index : index + size])
        yield RecordBatch(chunk, str(index + len(chunk)))


class DummyCatalogSource:
    """Serves the records it was given, ``batch_size`` at a time."""

    def __init__(
        self,
        *,
        products: Sequence[ProductRecord] = (),
        inventory: Sequence[InventoryRecord] = (),
        customers: Sequence[CustomerRecord] = (),
        orders: Sequence[OrderRecord] = (),
        batch_size: int = 2,
    ) -> None:
        self._products, self._inventory = list(products), list(inventory)
        self._customers, self._orders = list(customers), list(orders)
        self.batch_size = batch_size

    def products(self, *, cursor: str | None = None) -> Iterator[RecordBatch[ProductRecord]]:
        return _batches(self._products, cursor, self.batch_size)

    def inventory(self, *, cursor: str | None = None) -> Iterator[RecordBatch[InventoryRecord]]:
        return _batches(self._inventory, cursor, self.batch_size)

    def customers(self, *, cursor: str | None = None) -> Iterator[RecordBatch[CustomerRecord]]:
        return _batches(self._customers, cursor, self.batch_size)

    def orders(self, *, cursor: str | None = None) -> Iterator[RecordBatch[OrderRecord]]:
        return _batches(self._orders, cursor, self.batch_size)


class DummySalesChannelConnector:
    """Keeps what is pushed; refuses products without variants and stock of unknown SKUs."""

    def __init__(self, *, orders: Sequence[OrderRecord] = (), batch_size: int = 2) -> None:
        self.catalog: dict[str, ProductRecord] = {}
        self.stock: dict[str, int] = {}
        self._orders = list(orders)
        self.batch_size = batch_size

    def push_catalog(self, *, products: Sequence[ProductRecord]) -> PushResult:
        accepted, rejected = [], []
        for product in products:
            if not product.variants:
                rejected.append(PushRejection(key=product.external_id, message="no variants"))
                continue
            self.catalog[product.external_id] = product
            accepted.append(product.external_id)
        return PushResult(accepted=tuple(accepted), rejected=tuple(rejected))

    def push_stock(self, *, levels: Sequence[InventoryRecord]) -> PushResult:
        skus = {v.sku for p in self.catalog.values() for v in p.variants}
        accepted, rejected = [], []
        for level in levels:
            if level.sku not in skus:
                rejected.append(PushRejection(key=level.sku, message="unknown SKU"))
                continue
            self.stock[level.sku] = level.quantity
            accepted.append(level.sku)
        return PushResult(accepted=tuple(accepted), rejected=tuple(rejected))

    def pull_orders(self, *, cursor: str | None = None) -> Iterator[RecordBatch[OrderRecord]]:
        return _batches(self._orders, cursor, self.batch_size)


class DummyPageContentProvider:
    """Serves ``pages`` (path to HTML body); drafts, when given, in preview."""

    def __init__(
        self, *, pages: Mapping[str, str], drafts: Mapping[str, str] | None = None
    ) -> None:
        self.pages = dict(pages)
        self.drafts = dict(drafts or {})

    def fetch_page(
        self, *, path: str, locale: str = "", preview: bool = False
    ) -> PageContent | None:
        body = (self.drafts.get(path) if preview else None) or self.pages.get(path)
        if body is None:
            return None
        return PageContent(
            path=path,
            body=body,
            max_age=0 if preview else 60,
            stale_while_revalidate=0 if preview else 300,
            etag=hashlib.sha256(body.encode()).hexdigest()[:16],
        )
