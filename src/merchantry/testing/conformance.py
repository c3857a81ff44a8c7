"""
Conformance checks: run a provider against the contract of its interface.

Each ``check_*`` function drives the provider through the documented
behaviour (see :mod:`merchantry.plugins.providers`) and raises
:class:`ConformanceError`, naming the rule, at the first breach. Use them in a
plugin's tests, against the provider pointed at a fake server::

    from merchantry.testing import check_shipping_rate_provider

    def test_rates_conform(provider):
        check_shipping_rate_provider(provider, origin=..., destination=..., parcels=[...])
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from merchantry.plugins.providers import (
    SHIPPING_LINE_ID,
    Address,
    CatalogSource,
    CheckoutSnapshot,
    CustomerRecord,
    FulfillmentProvider,
    FulfillmentResult,
    FulfillmentStatus,
    InventoryRecord,
    Money,
    OrderRecord,
    PageContent,
    PageContentProvider,
    Parcel,
    PaymentEvent,
    PaymentProvider,
    PaymentSession,
    PaymentState,
    PaymentStatus,
    ProductRecord,
    ProviderRejected,
    PushResult,
    RateOption,
    RecordBatch,
    SalesChannelConnector,
    ShipmentRequest,
    ShippingRateProvider,
    TaxLine,
    TaxProvider,
    TaxRequest,
    TrackingUpdate,
)
from merchantry.plugins.spec import VerifiedWebhook

__all__ = [
    "ConformanceError",
    "check_catalog_source",
    "check_fulfillment_provider",
    "check_page_content_provider",
    "check_payment_provider",
    "check_sales_channel_connector",
    "check_shipping_rate_provider",
    "check_tax_provider",
]


class ConformanceError(AssertionError):
    """A provider breaks a rule of its interface's contract."""


def _expect(condition: bool, interface: str, rule: str) -> None:
    if not condition:
        raise ConformanceError(f"{interface}: {rule}")


def _expect_rejected(call: Callable[[], Any], interface: str, rule: str) -> None:
    try:
        call()
    except ProviderRejected:
        return
    except Exception as exc:
        raise ConformanceError(
            f"{interface}: {rule} (raised {exc!r}, not ProviderRejected)"
        ) from exc
    raise ConformanceError(f"{interface}: {rule} (it was accepted)")


def _key(label: str) -> str:
    return f"conformance-{label}-{uuid.uuid4().hex}"


def _other_currency(currency: str) -> str:
    return "EUR" if currency != "EUR" else "USD"


# -- payments -------------------------------------------------------------------------


