"""
The one way stock levels change: a :class:`StockBatch`.

A batch, inside the service's transaction:

1. **locks** every level it will touch, once, with ``SELECT ... FOR UPDATE``
   in primary-key order (missing levels are inserted first, in key order), so
   concurrent batches queue on the same rows in the same order and cannot
   deadlock; the global order is reservation or allocation row, then levels,
   then their lines, then channel listings;
2. **moves** buckets with one guarded ``UPDATE`` per level:
   ``SET reserved = reserved + n WHERE id = ? AND on_hand >= reserved +
   allocated + n - limit``; the new values are computed by the database from
   the row it holds, never written back from Python; a guard that matches no
   row aborts the whole transaction;
3. **records** every move as a ledger row (``StockMovement``), then raises the
   low-stock events of levels that fell to their threshold and refreshes the
   ``in_stock`` flag of the listings whose availability may have flipped.

On SQLite, where ``FOR UPDATE`` does not exist, the transaction itself is the
lock: Merchantry opens SQLite transactions with ``BEGIN IMMEDIATE``, so a
batch reads and writes with the database's single write lock held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import OperationalError, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Least
from django.utils import timezone

from merchantry.catalog.models import ProductVariant
from merchantry.core.actors import Actor
from merchantry.core.events import record_event
from merchantry.core.logging import get_logger
from merchantry.inventory.availability import refresh_in_stock
from merchantry.inventory.errors import InsufficientStock, Shortage
from merchantry.inventory.models import (
    LineStatus,
    MovementReason,
    ReservationLine,
    StockLevel,
    StockMovement,
)
from merchantry.tenancy.models import Shop

__all__ = ["LOW_STOCK_EVENT", "StockBatch", "VariantInfo", "actor_key", "variant_infos"]

LOW_STOCK_EVENT = "inventory.low_stock"
logger = get_logger(__name__)
Key = tuple[int, int]  # (variant id, location id)


def actor_key(actor: Actor | str | None) -> str:
    """Return what the ledger stores as the actor (``user:12``, ``system``)."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:255]
    return actor.key[:255]


@dataclass(frozen=True, slots=True)
class VariantInfo:
    """What stock changes need to know about a variant."""

    pk: int
    product_id: int
    sku: str | None
    track_inventory: bool
    allow_backorder: bool


def variant_infos(
    variant_ids: Iterable[int], *, shop: Shop | None = None
) -> dict[int, VariantInfo]:
    """Load :class:`VariantInfo` of ``variant_ids`` (of ``shop``, when given) in one query."""
    queryset = ProductVariant.objects.filter(pk__in=sorted(set(variant_ids)))
    if shop is not None:
        queryset = queryset.for_shop(shop)
    return {
        row[0]: VariantInfo(*row)
        for row in queryset.values_list(
            "pk", "product_id", "sku", "track_inventory", "allow_backorder"
        )
    }


def _state(level: StockLevel, info: VariantInfo) -> tuple[bool, bool]:
    """What availability can see of a level: stock to sell, room to backorder."""
    available = level.available
    limit = level.backorder_limit if info.allow_backorder else 0
    return available > 0, limit is None or available > -limit


