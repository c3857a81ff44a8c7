"""
Money: a ``Decimal`` amount and an ISO 4217 currency, exact at the minor unit.

An amount is exact at its currency's minor unit (2 decimals for USD, 0 for
JPY, 3 for BHD; babel knows them). Constructing ``Money`` normalizes the
exponent (``Decimal("5")`` USD becomes ``5.00``) but never rounds silently:
an amount with more decimals than the currency has raises ``ValueError``;
use :meth:`Money.rounded` when rounding is intended. Floats are refused,
because ``0.1 + 0.2`` is not ``0.3``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision

from merchantry.core.validators import is_currency

__all__ = ["Money", "minor_unit_exponent"]


@functools.cache
def minor_unit_exponent(currency: str) -> int:
    """Return how many decimals ``currency`` has (2 for USD, 0 for JPY)."""
    if not is_currency(currency):
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
    return int(get_currency_precision(currency))


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit_exponent(currency))


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency; arithmetic across currencies raises ValueError."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money.amount is a Decimal, not {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise ValueError("Money.amount is a finite number")
        quantum = _quantum(self.currency)
        try:
            exact = self.amount.quantize(quantum)
        except InvalidOperation:  # more digits than the context allows
            raise ValueError(f"{self.amount} is too large an amount") from None
        if exact != self.amount:
            raise ValueError(
                f"{self.amount} {self.currency} has more decimals than {self.currency} allows "
                f"({minor_unit_exponent(self.currency)}); round it with Money.rounded()"
            )
        object.__setattr__(self, "amount", exact)

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def rounded(cls, amount: Decimal, currency: str, *, rounding: str = ROUND_HALF_UP) -> Money:
        """Return ``amount`` rounded to ``currency``'s minor unit (half up by default)."""
        if not isinstance(amount, Decimal):
            raise TypeError(f"Money.amount is a Decimal, not {type(amount).__name__}")
        return cls(amount.quantize(_quantum(currency), rounding=rounding), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: str) -> Money:
        """Return the amount a provider gave in minor units (cents): 1999 USD -> 19.99."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError("minor units are an int")
        return cls(Decimal(units).scaleb(-minor_unit_exponent(currency)), currency)

    def to_minor_units(self) -> int:
        """Return the amount in minor units (cents), as providers such as Stripe want it."""
        return int(self.amount.scaleb(minor_unit_exponent(self.currency)))

    def as_json(self) -> dict[str, str]:
        """Return the API shape: ``{"amount": "19.99", "currency": "USD"}``."""
        return {"amount": str(self.amount), "currency": self.currency}

    # -- arithmetic -----------------------------------------------------------------

    def _check(self, other: Any) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._check(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._check(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, quantity: int) -> Money:
        """Multiply by a whole quantity (exact); for rates, use :meth:`rounded`."""
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise TypeError("Money is multiplied by an int quantity; use Money.rounded for rates")
        return Money(self.amount * quantity, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._check(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._check(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._check(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._check(other).amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
