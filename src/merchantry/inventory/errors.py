"""
Inventory's errors, under the shared hierarchy::

    Conflict (409)
    ├── InsufficientStock    code ``insufficient_stock``: a reservation, allocation
    │                        or transfer asked for more than can be had
    └── VariantHasStockCommitments
                             code ``variant_has_stock_commitments``: a variant whose
                             stock checkouts hold or orders were promised cannot
                             be deleted
    ValidationFailed (422)   bad quantities, unknown locations in a body ...
    NotFound (404)           a variant or location of another shop, or none
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from merchantry.core.errors import Conflict, FieldError

__all__ = ["Commitment", "InsufficientStock", "Shortage", "VariantHasStockCommitments"]


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


@dataclass(frozen=True, slots=True)
class Commitment:
    """Stock of a variant at one location that checkouts hold or orders were promised."""

    location_id: int
    location: str
    reserved: int
    allocated: int

    def __str__(self) -> str:
        parts = []
        if self.reserved:
            parts.append(f"{self.reserved} held by checkouts")
        if self.allocated:
            parts.append(f"{self.allocated} promised to orders")
        return f"{' and '.join(parts)} at {self.location}"


class VariantHasStockCommitments(Conflict):
    """
    A variant cannot be deleted while checkouts hold or orders were promised
    some of its stock: nothing was deleted.
    """

    code = "variant_has_stock_commitments"
    title = "The variant's stock is committed"

    def __init__(self, *, variant_id: int, sku: str | None, commitments: Iterable[Commitment]):
        self.variant_id = variant_id
        self.commitments = list(commitments)
        name = f"SKU {sku}" if sku else f"variant {variant_id}"
        errors = [
            FieldError(
                ("locations", str(c.location_id)),
                f"{c.reserved} reserved, {c.allocated} allocated.",
                "variant_has_stock_commitments",
            )
            for c in self.commitments
        ]
        held = "; ".join(str(c) for c in self.commitments)
        super().__init__(
            f"{name} cannot be deleted: {held}. Archive the product instead (it leaves "
            "every channel but orders can still name it), or delete the variant once its "
            "checkouts are released and its orders shipped or cancelled.",
            errors=errors,
        )
