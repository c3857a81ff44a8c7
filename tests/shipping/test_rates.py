"""Rate rules: validated on save, computed exactly at every edge, in USD, JPY, BHD and KWD."""

from __future__ import annotations

from decimal import Decimal

import pytest

from merchantry.core.errors import ValidationFailed
from merchantry.core.money import Money
from merchantry.shipping.rates import Refusal, clean_rates, compute_rate, parse_rates

D = Decimal


def price(rate_type: str, rates: list[dict], *, currency="USD", grams=0, subtotal="0"):
    return compute_rate(
        rate_type,
        parse_rates(clean_rates(rate_type, rates)),
        currency=currency,
        weight_grams=grams,
        subtotal=D(subtotal),
    )


def refused(rate_type: str, rates: list[dict]) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationFailed) as exc:
        clean_rates(rate_type, rates)
    return [(e.loc, e.code) for e in exc.value.errors]


WEIGHT = [
    {"min_grams": 0, "max_grams": 1000, "amount": "5.00"},
    {"min_grams": 1000, "max_grams": 5000, "amount": "9.50"},
    {"min_grams": 5000, "max_grams": None, "amount": "20.00"},
]
SUBTOTAL = [
    {"min": "0", "max": "50.00", "amount": "7.00"},
    {"min": "50.00", "max": "100.00", "amount": "3.00"},
    {"min": "100.00", "max": None, "amount": "0"},
]


# -- each rule -----------------------------------------------------------------------


def test_flat() -> None:
    rates = [{"currency": "USD", "amount": "4.99"}, {"currency": "EUR", "amount": "4.50"}]

    assert price("flat", rates, grams=123_456, subtotal="999") == Money(D("4.99"), "USD")
    assert price("flat", rates, currency="EUR") == Money(D("4.50"), "EUR")


@pytest.mark.parametrize(
    ("grams", "expected"),
    [
        (0, "5.00"),  # zero-weight items fall in the first tier
        (999, "5.00"),
        (1000, "9.50"),  # exactly at an edge: the tier above
        (4999, "9.50"),
        (5000, "20.00"),
        (10**8, "20.00"),  # the last tier is open-ended
    ],
)
def test_weight_tiers(grams, expected) -> None:
    rates = [{"currency": "USD", "weight_tiers": WEIGHT}]

    assert price("weight", rates, grams=grams) == Money(D(expected), "USD")


def test_weight_beyond_a_closed_last_tier_is_refused_with_a_reason() -> None:
    rates = [{"currency": "USD", "weight_tiers": WEIGHT[:2]}]

    result = price("weight", rates, grams=5000)

    assert result == Refusal("no_weight_tier", "No weight tier covers 5000 g.")


@pytest.mark.parametrize(
    ("subtotal", "expected"),
    [("0", "7.00"), ("49.99", "7.00"), ("50.00", "3.00"), ("99.99", "3.00"), ("100.00", "0.00")],
)
def test_subtotal_tiers(subtotal, expected) -> None:
    rates = [{"currency": "USD", "subtotal_tiers": SUBTOTAL}]

    assert price("subtotal", rates, subtotal=subtotal) == Money(D(expected), "USD")


@pytest.mark.parametrize(
    ("subtotal", "expected"), [("0", "6.00"), ("74.99", "6.00"), ("75.00", "0"), ("75.01", "0")]
)
def test_free_from_a_threshold(subtotal, expected) -> None:
    rates = [{"currency": "USD", "amount": "6.00", "free_over": "75.00"}]

    result = price("free_over", rates, subtotal=subtotal)

    assert result == Money(D(expected), "USD")
    assert str(result.amount) == ("6.00" if expected != "0" else "0.00")


def test_a_currency_without_an_entry_is_refused_with_a_reason() -> None:
    result = price("flat", [{"currency": "USD", "amount": "5"}], currency="EUR")

    assert result == Refusal("no_price", "This method has no price in EUR.")


# -- currencies with 0 and 3 decimals ------------------------------------------------


def test_jpy_has_no_minor_unit() -> None:
    rates = [
        {
            "currency": "JPY",
            "weight_tiers": [
                {"min_grams": 0, "max_grams": 2000, "amount": "800"},
                {"min_grams": 2000, "max_grams": None, "amount": "1500"},
            ],
        }
    ]

    assert price("weight", rates, currency="JPY", grams=2000) == Money(D(1500), "JPY")
    assert str(price("weight", rates, currency="JPY", grams=1).amount) == "800"
    assert refused("flat", [{"currency": "JPY", "amount": "800.5"}]) == [
        (("rates", 0, "amount"), "too_many_decimals")
    ]


