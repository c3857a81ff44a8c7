"""
Rate rules: what a shipping method charges, validated on save and computed
exactly (``Decimal``, at the currency's minor unit), with no database access.

A method's rule has a type and one entry per currency it is sold in (a
channel's currency picks its entry), stored as JSON on the method::

    flat       {"currency": "USD", "amount": "5.00"}
    free_over  {"currency": "USD", "amount": "5.00", "free_over": "50.00"}
    weight     {"currency": "USD", "weight_tiers": [
                   {"min_grams": 0, "max_grams": 1000, "amount": "5.00"},
                   {"min_grams": 1000, "max_grams": null, "amount": "9.00"}]}
    subtotal   {"currency": "USD", "subtotal_tiers": [
                   {"min": "0", "max": "50.00", "amount": "7.00"},
                   {"min": "50.00", "max": null, "amount": "0"}]}
    carrier    no entries: a shipping-rate provider prices it (see ``carriers``)

A tier covers ``[min, max)``: from ``min`` included up to ``max`` excluded,
so a value exactly at an edge belongs to the tier above; ``max`` null is
open-ended (only the last tier). Tiers are given in ascending order, start at
0 and follow each other with no gap and no overlap. ``free_over`` is free
from the threshold included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.core.money import Money, minor_unit_exponent
from merchantry.core.validators import is_currency

__all__ = [
    "MAX_TIERS",
    "CurrencyRate",
    "RateType",
    "Refusal",
    "Tier",
    "clean_amount",
    "clean_rates",
    "compute_rate",
    "parse_rates",
]

MAX_TIERS = 50
MAX_AMOUNT = Decimal(10) ** 11
MAX_GRAMS = 10**9


class RateType(StrEnum):
    FLAT = "flat"
    WEIGHT = "weight"
    SUBTOTAL = "subtotal"
    FREE_OVER = "free_over"
    CARRIER = "carrier"


RATE_TYPE_LABELS = {
    RateType.FLAT: "Flat rate per order",
    RateType.WEIGHT: "By weight (tiers)",
    RateType.SUBTOTAL: "By order subtotal (tiers)",
    RateType.FREE_OVER: "Flat, free from a subtotal",
    RateType.CARRIER: "Carrier-calculated (plugin)",
}


@dataclass(frozen=True, slots=True)
class Tier:
    """``amount`` for values in ``[low, high)``; ``high`` None is open-ended."""

    low: Decimal
    high: Decimal | None
    amount: Decimal

    def covers(self, value: Decimal) -> bool:
        return self.low <= value and (self.high is None or value < self.high)


@dataclass(frozen=True, slots=True)
class CurrencyRate:
    """A rule's entry for one currency."""

    currency: str
    amount: Decimal | None = None
    free_over: Decimal | None = None
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a method cannot ship this order: a stable ``code`` and a sentence."""

    code: str
    message: str


# -- validation -----------------------------------------------------------------------


def _fail(loc: tuple[str | int, ...], message: str, code: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(loc, message, code)])


def clean_amount(value: Any, currency: str, loc: tuple[str | int, ...]) -> Decimal:
    """
    Return ``value`` as an exact amount of ``currency``, or raise a 422 at
    ``loc``: not a number (floats refused), negative, too large, or with more
    decimals than the currency has.
    """
    if isinstance(value, float | bool) or value is None:
        raise _fail(loc, 'Give the amount as a decimal string, e.g. "4.99".', "not_a_number")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _fail(loc, "Not a number.", "not_a_number") from None
    if not amount.is_finite():
        raise _fail(loc, "Not a number.", "not_a_number")
    if amount < 0:
        raise _fail(loc, "Must not be negative.", "negative")
    if amount >= MAX_AMOUNT:
        raise _fail(loc, "Too large.", "too_large")
    try:
        return Money(amount, currency).amount
    except ValueError:
        places = minor_unit_exponent(currency)
        raise _fail(
            loc, f"{currency} amounts have at most {places} decimal places.", "too_many_decimals"
        ) from None


def _grams(value: Any, loc: tuple[str | int, ...]) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(loc, "Give a whole number of grams.", "not_an_integer")
    if value < 0:
        raise _fail(loc, "Must not be negative.", "negative")
    if value > MAX_GRAMS:
        raise _fail(loc, "Too large.", "too_large")
    return Decimal(value)


def _check_sequence(tiers: list[Tier], loc: tuple[str | int, ...]) -> None:
    """Raise unless ``tiers`` start at 0 and follow each other, sorted, without gap or overlap."""
    if not tiers:
        raise _fail(loc, "Give at least one tier.", "required")
    if len(tiers) > MAX_TIERS:
        raise _fail(loc, f"At most {MAX_TIERS} tiers.", "too_many")
    for index, tier in enumerate(tiers):
        here = (*loc, index)
        if tier.high is not None and tier.high <= tier.low:
            raise _fail(here, "A tier's max is above its min.", "empty_tier")
        if index == 0:
            if tier.low != 0:
                raise _fail(
                    here, "The first tier starts at 0: values below it are not priced.", "gap"
                )
            continue
        before = tiers[index - 1]
        if tier.low < before.low:
            raise _fail(here, "Give the tiers in ascending order.", "not_sorted")
        if before.high is None or tier.low < before.high:
            raise _fail(here, "This tier overlaps the one before it.", "overlap")
        if tier.low > before.high:
            raise _fail(
                here,
                f"Gap: nothing covers {before.high} up to {tier.low}; start this tier "
                "where the one before ends.",
                "gap",
            )


def _weight_tiers(raw: Any, currency: str, loc: tuple[str | int, ...]) -> list[Tier]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise _fail(loc, "Give a list of tiers.", "required")
    tiers = []
    for index, item in enumerate(raw):
        here = (*loc, index)
        if not isinstance(item, Mapping):
            raise _fail(here, "A tier is an object.", "invalid")
        high = item.get("max_grams")
        tiers.append(
            Tier(
                low=_grams(item.get("min_grams"), (*here, "min_grams")),
                high=None if high is None else _grams(high, (*here, "max_grams")),
                amount=clean_amount(item.get("amount"), currency, (*here, "amount")),
            )
        )
    _check_sequence(tiers, loc)
    return tiers


def _subtotal_tiers(raw: Any, currency: str, loc: tuple[str | int, ...]) -> list[Tier]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise _fail(loc, "Give a list of tiers.", "required")
    tiers = []
    for index, item in enumerate(raw):
        here = (*loc, index)
        if not isinstance(item, Mapping):
            raise _fail(here, "A tier is an object.", "invalid")
        high = item.get("max")
        tiers.append(
            Tier(
                low=clean_amount(item.get("min"), currency, (*here, "min")),
                high=None if high is None else clean_amount(high, currency, (*here, "max")),
                amount=clean_amount(item.get("amount"), currency, (*here, "amount")),
            )
        )
    _check_sequence(tiers, loc)
    return tiers


_FIELDS = {
    RateType.FLAT: {"amount"},
    RateType.FREE_OVER: {"amount", "free_over"},
    RateType.WEIGHT: {"weight_tiers"},
    RateType.SUBTOTAL: {"subtotal_tiers"},
    RateType.CARRIER: set(),
}
_ALL_FIELDS = {"amount", "free_over", "weight_tiers", "subtotal_tiers"}


def _json_tier(tier: Tier, *, grams: bool) -> dict[str, Any]:
    if grams:
        return {
            "min_grams": int(tier.low),
            "max_grams": None if tier.high is None else int(tier.high),
            "amount": str(tier.amount),
        }
    return {
        "min": str(tier.low),
        "max": None if tier.high is None else str(tier.high),
        "amount": str(tier.amount),
    }


def clean_rates(rate_type: str, rates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """
    Return a rule's per-currency entries validated and normalized for
    storage, or raise :class:`ValidationFailed` at the offending entry
    (``("rates", index, field, ...)``). Nothing is sorted silently.
    """
    kind = RateType(rate_type)
    wanted = _FIELDS[kind]
    if kind == RateType.CARRIER:
        if rates:
            raise _fail(("rates",), "A carrier-calculated method takes no rates.", "not_allowed")
        return []
    if not rates:
        raise _fail(("rates",), "Give the rate for at least one currency.", "required")
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(rates):
        loc: tuple[str | int, ...] = ("rates", index)
        currency = str(entry.get("currency") or "").strip().upper()
        if not is_currency(currency):
            raise _fail((*loc, "currency"), "Not an ISO 4217 currency code.", "currency")
        if currency in seen:
            raise _fail((*loc, "currency"), "One entry per currency.", "duplicate")
        seen.add(currency)
        for name in sorted(_ALL_FIELDS - wanted):
            if entry.get(name) is not None:
                raise _fail((*loc, name), f"A {kind.value} rate has no {name}.", "not_allowed")
        row: dict[str, Any] = {"currency": currency}
        if "amount" in wanted:
            row["amount"] = str(clean_amount(entry.get("amount"), currency, (*loc, "amount")))
        if "free_over" in wanted:
            row["free_over"] = str(
                clean_amount(entry.get("free_over"), currency, (*loc, "free_over"))
            )
        if "weight_tiers" in wanted:
            tiers = _weight_tiers(entry.get("weight_tiers"), currency, (*loc, "weight_tiers"))
            row["weight_tiers"] = [_json_tier(t, grams=True) for t in tiers]
        if "subtotal_tiers" in wanted:
            tiers = _subtotal_tiers(entry.get("subtotal_tiers"), currency, (*loc, "subtotal_tiers"))
            row["subtotal_tiers"] = [_json_tier(t, grams=False) for t in tiers]
        cleaned.append(row)
    return cleaned


# -- computation ------------------------------------------------------------------------


def _tier(raw: Mapping[str, Any], low: str, high: str) -> Tier:
    top = raw.get(high)
    return Tier(
        low=Decimal(str(raw[low])),
        high=None if top is None else Decimal(str(top)),
        amount=Decimal(str(raw["amount"])),
    )


def parse_rates(stored: Sequence[Mapping[str, Any]]) -> dict[str, CurrencyRate]:
    """Return the stored (already cleaned) entries by currency."""
    parsed = {}
    for entry in stored:
        currency = entry["currency"]
        tiers: list[Tier] = []
        if entry.get("weight_tiers"):
            tiers = [_tier(t, "min_grams", "max_grams") for t in entry["weight_tiers"]]
        elif entry.get("subtotal_tiers"):
            tiers = [_tier(t, "min", "max") for t in entry["subtotal_tiers"]]
        parsed[currency] = CurrencyRate(
            currency=currency,
            amount=None if entry.get("amount") is None else Decimal(entry["amount"]),
            free_over=None if entry.get("free_over") is None else Decimal(entry["free_over"]),
            tiers=tuple(tiers),
        )
    return parsed


def compute_rate(
    rate_type: str,
    rates: Mapping[str, CurrencyRate],
    *,
    currency: str,
    weight_grams: int,
    subtotal: Decimal,
) -> Money | Refusal:
    """
    Return what the rule charges for an order of ``weight_grams`` and
    ``subtotal`` (in ``currency``), or why it cannot price it. Not for
    carrier-calculated rules.
    """
    kind = RateType(rate_type)
    rate = rates.get(currency)
    if rate is None:
        return Refusal("no_price", f"This method has no price in {currency}.")
    if kind == RateType.FLAT:
        return Money(rate.amount or Decimal(0), currency)
    if kind == RateType.FREE_OVER:
        if rate.free_over is not None and subtotal >= rate.free_over:
            return Money.zero(currency)
        return Money(rate.amount or Decimal(0), currency)
    if kind in (RateType.WEIGHT, RateType.SUBTOTAL):
        value = Decimal(weight_grams) if kind == RateType.WEIGHT else subtotal
        for tier in rate.tiers:
            if tier.covers(value):
                return Money(tier.amount, currency)
        if kind == RateType.WEIGHT:
            return Refusal("no_weight_tier", f"No weight tier covers {weight_grams} g.")
        return Refusal("no_subtotal_tier", f"No subtotal tier covers {subtotal} {currency}.")
    raise ValueError(f"compute_rate does not price {kind} rules")