def check_payment_provider(
    provider: Any,
    *,
    checkout: CheckoutSnapshot,
    approve: Callable[[PaymentSession], None] | None = None,
    webhooks: Sequence[VerifiedWebhook] = (),
) -> None:
    """
    Check a :class:`PaymentProvider` with payments for ``checkout``'s total
    (at least 4 minor units). ``approve`` plays the customer between the
    session and the authorization (e.g. tells a fake server the card was
    accepted); ``webhooks`` are verified webhooks the provider must
    translate into :class:`PaymentEvent` lists.
    """
    name = "PaymentProvider"
    _expect(isinstance(provider, PaymentProvider), name, "implements every method")
    amount = checkout.totals.total
    unit = Money.from_minor_units(1, amount.currency)
    _expect(amount >= unit * 4, name, "the sample checkout totals at least 4 minor units")

    def start() -> str:
        key = _key("session")
        session = provider.create_payment_session(
            checkout=checkout, amount=amount, idempotency_key=key, return_url="https://shop.test/r"
        )
        _expect(isinstance(session, PaymentSession), name, "a session is a PaymentSession")
        _expect(bool(session.reference), name, "a session has a reference")
        _expect(session.amount == amount, name, "a session is for the asked amount")
        again = provider.create_payment_session(
            checkout=checkout, amount=amount, idempotency_key=key, return_url="https://shop.test/r"
        )
        _expect(again.reference == session.reference, name, "a repeated session key starts one")
        if approve is not None:
            approve(session)
        key = _key("authorize")
        state = provider.authorize(reference=session.reference, amount=amount, idempotency_key=key)
        _state(state, name, session.reference)
        _expect(state.authorized == amount, name, "authorize reserves the asked amount")
        _expect(state.captured == Money.zero(amount.currency), name, "authorize captures nothing")
        _expect(state.status == PaymentStatus.AUTHORIZED, name, "authorize ends AUTHORIZED")
        repeated = provider.authorize(
            reference=session.reference, amount=amount, idempotency_key=key
        )
        _expect(repeated == state, name, "a repeated authorize key gives the first answer")
        return session.reference

    reference = start()

    def unchanged(before: PaymentState, rule: str) -> None:
        _expect(provider.fetch_status(reference=reference) == before, name, rule)

    before = provider.fetch_status(reference=reference)
    other = Money(amount.amount, _other_currency(amount.currency))
    _expect_rejected(
        lambda: provider.capture(reference=reference, amount=other, idempotency_key=_key("c")),
        name,
        "a capture in another currency is rejected",
    )
    _expect_rejected(
        lambda: provider.capture(
            reference=reference, amount=amount + unit, idempotency_key=_key("c")
        ),
        name,
        "a capture above the authorized amount is rejected",
    )
    unchanged(before, "a rejected capture changes nothing")

    first = Money.rounded(amount.amount / 2, amount.currency)
    key = _key("capture")
    state = provider.capture(reference=reference, amount=first, idempotency_key=key)
    _state(state, name, reference)
    _expect(state.captured == first, name, "a partial capture takes exactly the asked amount")
    _expect(state.status == PaymentStatus.PARTIALLY_CAPTURED, name, "then it is PARTIALLY_CAPTURED")
    again = provider.capture(reference=reference, amount=first, idempotency_key=key)
    _expect(again.captured == first, name, "a repeated capture key captures once")
    rest = amount - first
    _expect_rejected(
        lambda: provider.capture(
            reference=reference, amount=rest + unit, idempotency_key=_key("c")
        ),
        name,
        "captures never add up to more than the authorized amount",
    )
    state = provider.capture(reference=reference, amount=rest, idempotency_key=_key("c"))
    _expect(state.captured == amount, name, "a second capture takes the rest")
    _expect(state.status == PaymentStatus.CAPTURED, name, "then it is CAPTURED")

    before = provider.fetch_status(reference=reference)
    _expect_rejected(
        lambda: provider.refund(
            reference=reference, amount=amount + unit, idempotency_key=_key("r")
        ),
        name,
        "a refund above the captured amount is rejected",
    )
    unchanged(before, "a rejected refund changes nothing")
    key = _key("refund")
    state = provider.refund(reference=reference, amount=unit, idempotency_key=key)
    _state(state, name, reference)
    _expect(state.refunded == unit, name, "a partial refund gives back exactly the asked amount")
    _expect(state.status == PaymentStatus.PARTIALLY_REFUNDED, name, "then it is PARTIALLY_REFUNDED")
    again = provider.refund(reference=reference, amount=unit, idempotency_key=key)
    _expect(again.refunded == unit, name, "a repeated refund key refunds once")
    _expect_rejected(
        lambda: provider.refund(reference=reference, amount=amount, idempotency_key=_key("r")),
        name,
        "refunds never add up to more than the captured amount",
    )
    state = provider.refund(reference=reference, amount=amount - unit, idempotency_key=_key("r"))
    _expect(state.refunded == amount, name, "a second refund gives back the rest")
    _expect(state.status == PaymentStatus.REFUNDED, name, "then it is REFUNDED")
    _expect(provider.fetch_status(reference=reference) == state, name, "fetch_status is current")

    voided = start()
    state = provider.void(reference=voided, idempotency_key=_key("void"))
    _state(state, name, voided)
    _expect(state.status == PaymentStatus.VOIDED, name, "void ends VOIDED")
    _expect_rejected(
        lambda: provider.capture(reference=voided, amount=unit, idempotency_key=_key("c")),
        name,
        "a voided payment cannot be captured",
    )
    _expect_rejected(
        lambda: provider.fetch_status(reference=f"missing-{uuid.uuid4().hex}"),
        name,
        "an unknown reference is rejected",
    )
    for webhook in webhooks:
        events = provider.handle_webhook(event=webhook)
        _expect(isinstance(events, list), name, "handle_webhook returns a list")
        _expect(
            all(isinstance(e, PaymentEvent) for e in events), name, "webhooks give PaymentEvents"
        )


def _state(state: Any, name: str, reference: str) -> None:
    _expect(isinstance(state, PaymentState), name, "operations return a PaymentState")
    _expect(state.reference == reference, name, "a state names its payment's reference")


# -- shipping rates -------------------------------------------------------------------


