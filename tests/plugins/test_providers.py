"""
The provider contract: money and the values providers exchange validate
themselves, the in-memory providers pass their conformance checks, and each
check catches a provider that breaks its rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from merchantry.plugins.providers import (
    PROVIDER_INTERFACES,
    SHIPPING_LINE_ID,
    Address,
    CatalogSource,
    FulfillmentLine,
    InventoryRecord,
    Money,
    PageContent,
    Parcel,
    PaymentEvent,
    PaymentEventKind,
    PaymentState,
    PaymentStatus,
    ProductRecord,
    ProviderRejected,
    PushResult,
    RateOption,
    RecordBatch,
    ShipmentRequest,
    TaxableLine,
    TaxLine,
    TaxRequest,
    VariantRecord,
)
from merchantry.plugins.spec import ProviderKind, VerifiedWebhook
from merchantry.testing import (
    ConformanceError,
    check_catalog_source,
    check_fulfillment_provider,
    check_page_content_provider,
    check_payment_provider,
    check_sales_channel_connector,
    check_shipping_rate_provider,
    check_tax_provider,
    sample_checkout,
)
from merchantry.testing.dummies import (
    DummyCatalogSource,
    DummyFulfillmentProvider,
    DummyPageContentProvider,
    DummyPaymentProvider,
    DummySalesChannelConnector,
    DummyTaxProvider,
)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


# -- money ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "amount", "currency", "stored"),
    [
        ("cents added", "5", "USD", "5.00"),
        ("already exact", "19.99", "USD", "19.99"),
        ("no minor unit", "1500", "JPY", "1500"),
        ("three decimals", "1.250", "BHD", "1.250"),
        ("trailing zeros dropped to the unit", "2.5000", "EUR", "2.50"),
    ],
)
def test_money_is_exact_at_the_currency_minor_unit(
    _case: str, amount: str, currency: str, stored: str
) -> None:
    money = Money(Decimal(amount), currency)

    assert str(money.amount) == stored
    assert money.as_json() == {"amount": stored, "currency": currency}


@pytest.mark.parametrize(
    ("_case", "amount", "currency", "error", "message"),
    [
        ("float", 19.99, "USD", TypeError, "Money.amount is a Decimal, not float"),
        ("int", 20, "USD", TypeError, "Money.amount is a Decimal, not int"),
        ("string", "19.99", "USD", TypeError, "Money.amount is a Decimal, not str"),
        ("too precise", Decimal("19.999"), "USD", ValueError, "has more decimals than USD"),
        ("cents in yen", Decimal("10.5"), "JPY", ValueError, "has more decimals than JPY"),
        ("not a number", Decimal("NaN"), "USD", ValueError, "finite"),
        ("infinite", Decimal("Infinity"), "USD", ValueError, "finite"),
        ("lower-case currency", Decimal(1), "usd", ValueError, "ISO 4217"),
        ("unknown currency", Decimal(1), "XYZ", ValueError, "ISO 4217"),
    ],
)
def test_money_refuses_what_is_not_exact_money(
    _case: str, amount: Any, currency: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Money(amount, currency)


def test_money_rounds_only_when_asked() -> None:
    assert Money.rounded(Decimal("19.995"), "USD") == usd("20.00")
    assert Money.rounded(Decimal("19.994"), "USD") == usd("19.99")
    assert Money.rounded(Decimal("99.5"), "JPY") == Money(Decimal(100), "JPY")


def test_money_arithmetic_keeps_one_currency() -> None:
    assert usd("1.10") + usd("2.20") == usd("3.30")
    assert usd("5.00") - usd("7.50") == usd("-2.50")
    assert usd("1.99") * 3 == usd("5.97")
    assert 2 * usd("0.50") == usd("1.00")
    assert usd("1.00") < usd("1.01")
    assert -usd("1.00") == usd("-1.00")
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        usd("1.00") + Money(Decimal(1), "EUR")
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        usd("1.00") < Money(Decimal(1), "EUR")  # noqa: B015
    with pytest.raises(TypeError, match="int quantity"):
        usd("1.00") * Decimal("1.5")


@pytest.mark.parametrize(
    ("units", "currency", "amount"),
    [(1999, "USD", "19.99"), (500, "JPY", "500"), (1, "BHD", "0.001")],
)
def test_money_converts_from_and_to_minor_units(units: int, currency: str, amount: str) -> None:
    money = Money.from_minor_units(units, currency)

    assert money == Money(Decimal(amount), currency)
    assert money.to_minor_units() == units


@given(
    units=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(["USD", "JPY", "BHD", "EUR"]),
)
def test_minor_units_round_trip(units: int, currency: str) -> None:
    assert Money.from_minor_units(units, currency).to_minor_units() == units


# -- values ---------------------------------------------------------------------------


def test_a_payment_state_holds_refunded_within_captured_within_authorized() -> None:
    with pytest.raises(ValueError, match="0 <= refunded <= captured <= authorized"):
        PaymentState(
            reference="p",
            status=PaymentStatus.CAPTURED,
            authorized=usd("10.00"),
            captured=usd("10.01"),
            refunded=usd("0.00"),
        )
    with pytest.raises(ValueError, match="expected amounts in USD, got EUR"):
        PaymentState(
            reference="p",
            status=PaymentStatus.AUTHORIZED,
            authorized=usd("10.00"),
            captured=Money(Decimal(0), "EUR"),
            refunded=usd("0.00"),
        )


@pytest.mark.parametrize(
    ("_case", "build", "message"),
    [
        ("lower-case country", lambda: Address(country="us"), "ISO 3166-1"),
        ("weightless parcel", lambda: Parcel(weight_grams=0), "more than 0 grams"),
        (
            "negative rate",
            lambda: RateOption(id="x", name="x", price=usd("-1.00")),
            "not negative",
        ),
        (
            "days reversed",
            lambda: RateOption(id="x", name="x", price=usd("1.00"), min_days=5, max_days=2),
            "min_days <= max_days",
        ),
        ("relative page path", lambda: PageContent(path="about", body=""), "starts with '/'"),
        (
            "page type",
            lambda: PageContent(path="/", body="", content_type="text/plain"),
            "page content is one of",
        ),
        (
            "tax request kind",
            lambda: TaxRequest(
                kind="cart",
                id="1",
                currency="USD",
                lines=(),
                ship_to=Address(country="US"),
                shipping=usd("0.00"),
            ),
            "a checkout or an order",
        ),
    ],
)
def test_values_refuse_what_the_contract_forbids(_case: str, build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_every_provider_kind_names_a_runtime_checkable_interface() -> None:
    assert set(PROVIDER_INTERFACES) == set(ProviderKind)
    assert isinstance(DummyPaymentProvider(), PROVIDER_INTERFACES[ProviderKind.PAYMENT])
    assert not isinstance(object(), PROVIDER_INTERFACES[ProviderKind.PAYMENT])
    assert isinstance(DummyCatalogSource(), CatalogSource)


# -- payments -------------------------------------------------------------------------


def test_the_dummy_payment_provider_conforms() -> None:
    provider = DummyPaymentProvider()
    webhook = VerifiedWebhook(
        event_id="evt_1",
        event_type="payment.captured",
        payload={"reference": "pay_1", "amount": "24.99", "currency": "USD"},
    )

    check_payment_provider(provider, checkout=sample_checkout(), webhooks=[webhook])

    assert provider.handle_webhook(event=webhook) == [
        PaymentEvent(
            kind=PaymentEventKind.CAPTURED,
            reference="pay_1",
            provider_event_id="evt_1",
            amount=usd("24.99"),
        )
    ]


class OverCapturing(DummyPaymentProvider):
    """Lets a capture exceed what is authorized (clamping it, as buggy code does)."""

    def capture(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        state = self.fetch_status(reference=reference)
        if amount.currency == state.authorized.currency and amount > state.capturable:
            return state
        return super().capture(reference=reference, amount=amount, idempotency_key=idempotency_key)


class CurrencyBlind(DummyPaymentProvider):
    """Captures an amount in another currency as if it were the payment's."""

    def capture(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        own = self.fetch_status(reference=reference).authorized.currency
        converted = Money(amount.amount, own)
        if converted > self.fetch_status(reference=reference).capturable:
            converted = Money.from_minor_units(1, own)
        return super().capture(
            reference=reference, amount=converted, idempotency_key=idempotency_key
        )


class ForgetsKeys(DummyPaymentProvider):
    """Ignores idempotency keys on refunds: a retried refund pays out twice."""

    def refund(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        self._answers.pop(("refund", idempotency_key), None)
        return super().refund(reference=reference, amount=amount, idempotency_key=idempotency_key)


class Unvoidable(DummyPaymentProvider):
    """Says it voided, and still captures afterwards."""

    def capture(self, *, reference: str, amount: Money, idempotency_key: str) -> PaymentState:
        state = self.fetch_status(reference=reference)
        if state.status == PaymentStatus.VOIDED:
            self.payments[reference] = PaymentState(
                reference=reference,
                status=PaymentStatus.AUTHORIZED,
                authorized=state.authorized,
                captured=state.captured,
                refunded=state.refunded,
            )
        return super().capture(reference=reference, amount=amount, idempotency_key=idempotency_key)


@pytest.mark.parametrize(
    ("provider", "rule"),
    [
        (OverCapturing(), "a capture above the authorized amount is rejected (it was accepted)"),
        (CurrencyBlind(), "a capture in another currency is rejected (it was accepted)"),
        (ForgetsKeys(), "a repeated refund key refunds once"),
        (Unvoidable(), "a voided payment cannot be captured (it was accepted)"),
    ],
    ids=["over-capture", "currency", "idempotency", "void"],
)
def test_the_payment_check_catches_a_broken_provider(provider: Any, rule: str) -> None:
    with pytest.raises(ConformanceError, match=re.escape(f"PaymentProvider: {rule}")):
        check_payment_provider(provider, checkout=sample_checkout())


def test_the_dummy_payment_provider_declines_when_told() -> None:
    # given a provider set to decline, and a started payment
    provider = DummyPaymentProvider(decline=True)
    checkout = sample_checkout()
    session = provider.create_payment_session(
        checkout=checkout, amount=checkout.totals.total, idempotency_key="k1", return_url=""
    )

    # when the payment is authorized
    with pytest.raises(ProviderRejected) as declined:
        provider.authorize(
            reference=session.reference, amount=checkout.totals.total, idempotency_key="k2"
        )

    # then it is declined, terminally, and the payment failed
    assert (declined.value.code, declined.value.retryable) == ("card_declined", False)
    assert provider.fetch_status(reference=session.reference).status == PaymentStatus.FAILED


# -- shipping rates -------------------------------------------------------------------

US = Address(country="US", postal_code="10001")
DE = Address(country="DE", postal_code="10115")
PARCELS = [Parcel(weight_grams=800, length_mm=300, width_mm=200, height_mm=100)]


class Rates:
    def __init__(self, options: Any) -> None:
        self.options = options

    def rates(self, *, origin, destination, parcels, currency):
        if not parcels:
            raise ValueError("no parcels")
        return self.options(currency)


@pytest.mark.parametrize(
    ("options", "rule"),
    [
        (
            lambda c: [RateOption(id="a", name="A", price=usd("5.00"))],
            "priced in the asked currency (EUR)",
        ),
        (
            lambda c: [RateOption(id="a", name="A", price=Money(Decimal(5), c))] * 2,
            "option ids are unique",
        ),
        (lambda c: [], "at least one option"),
    ],
    ids=["currency", "duplicate ids", "empty"],
)
def test_the_shipping_check_catches_a_broken_provider(options: Any, rule: str) -> None:
    with pytest.raises(ConformanceError, match=re.escape(rule)):
        check_shipping_rate_provider(
            Rates(options), origin=US, destination=DE, parcels=PARCELS, currency="EUR"
        )


def test_the_shipping_check_catches_answers_that_change() -> None:
    prices = iter(["5.00", "6.00"])
    provider = Rates(
        lambda c: [RateOption(id="a", name="A", price=Money(Decimal(next(prices)), c))]
    )

    with pytest.raises(ConformanceError, match="the same question gets the same answer"):
        check_shipping_rate_provider(provider, origin=US, destination=DE, parcels=PARCELS)


# -- fulfillment ----------------------------------------------------------------------

SHIPMENT = ShipmentRequest(
    id="shp_1",
    order_id="ord_1",
    origin=US,
    destination=DE,
    parcels=tuple(PARCELS),
    lines=(FulfillmentLine(sku="TEE-M", quantity=2),),
)


def test_the_dummy_fulfillment_provider_conforms() -> None:
    provider = DummyFulfillmentProvider(start=datetime(2030, 1, 1, tzinfo=UTC))
    check_fulfillment_provider(provider, shipment=SHIPMENT)


class BooksTwice(DummyFulfillmentProvider):
    def create_fulfillment(self, *, shipment, idempotency_key):
        return super().create_fulfillment(
            shipment=shipment, idempotency_key=f"{idempotency_key}-{len(self.fulfillments)}"
        )


def test_the_fulfillment_check_catches_a_provider_that_books_twice() -> None:
    with pytest.raises(ConformanceError, match="a repeated create key books once"):
        check_fulfillment_provider(BooksTwice(), shipment=SHIPMENT)


# -- taxes ----------------------------------------------------------------------------

TAX_REQUEST = TaxRequest(
    kind="checkout",
    id="chk_1",
    currency="USD",
    lines=(
        TaxableLine(id="l1", quantity=2, amount=usd("39.98")),
        TaxableLine(id="l2", quantity=1, amount=usd("5.00")),
    ),
    ship_to=US,
    shipping=usd("4.99"),
)


def test_the_dummy_tax_provider_conforms_and_computes_exactly() -> None:
    provider = DummyTaxProvider(rate=Decimal("0.2"))

    check_tax_provider(provider, request=TAX_REQUEST)

    assert provider.tax_lines(request=TAX_REQUEST) == [
        TaxLine(line_id="l1", amount=usd("8.00"), rate=Decimal("0.2")),
        TaxLine(line_id="l2", amount=usd("1.00"), rate=Decimal("0.2")),
        TaxLine(line_id=SHIPPING_LINE_ID, amount=usd("1.00"), rate=Decimal("0.2")),
    ]


class ForgetsShipping(DummyTaxProvider):
    def tax_lines(self, *, request):
        return [
            line for line in super().tax_lines(request=request) if line.line_id != SHIPPING_LINE_ID
        ]


def test_the_tax_check_catches_a_missing_shipping_line() -> None:
    with pytest.raises(ConformanceError, match="one for shipping"):
        check_tax_provider(ForgetsShipping(), request=TAX_REQUEST)


# -- catalog sources and sales channels -----------------------------------------------

PRODUCTS = [
    ProductRecord(
        external_id=f"p{i}",
        title=f"Product {i}",
        variants=(VariantRecord(external_id=f"v{i}", sku=f"SKU-{i}", price=usd("9.99")),),
    )
    for i in range(5)
]
LEVELS = [InventoryRecord(sku="SKU-1", quantity=4), InventoryRecord(sku="SKU-404", quantity=1)]


def test_the_dummy_catalog_source_conforms() -> None:
    check_catalog_source(
        DummyCatalogSource(products=PRODUCTS, inventory=LEVELS, batch_size=2),
        non_empty=("products", "inventory"),
    )


class ResumesTooEarly(DummyCatalogSource):
    """Resumes at the start of the batch the cursor came from: records repeat."""

    def products(self, *, cursor: str | None = None) -> Iterator[RecordBatch[ProductRecord]]:
        if cursor:
            cursor = str(max(0, int(cursor) - 1))
        return super().products(cursor=cursor)


def test_the_catalog_check_catches_a_cursor_that_repeats_records() -> None:
    with pytest.raises(ConformanceError, match="exactly the later records"):
        check_catalog_source(ResumesTooEarly(products=PRODUCTS), streams=("products",))


def test_the_dummy_sales_channel_conforms_and_explains_rejections() -> None:
    channel = DummySalesChannelConnector()
    without_variants = ProductRecord(external_id="bare", title="Bare")

    check_sales_channel_connector(channel, products=[*PRODUCTS, without_variants], levels=LEVELS)

    assert channel.push_stock(levels=LEVELS).rejected[0].message == "unknown SKU"
    assert channel.stock == {"SKU-1": 4}


class SilentOnRejects(DummySalesChannelConnector):
    def push_catalog(self, *, products):
        return PushResult(accepted=super().push_catalog(products=products).accepted)


def test_the_sales_channel_check_catches_a_push_that_skips_records() -> None:
    with pytest.raises(ConformanceError, match="answers for each record once"):
        check_sales_channel_connector(
            SilentOnRejects(),
            products=[*PRODUCTS, ProductRecord(external_id="bare", title="Bare")],
            levels=[],
        )


# -- page content ---------------------------------------------------------------------


def test_the_dummy_page_content_provider_conforms() -> None:
    provider = DummyPageContentProvider(
        pages={"/about": "<h1>About</h1>"}, drafts={"/about": "<h1>About us</h1>"}
    )

    check_page_content_provider(provider, path="/about")

    assert provider.fetch_page(path="/about", preview=True).body == "<h1>About us</h1>"


class Soft404(DummyPageContentProvider):
    def fetch_page(self, *, path, locale="", preview=False):
        return super().fetch_page(path=path) or PageContent(path=path, body="Not found")


def test_the_page_check_catches_a_soft_404() -> None:
    with pytest.raises(ConformanceError, match="a page it has not is None"):
        check_page_content_provider(Soft404(pages={"/about": "x"}), path="/about")