@pytest.mark.parametrize("currency", ["BHD", "KWD"])
def test_three_decimal_currencies_are_exact(currency) -> None:
    rates = [
        {
            "currency": currency,
            "subtotal_tiers": [
                {"min": "0", "max": "10.005", "amount": "1.250"},
                {"min": "10.005", "max": None, "amount": "0.125"},
            ],
        }
    ]

    below = price("subtotal", rates, currency=currency, subtotal="10.004")
    edge = price("subtotal", rates, currency=currency, subtotal="10.005")

    assert (str(below.amount), str(edge.amount)) == ("1.250", "0.125")
    assert refused("flat", [{"currency": currency, "amount": "1.2505"}]) == [
        (("rates", 0, "amount"), "too_many_decimals")
    ]
    free = [{"currency": currency, "amount": "2.500", "free_over": "20.000"}]
    assert price("free_over", free, currency=currency, subtotal="19.999").amount == D("2.500")
    assert price("free_over", free, currency=currency, subtotal="20.000").amount == 0


def test_stored_entries_are_normalized() -> None:
    cleaned = clean_rates(
        "subtotal",
        [{"currency": "usd", "subtotal_tiers": [{"min": "0", "max": None, "amount": "5"}]}],
    )

    assert cleaned == [
        {"currency": "USD", "subtotal_tiers": [{"min": "0.00", "max": None, "amount": "5.00"}]}
    ]


# -- validation ----------------------------------------------------------------------


def _tiers(*ranges):
    return [
        {
            "currency": "USD",
            "weight_tiers": [
                {"min_grams": low, "max_grams": high, "amount": "1"} for low, high in ranges
            ],
        }
    ]


@pytest.mark.parametrize(
    ("ranges", "index", "code"),
    [
        (((0, 1000), (900, 2000)), 1, "overlap"),
        (((0, 1000), (1200, 2000)), 1, "gap"),
        (((100, 1000),), 0, "gap"),  # the first tier starts at 0
        (((0, 1000), (1000, None), (2000, 3000)), 2, "overlap"),  # open-ended, not last
        (((0, 1000), (1000, 1000)), 1, "empty_tier"),
        (((0, 2000), (1000, 3000), (0, 1000)), 1, "overlap"),
        (((0, 1000), (1000, 2000), (0, 500)), 2, "not_sorted"),
    ],
)
def test_tiers_with_gaps_or_overlaps_are_refused(ranges, index, code) -> None:
    assert refused("weight", _tiers(*ranges)) == [(("rates", 0, "weight_tiers", index), code)]


def test_negative_values_are_refused() -> None:
    assert refused("flat", [{"currency": "USD", "amount": "-1.00"}]) == [
        (("rates", 0, "amount"), "negative")
    ]
    assert refused("weight", _tiers((-5, 100))) == [
        (("rates", 0, "weight_tiers", 0, "min_grams"), "negative")
    ]
    assert refused(
        "subtotal",
        [{"currency": "USD", "subtotal_tiers": [{"min": "0", "max": None, "amount": "-2"}]}],
    ) == [(("rates", 0, "subtotal_tiers", 0, "amount"), "negative")]
    assert refused("free_over", [{"currency": "USD", "amount": "5", "free_over": "-50"}]) == [
        (("rates", 0, "free_over"), "negative")
    ]


@pytest.mark.parametrize("bad", ["NaN", "1e400", "abc", 1.5, True, None, "Infinity"])
def test_amounts_that_are_not_exact_numbers_are_refused(bad) -> None:
    codes = refused("flat", [{"currency": "USD", "amount": bad}])

    assert codes[0][0] == ("rates", 0, "amount")
    assert codes[0][1] in {"not_a_number", "too_large"}


def test_entries_fit_the_rule() -> None:
    assert refused("flat", []) == [(("rates",), "required")]
    assert refused(
        "flat", [{"currency": "USD", "amount": "1"}, {"currency": "USD", "amount": "2"}]
    ) == [(("rates", 1, "currency"), "duplicate")]
    assert refused("flat", [{"currency": "XYZ", "amount": "1"}]) == [
        (("rates", 0, "currency"), "currency")
    ]
    assert refused("flat", [{"currency": "USD", "amount": "1", "weight_tiers": []}]) == [
        (("rates", 0, "weight_tiers"), "not_allowed")
    ]
    assert refused("weight", [{"currency": "USD", "weight_tiers": []}]) == [
        (("rates", 0, "weight_tiers"), "required")
    ]
    assert refused("carrier", [{"currency": "USD", "amount": "1"}]) == [(("rates",), "not_allowed")]
    assert refused("weight", _tiers((0, 1.5))) == [
        (("rates", 0, "weight_tiers", 0, "max_grams"), "not_an_integer")
    ]