def check_shipping_rate_provider(
    provider: Any,
    *,
    origin: Address,
    destination: Address,
    parcels: Sequence[Parcel],
    currency: str = "USD",
) -> None:
    """Check a :class:`ShippingRateProvider` on a route it serves."""
    name = "ShippingRateProvider"
    _expect(isinstance(provider, ShippingRateProvider), name, "implements rates()")

    def quote(in_currency: str) -> list[RateOption]:
        options = provider.rates(
            origin=origin, destination=destination, parcels=list(parcels), currency=in_currency
        )
        _expect(isinstance(options, list), name, "rates() returns a list")
        _expect(all(isinstance(o, RateOption) for o in options), name, "options are RateOptions")
        _expect(
            all(o.price.currency == in_currency for o in options),
            name,
            f"every option is priced in the asked currency ({in_currency})",
        )
        ids = [o.id for o in options]
        _expect(len(ids) == len(set(ids)), name, "option ids are unique in an answer")
        return options

    options = quote(currency)
    _expect(bool(options), name, "the sample route has at least one option")
    _expect(quote(currency) == options, name, "the same question gets the same answer")
    other = _other_currency(currency)
    with contextlib.suppress(ProviderRejected):  # a carrier that cannot quote says so
        quote(other)
    try:
        provider.rates(origin=origin, destination=destination, parcels=[], currency=currency)
    except ValueError:
        pass
    else:
        raise ConformanceError(f"{name}: no parcels raises ValueError")


# -- fulfillment ----------------------------------------------------------------------


def check_fulfillment_provider(provider: Any, *, shipment: ShipmentRequest) -> None:
    """Check a :class:`FulfillmentProvider` by booking, tracking and cancelling ``shipment``."""
    name = "FulfillmentProvider"
    _expect(isinstance(provider, FulfillmentProvider), name, "implements every method")
    key = _key("fulfill")
    created = provider.create_fulfillment(shipment=shipment, idempotency_key=key)
    _expect(isinstance(created, FulfillmentResult), name, "create returns a FulfillmentResult")
    _expect(bool(created.reference), name, "a fulfillment has a reference")
    _expect(created.status == FulfillmentStatus.CREATED, name, "create ends CREATED")
    again = provider.create_fulfillment(shipment=shipment, idempotency_key=key)
    _expect(again.reference == created.reference, name, "a repeated create key books once")

    updates = provider.tracking_updates(reference=created.reference)
    _expect(isinstance(updates, list), name, "tracking_updates returns a list")
    _expect(all(isinstance(u, TrackingUpdate) for u in updates), name, "of TrackingUpdates")
    _expect(all(u.reference == created.reference for u in updates), name, "for the asked reference")
    times = [u.occurred_at for u in updates]
    _expect(times == sorted(times), name, "tracking updates come oldest first")
    if updates:
        later = provider.tracking_updates(reference=created.reference, since=times[0])
        _expect(
            all(u.occurred_at > times[0] for u in later), name, "since= gives only later updates"
        )

    canceled = provider.cancel(reference=created.reference, idempotency_key=_key("cancel"))
    _expect(canceled.status == FulfillmentStatus.CANCELED, name, "cancel ends CANCELED")
    repeated = provider.cancel(reference=created.reference, idempotency_key=_key("cancel"))
    _expect(repeated.status == FulfillmentStatus.CANCELED, name, "cancel is idempotent")
    missing = f"missing-{uuid.uuid4().hex}"
    _expect_rejected(
        lambda: provider.tracking_updates(reference=missing),
        name,
        "an unknown reference is rejected",
    )


# -- taxes ----------------------------------------------------------------------------


def check_tax_provider(provider: Any, *, request: TaxRequest) -> None:
    """Check a :class:`TaxProvider` on ``request``."""
    name = "TaxProvider"
    _expect(isinstance(provider, TaxProvider), name, "implements tax_lines()")
    lines = provider.tax_lines(request=request)
    _expect(isinstance(lines, list), name, "tax_lines() returns a list")
    _expect(all(isinstance(line, TaxLine) for line in lines), name, "of TaxLines")
    wanted = sorted([line.id for line in request.lines] + [SHIPPING_LINE_ID])
    _expect(
        sorted(line.line_id for line in lines) == wanted,
        name,
        "one tax line per request line and one for shipping",
    )
    _expect(
        all(line.amount.currency == request.currency for line in lines),
        name,
        "tax is in the request's currency",
    )
    _expect(
        all(line.amount.amount >= 0 and line.rate >= Decimal(0) for line in lines),
        name,
        "no tax or rate is negative",
    )
    _expect(provider.tax_lines(request=request) == lines, name, "the same request, the same tax")