class StockBatch:
    """
    The levels one service call changes, locked, and the changes made so far.

    Use it inside ``transaction.atomic()``: :meth:`lock` once, :meth:`move`
    as often as needed, :meth:`finish` once.
    """

    def __init__(
        self,
        *,
        shop: Shop,
        actor: Actor | str | None,
        now: datetime | None = None,
        variants: Mapping[int, VariantInfo] | None = None,
    ) -> None:
        self.shop = shop
        self.actor = actor_key(actor)
        self.now = now or timezone.now()
        self.variants: dict[int, VariantInfo] = dict(variants or {})
        self.levels: dict[Key, StockLevel] = {}
        self._before: dict[int, tuple[bool, bool]] = {}
        self._movements: list[StockMovement] = []
        self._touched: dict[int, StockLevel] = {}
        self._locked = False

    # -- locking ----------------------------------------------------------------------

    def lock(self, keys: Iterable[Key], *, create: Iterable[Key] = ()) -> dict[Key, StockLevel]:
        """
        Lock the existing levels of ``keys`` (and create those of ``create``
        first); return them by key. Call once per batch: locks taken in two
        rounds would no longer be in one order.
        """
        if self._locked:
            raise RuntimeError("A StockBatch locks its levels once.")
        self._locked = True
        wanted = set(keys) | set(create)
        missing = sorted(set(create))
        if missing:
            # Inserted before any level is locked, in key order: two batches
            # creating the same level wait for each other here, holding no level.
            StockLevel.objects.bulk_create(
                [StockLevel(shop=self.shop, variant_id=v, location_id=loc) for v, loc in missing],
                ignore_conflicts=True,
            )
        if not wanted:
            return {}
        expired = ReservationLine.objects.filter(
            level=OuterRef("pk"), status=LineStatus.ACTIVE, expires_at__lte=self.now
        )
        rows = (
            StockLevel.objects.for_shop(self.shop)
            .filter(
                variant_id__in=sorted({v for v, _ in wanted}),
                location_id__in=sorted({loc for _, loc in wanted}),
            )
            # A hint, read with the lock, that spares most batches the query
            # for expired holds (the query itself decides what is released).
            .annotate(has_expired_holds=Exists(expired))
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        for level in rows:
            self.levels[(level.variant_id, level.location_id)] = level
        unknown = {v for v, _ in self.levels} - set(self.variants)
        if unknown:
            self.variants.update(variant_infos(unknown))
        for level in self.levels.values():
            self._before[level.pk] = _state(level, self.variants[level.variant_id])
        return {key: level for key, level in self.levels.items() if key in wanted}

    def level(self, variant_id: int, location_id: int) -> StockLevel | None:
        return self.levels.get((variant_id, location_id))

    # -- expired holds -------------------------------------------------------------------

    def release_expired(self) -> int:
        """
        Give back the holds of expired reservations at the locked levels (the
        periodic job would do it later; a buyer who needs the stock now need
        not wait). Return the units released.
        """
        by_pk = {
            level.pk: level
            for level in self.levels.values()
            if getattr(level, "has_expired_holds", True)
        }
        if not by_pk:
            return 0
        lines = list(
            ReservationLine.objects.filter(
                level_id__in=sorted(by_pk), status=LineStatus.ACTIVE, expires_at__lte=self.now
            )
            .select_for_update()
            .order_by("pk")
        )
        if not lines:
            return 0
        for line in lines:
            self.move(
                by_pk[line.level_id],
                reserved=-line.quantity,
                reason=MovementReason.RELEASE,
                reference=f"reservation:{line.reservation_id}",
                note="expired",
            )
        ReservationLine.objects.filter(pk__in=[line.pk for line in lines]).update(
            status=LineStatus.RELEASED
        )
        return sum(line.quantity for line in lines)

    # -- moving -------------------------------------------------------------------------

    def move(
        self,
        level: StockLevel,
        *,
        on_hand: int = 0,
        reserved: int = 0,
        allocated: int = 0,
        reason: str,
        reference: str = "",
        note: str = "",
        correction: bool = False,
        backorder: bool = True,
    ) -> None:
        """
        Change ``level``'s buckets by the deltas, guarded, and record it.

        A change that lowers the available quantity may take it down to the
        variant's backorder limit (to zero when it allows none, or when
        ``backorder`` is False); a ``correction`` (a count, an adjustment)
        records reality even below that, moving the level's floor down to the
        shortfall. Raise :class:`InsufficientStock` (and change nothing) when
        the guard refuses.
        """
        if not (on_hand or reserved or allocated):
            return
        info = self.variants[level.variant_id]
        delta_available = on_hand - reserved - allocated
        guard = Q(pk=level.pk)
        for field, delta in (
            ("on_hand", on_hand),
            ("reserved", reserved),
            ("allocated", allocated),
        ):
            if delta < 0:
                guard &= Q(**{f"{field}__gte": -delta})
        updates: dict[str, Any] = {"updated_at": self.now}
        if on_hand:
            updates["on_hand"] = F("on_hand") + on_hand
        if reserved:
            updates["reserved"] = F("reserved") + reserved
        if allocated:
            updates["allocated"] = F("allocated") + allocated
        new_floor: Any = level.available_floor
        if delta_available < 0:
            limit = level.backorder_limit if (info.allow_backorder and backorder) else 0
            new_available = level.available + delta_available
            if limit is None:
                updates["available_floor"] = new_floor = None
            elif correction:
                # Reality wins: the floor moves down to the shortfall, computed
                # by the database from the row it holds.
                updates["available_floor"] = Least(
                    Value(-limit),
                    F("on_hand") + on_hand - F("reserved") - reserved - F("allocated") - allocated,
                )
                new_floor = min(-limit, new_available)
            else:
                guard &= Q(on_hand__gte=F("reserved") + F("allocated") - delta_available - limit)
                updates["available_floor"] = new_floor = -limit
        if StockLevel.objects.filter(guard).update(**updates) != 1:
            raise InsufficientStock(
                [Shortage(info.pk, info.sku, -delta_available, max(level.available, 0))]
            )
        level.on_hand += on_hand
        level.reserved += reserved
        level.allocated += allocated
        level.available_floor = new_floor
        self._touched[level.pk] = level
        self._movements.append(
            StockMovement(
                shop=self.shop,
                variant_id=level.variant_id,
                sku=info.sku,
                location_id=level.location_id,
                on_hand_delta=on_hand,
                reserved_delta=reserved,
                allocated_delta=allocated,
                reason=reason,
                actor=self.actor,
                reference=reference[:255],
                note=note[:500],
            )
        )

    # -- finishing ------------------------------------------------------------------------

    def finish(self, *, refresh_all: bool = False) -> list[StockMovement]:
        """
        Write the ledger rows, raise low-stock events, and refresh ``in_stock``
        of the listings whose availability may have flipped (of every listing
        of the touched variants with ``refresh_all``: staff corrections, rare
        enough to also heal a flag gone stale, e.g. on a just-published product).
        """
        movements = StockMovement.objects.bulk_create(self._movements)
        self._movements = []
        touched = list(self._touched.values())
        raise_low_stock(self.shop, touched, self.variants)
        if refresh_all:
            flipped = list(self.levels.values())
        else:
            flipped = [
                level
                for level in touched
                if _state(level, self.variants[level.variant_id]) != self._before.get(level.pk)
            ]
        if flipped:
            _refresh_listings(
                {self.variants[level.variant_id].product_id for level in flipped},
                now=self.now,
                location_ids={level.location_id for level in flipped},
            )
        return movements


def _refresh_listings(
    product_ids: set[int], *, now: datetime, location_ids: set[int] | None
) -> None:
    """
    Refresh ``in_stock`` in a savepoint. Catalog may lock the same listings
    in another order (publishing a product locks its new listing first); if
    the database breaks such a deadlock (or a lock timeout strikes) against
    us, the stock change must still stand: the flags are then recomputed by
    a job once this transaction commits.
    """
    try:
        with transaction.atomic():
            refresh_in_stock(product_ids, now=now, location_ids=location_ids)
    except OperationalError:
        from merchantry.inventory.tasks import refresh_listings  # tasks import this module

        logger.warning("in_stock_refresh_deferred", products=len(product_ids))
        refresh_listings.enqueue_on_commit(product_ids=sorted(product_ids))


def raise_low_stock(
    shop: Shop, levels: Iterable[StockLevel], variants: Mapping[int, VariantInfo]
) -> None:
    """
    Record ``inventory.low_stock`` once for each level that has fallen to its
    threshold since it was last above it, and re-arm the levels that rose
    above it again. The levels must be locked by the caller.
    """
    fell, rose = [], []
    for level in levels:
        threshold = level.low_stock_threshold
        low = threshold is not None and level.available <= threshold
        if low and not level.low_stock_alerted:
            fell.append(level)
        elif not low and level.low_stock_alerted:
            rose.append(level)
    for level in fell:
        info = variants.get(level.variant_id)
        record_event(
            shop_id=shop.pk,
            type=LOW_STOCK_EVENT,
            payload={
                "variant_id": str(level.variant_id),
                "sku": info.sku if info else None,
                "location_id": str(level.location_id),
                "available": level.available,
                "threshold": level.low_stock_threshold,
            },
        )
        level.low_stock_alerted = True
    for level in rose:
        level.low_stock_alerted = False
    if fell:
        StockLevel.objects.filter(pk__in=[lv.pk for lv in fell]).update(low_stock_alerted=True)
    if rose:
        StockLevel.objects.filter(pk__in=[lv.pk for lv in rose]).update(low_stock_alerted=False)
