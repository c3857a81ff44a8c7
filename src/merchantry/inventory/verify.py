"""
The ledger check: every stock level equals the sums of its ledger rows, and
its ``reserved`` and ``allocated`` buckets equal what the reservation and
allocation lines hold (``merchantry inventory verify``).

The ledger rows of deleted variants (``variant`` NULL) have no level left to
match: each deleted variant's rows were closed to zero (reason ``delete``),
so per shop and location they must sum to zero, and are reported as a
mismatch with ``variant_id`` None when they do not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import F, Sum

from merchantry.inventory.models import (
    AllocationLine,
    LineStatus,
    ReservationLine,
    StockLevel,
    StockMovement,
)
from merchantry.tenancy.models import Shop

__all__ = ["Mismatch", "verify_ledger"]

_BUCKETS = ("on_hand", "reserved", "allocated")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One bucket of one level that disagrees with what it should be."""

    shop_id: int
    variant_id: int | None
    """None for the rows of deleted variants, checked together per location."""
    location_id: int
    bucket: str
    level: int | None
    """The level's value; None when the ledger has rows for a level that does not exist."""
    expected: int
    source: str
    """What disagrees: ``ledger``, ``reservations`` or ``allocations``."""

    def __str__(self) -> str:
        level = "no level" if self.level is None else f"level {self.level}"
        variant = "deleted variants" if self.variant_id is None else f"variant {self.variant_id}"
        return (
            f"shop {self.shop_id} {variant} location {self.location_id}: "
            f"{self.bucket} {level}, {self.source} {self.expected}"
        )


def verify_ledger(*, shop: Shop | None = None) -> tuple[int, list[Mismatch]]:
    """Return how many levels were checked, and every mismatch found."""
    levels = StockLevel.objects.all()
    movements = StockMovement.objects.all()
    holds = ReservationLine.objects.filter(status=LineStatus.ACTIVE)
    promises = AllocationLine.objects.all()
    if shop is not None:
        levels, movements = levels.for_shop(shop), movements.for_shop(shop)
        holds, promises = holds.for_shop(shop), promises.for_shop(shop)
    sums: dict[tuple[int, int | None, int], dict[str, int]] = {}
    for row in movements.values("shop_id", "variant_id", "location_id").annotate(
        on_hand=Sum("on_hand_delta"),
        reserved=Sum("reserved_delta"),
        allocated=Sum("allocated_delta"),
    ):
        sums[(row["shop_id"], row["variant_id"], row["location_id"])] = row
    held: dict[int, int] = defaultdict(int)
    for level_id, total in (
        holds.values("level_id").annotate(t=Sum("quantity")).values_list("level_id", "t")
    ):
        held[level_id] = total or 0
    promised: dict[int, int] = defaultdict(int)
    for level_id, total in (
        promises.values("level_id")
        .annotate(t=Sum(F("quantity") - F("shipped") - F("deallocated")))
        .values_list("level_id", "t")
    ):
        promised[level_id] = total or 0
    mismatches: list[Mismatch] = []
    checked = 0
    for level in levels.order_by("pk").iterator(chunk_size=2000):
        checked += 1
        key = (level.shop_id, level.variant_id, level.location_id)
        ledger = sums.pop(key, {})
        for bucket in _BUCKETS:
            value, expected = getattr(level, bucket), ledger.get(bucket) or 0
            if value != expected:
                mismatches.append(Mismatch(*key, bucket, value, expected, "ledger"))
        for bucket, source, expected in (
            ("reserved", "reservations", held.get(level.pk, 0)),
            ("allocated", "allocations", promised.get(level.pk, 0)),
        ):
            if getattr(level, bucket) != expected:
                mismatches.append(Mismatch(*key, bucket, getattr(level, bucket), expected, source))
    for key, ledger in sums.items():
        for bucket in _BUCKETS:
            if ledger.get(bucket):
                mismatches.append(Mismatch(*key, bucket, None, ledger[bucket], "ledger"))
    return checked, mismatches