# -- catalog sources and sales channels -----------------------------------------------

_RECORD_TYPES: dict[str, tuple[type, Callable[[Any], str]]] = {
    "products": (ProductRecord, lambda r: r.external_id),
    "inventory": (InventoryRecord, lambda r: f"{r.sku}@{r.location_external_id}"),
    "customers": (CustomerRecord, lambda r: r.external_id),
    "orders": (OrderRecord, lambda r: r.external_id),
}


def _check_stream(
    read: Callable[..., Iterable[Any]], stream: str, name: str, *, non_empty: bool
) -> None:
    record_type, key = _RECORD_TYPES[stream]
    batches = list(read(cursor=None))
    _expect(
        all(isinstance(b, RecordBatch) for b in batches), name, f"{stream} yields RecordBatches"
    )
    _expect(all(b.cursor for b in batches), name, f"every {stream} batch has a cursor")
    records = [r for b in batches for r in b.records]
    _expect(
        all(isinstance(r, record_type) for r in records),
        name,
        f"{stream} records are {record_type.__name__}s",
    )
    keys = [key(r) for r in records]
    _expect(len(keys) == len(set(keys)), name, f"{stream} records are unique in one pass")
    _expect(not non_empty or bool(records), name, f"the sample has {stream}")
    _expect(
        [r for b in read(cursor=None) for r in b.records] == records,
        name,
        f"{stream} come in a stable order",
    )
    done = 0
    for batch in batches:
        done += len(batch.records)
        resumed = [r for b in read(cursor=batch.cursor) for r in b.records]
        _expect(
            resumed == records[done:],
            name,
            f"resuming {stream} after a batch's cursor yields exactly the later records",
        )


def check_catalog_source(
    source: Any,
    *,
    streams: Sequence[str] = ("products", "inventory", "customers", "orders"),
    non_empty: Sequence[str] = ("products",),
) -> None:
    """Check a :class:`CatalogSource`'s ``streams`` (those in ``non_empty`` must have records)."""
    name = "CatalogSource"
    _expect(isinstance(source, CatalogSource), name, "implements every stream")
    for stream in streams:
        _check_stream(getattr(source, stream), stream, name, non_empty=stream in non_empty)


def _check_push(result: Any, keys: Sequence[str], name: str, what: str) -> None:
    _expect(isinstance(result, PushResult), name, f"pushing {what} returns a PushResult")
    answered = [*result.accepted, *(r.key for r in result.rejected)]
    _expect(sorted(answered) == sorted(keys), name, f"a {what} push answers for each record once")


def check_sales_channel_connector(
    connector: Any,
    *,
    products: Sequence[ProductRecord],
    levels: Sequence[InventoryRecord],
    orders_non_empty: bool = False,
) -> None:
    """Check a :class:`SalesChannelConnector` by pushing ``products`` and ``levels``."""
    name = "SalesChannelConnector"
    _expect(isinstance(connector, SalesChannelConnector), name, "implements every method")
    first = connector.push_catalog(products=list(products))
    _check_push(first, [p.external_id for p in products], name, "catalog")
    _expect(
        connector.push_catalog(products=list(products)) == first,
        name,
        "pushing the same catalog again gives the same answer",
    )
    stock = connector.push_stock(levels=list(levels))
    _check_push(stock, [level.sku for level in levels], name, "stock")
    _expect(
        connector.push_stock(levels=list(levels)) == stock,
        name,
        "pushing the same stock again gives the same answer",
    )
    _check_stream(connector.pull_orders, "orders", name, non_empty=orders_non_empty)


# -- page content ---------------------------------------------------------------------


def check_page_content_provider(
    provider: Any, *, path: str, missing_path: str = "/merchantry-conformance/no-such-page"
) -> None:
    """Check a :class:`PageContentProvider` on a page it has (``path``) and one it has not."""
    name = "PageContentProvider"
    _expect(isinstance(provider, PageContentProvider), name, "implements fetch_page()")
    page = provider.fetch_page(path=path)
    _expect(isinstance(page, PageContent), name, "a page it has is PageContent")
    _expect(page.path == path, name, "a page echoes the asked path")
    _expect(
        provider.fetch_page(path=path).etag == page.etag, name, "an unchanged page keeps its etag"
    )
    _expect(provider.fetch_page(path=missing_path) is None, name, "a page it has not is None")
    preview = provider.fetch_page(path=path, preview=True)
    _expect(
        preview is None or isinstance(preview, PageContent),
        name,
        "a preview is PageContent or None",
    )
