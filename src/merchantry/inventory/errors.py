"""
Inventory's errors, under the shared hierarchy::

    Conflict (409)
    └── InsufficientStock    code ``insufficient_stock``: a reservation, allocation
                             or transfer asked for more than can be had
    ValidationFailed (422)   bad quantities, unknown locations in a body ...
    NotFound (404)           a variant or location of another shop, or none
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from merchantry.core.errors import Conflict, FieldError

__all__ = ["InsufficientStock", "Shortage"]


@dataclass(frozen=True, slots=True)
class Shortage:
    """One variant that cannot be had in the quantity asked for."""

    variant_id: int
    sku: str | None
    requested: int
    available: int | None
    loc: tuple[str | int, ...] = ()


class InsufficientStock(Conflict):
    """Not enough stock for every line: nothing was reserved, allocated or moved."""

    code = "insufficient_stock"
    title = "Insufficient stock"

    def __init__(self, shortages: Iterable[Shortage], *, detail: str | None = None) -> None:
        self.shortages = list(shortages)
        errors = [
            FieldError(
                s.loc or ("variant", str(s.variant_id)),
                f"{s.requested} requested, {s.available} available."
                if s.available is not None
                else f"{s.requested} requested.",
                "insufficient_stock",
            )
            for s in self.shortages
        ]
        names = ", ".join(s.sku or f"variant {s.variant_id}" for s in self.shortages)
        super().__init__(detail or f"Not enough stock of {names}.", errors=errors)
