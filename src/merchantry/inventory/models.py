"""
Where stock is kept, how much of it there is, who holds it, and how it moved.

A ``StockLocation`` is a warehouse, a store or a dropship supplier of one shop.
Each channel sells from an ordered list of locations (``ChannelLocation``);
the order is the priority the allocation strategy follows, and the channel's
``ChannelInventory`` names the strategy.

A ``StockLevel`` is one variant at one location, in three buckets: ``on_hand``
(physically there), ``reserved`` (held by checkouts for a while) and
``allocated`` (promised to placed orders, not shipped yet). What can still be
sold there is ``on_hand - reserved - allocated``. Every change of a bucket is
one row of the append-only ledger (``StockMovement``), so the buckets always
equal the sums of the ledger's deltas (``merchantry inventory verify``).

Reservations and allocations keep one line per stock level they hold, so a
release or a shipment knows exactly which level to give back to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from django.db import models
from django.db.models import F, Q

from merchantry.catalog.models import ProductVariant
from merchantry.core.validators import validate_country
from merchantry.tenancy.models import Channel, Shop, ShopScopedQuerySet

__all__ = [
    "MAX_QUANTITY",
    "Allocation",
    "AllocationLine",
    "AllocationStrategy",
    "ChannelInventory",
    "ChannelLocation",
    "IdempotencyRecord",
    "LineStatus",
    "MovementReason",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "StockLevel",
    "StockLocation",
    "StockMovement",
    "VariantStock",
]

MAX_QUANTITY = 1_000_000_000
"""The largest quantity one operation may move (a sanity bound, not a business rule)."""


class StockLocation(models.Model):
    """A place that holds stock: what it can do (ship, pickup) and its address."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    handle = models.SlugField(max_length=60)
    is_active = models.BooleanField(default=True)
    can_ship = models.BooleanField(default=True, help_text="Orders can be shipped from here.")
    can_pickup = models.BooleanField(default=False, help_text="Shoppers can collect here.")
    line1 = models.CharField(max_length=200, blank=True, default="")
    line2 = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    country = models.CharField(max_length=2, validators=[validate_country])
    subdivision = models.CharField(max_length=10, blank=True, default="")
    phone = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("shop", "handle"), name="location_handle_unique_per_shop"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ChannelLocation(models.Model):
    """A location a channel sells from, at a priority (lower first)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="stock_locations")
    location = models.ForeignKey(StockLocation, on_delete=models.CASCADE, related_name="channels")
    position = models.PositiveSmallIntegerField(default=0)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("channel_id", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=("channel", "location"), name="channel_location_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.location_id} for {self.channel_id}"


class AllocationStrategy(models.TextChoices):
    PRIORITY = "priority", "Location priority (first location first)"
    MOST_STOCK = "most_stock", "Most stock first"


class ChannelInventory(models.Model):
    """How a channel sells its stock: strategy, how long checkouts hold it, what shoppers see."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="inventory")
    allocation_strategy = models.CharField(
        max_length=16, choices=AllocationStrategy, default=AllocationStrategy.PRIORITY
    )
    show_quantity = models.BooleanField(
        default=False, help_text="Show shoppers how many units are available."
    )
    reservation_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="How long a checkout holds its stock."
    )

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "channel inventory settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(allocation_strategy__in=AllocationStrategy.values),
                name="channel_inventory_strategy_valid",
            ),
            models.CheckConstraint(
                condition=Q(reservation_minutes__gte=1, reservation_minutes__lte=1440),
                name="channel_inventory_minutes_range",
            ),
        ]

    def __str__(self) -> str:
        return f"inventory of {self.channel_id}"


class StockLevelQuerySet(ShopScopedQuerySet):
    def low_stock(self) -> Self:
        """Levels at or below their low-stock threshold."""
        return self.filter(
            low_stock_threshold__isnull=False,
            on_hand__lte=F("reserved") + F("allocated") + F("low_stock_threshold"),
        )


class StockLevel(models.Model):
    """
    One variant at one location, in buckets.

    ``available_floor`` is how far ``on_hand - reserved - allocated`` may go
    below zero, enforced by a CHECK constraint: 0 (the default) means never.
    The inventory services write it with every change that lowers the
    available quantity, from the variant: 0 unless the variant allows
    backorder, else ``-backorder_limit`` (NULL, no floor, when the limit is
    empty). A stock correction that finds fewer units than are already
    promised lowers it to the shortfall instead of refusing reality. Changes
    that raise the available quantity leave it as it is.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(
        ProductVariant, on_delete=models.CASCADE, related_name="stock_levels"
    )
    location = models.ForeignKey(StockLocation, on_delete=models.CASCADE, related_name="levels")
    on_hand = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    allocated = models.BigIntegerField(default=0)
    available_floor = models.BigIntegerField(null=True, blank=True, default=0, editable=False)
    backorder_limit = models.BigIntegerField(
        null=True,
        blank=True,
        default=None,
        help_text="When the variant allows backorder: how many units this location may "
        "promise beyond its stock. Empty: no limit.",
    )
    low_stock_threshold = models.BigIntegerField(
        null=True,
        blank=True,
        default=None,
        help_text="Raise a low-stock event when available falls to this; empty: never.",
    )
    low_stock_alerted = models.BooleanField(default=False, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StockLevelQuerySet.as_manager()

    class Meta:
        ordering = ("variant_id", "location_id")
        constraints = [
            models.UniqueConstraint(fields=("variant", "location"), name="stock_level_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="stock_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(allocated__gte=0), name="stock_allocated_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(available_floor__isnull=True) | Q(available_floor__lte=0),
                name="stock_floor_not_positive",
            ),
            # available >= floor, i.e. on_hand - reserved - allocated >= floor.
            models.CheckConstraint(
                condition=Q(available_floor__isnull=True)
                | Q(on_hand__gte=F("reserved") + F("allocated") + F("available_floor")),
                name="stock_available_above_floor",
            ),
            models.CheckConstraint(
                condition=Q(backorder_limit__isnull=True) | Q(backorder_limit__gte=0),
                name="stock_backorder_limit_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(low_stock_threshold__isnull=True) | Q(low_stock_threshold__gte=0),
                name="stock_threshold_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=("shop", "location", "variant"), name="stock_shop_location"),
            models.Index(fields=("location", "variant"), name="stock_location_variant"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} at {self.location_id}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.allocated


class VariantStock(ProductVariant):
    """A variant seen from inventory: its stock per location and its movements (admin)."""

    class Meta:
        proxy = True
        verbose_name = "variant stock"
        verbose_name_plural = "stock by variant"


class MovementReason(models.TextChoices):
    RECEIVE = "receive", "Received"
    ADJUST = "adjust", "Adjusted"
    COUNT = "count", "Counted"
    TRANSFER = "transfer", "Transferred"
    RESERVE = "reserve", "Reserved"
    RELEASE = "release", "Released"
    ALLOCATE = "allocate", "Allocated"
    DEALLOCATE = "deallocate", "Deallocated"
    SHIP = "ship", "Shipped"
    RETURN = "return", "Returned"
    DELETE = "delete", "Written off (variant deleted)"


class AppendOnlyQuerySet(ShopScopedQuerySet):
    """The ledger's queryset: rows are inserted (with their SKU), never changed or removed."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError("The stock ledger is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("The stock ledger is append-only.")

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def bulk_create(self, objs: Iterable[StockMovement], *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        _fill_skus(objs)
        return super().bulk_create(objs, *args, **kwargs)


def _fill_skus(movements: Iterable[StockMovement]) -> None:
    """
    Copy the variant's SKU into movements that do not carry one yet, in one
    query: the ledger keeps naming what moved after the variant is deleted.
    """
    missing = [m for m in movements if m.sku is None and m.variant_id is not None]
    if not missing:
        return
    skus = dict(
        ProductVariant.objects.filter(pk__in={m.variant_id for m in missing}).values_list(
            "pk", "sku"
        )
    )
    for movement in missing:
        movement.sku = skus.get(movement.variant_id)


class StockMovement(models.Model):
    """
    One change of a stock level's buckets: the ledger, append-only.

    The deltas are signed; a level's buckets equal the sums of its rows'
    deltas. ``actor`` is who acted (``user:12``, ``apikey:3``, ``system``);
    ``reference`` what it was for (``reservation:41``, ``order:1001``,
    ``import:2026-05``); ``sku`` the variant's SKU then, kept when the
    variant is deleted (``variant`` becomes NULL, the only change a row ever
    sees).
    """

    # A shop erased wholesale takes its ledger along, with its levels and
    # locations, so what remains still balances (shops are suspended, not
    # deleted, in normal operation).
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    # History outlives the variant: inventory writes closing rows when one is
    # deleted (``merchantry.inventory.variant_removal``), then its rows keep
    # the SKU below and lose only the link.
    variant = models.ForeignKey(
        ProductVariant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sku = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        editable=False,
        help_text="The variant's SKU when the row was written.",
    )
    # RESTRICT, not PROTECT: a location with history cannot be deleted on its
    # own (deactivate it), but deleting its shop still cascades to both.
    location = models.ForeignKey(StockLocation, on_delete=models.RESTRICT, related_name="+")
    on_hand_delta = models.BigIntegerField(default=0)
    reserved_delta = models.BigIntegerField(default=0)
    allocated_delta = models.BigIntegerField(default=0)
    reason = models.CharField(max_length=16, choices=MovementReason)
    actor = models.CharField(max_length=255, blank=True, default="")
    reference = models.CharField(max_length=255, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=MovementReason.values), name="movement_reason_valid"
            ),
        ]
        indexes = [
            models.Index(fields=("shop", "created_at", "id"), name="movement_shop_created"),
            models.Index(fields=("variant", "location"), name="movement_variant_location"),
            models.Index(fields=("shop", "reference"), name="movement_shop_reference"),
        ]

    def __str__(self) -> str:
        what = self.sku or (f"variant {self.variant_id}" if self.variant_id else "deleted variant")
        return f"{self.reason} {what}@{self.location_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("The stock ledger is append-only.")
        _fill_skus([self])
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("The stock ledger is append-only.")


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"
    CONVERTED = "converted", "Converted to an allocation"


class LineStatus(models.TextChoices):
    ACTIVE = "active", "Holding stock"
    RELEASED = "released", "Released"
    CONVERTED = "converted", "Converted"


class Reservation(models.Model):
    """
    Stock a checkout holds until ``expires_at``. ``owner`` names the checkout
    (its token); a shop has at most one active reservation per owner.

    An active reservation past its expiry no longer counts: availability and
    new reservations ignore its lines, and the first reservation that needs
    their stock (or the periodic job) releases them.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    # SET_NULL: a deleted channel's holds stay counted until they expire and
    # are released through the ledger (a cascade would leave ``reserved`` stuck).
    channel = models.ForeignKey(
        Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    owner = models.CharField(max_length=255)
    status = models.CharField(
        max_length=16, choices=ReservationStatus, default=ReservationStatus.ACTIVE
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("shop", "owner"),
                condition=Q(status="active"),
                name="reservation_one_active_per_owner",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReservationStatus.values), name="reservation_status_valid"
            ),
        ]
        indexes = [models.Index(fields=("status", "expires_at"), name="reservation_due")]

    def __str__(self) -> str:
        return f"reservation {self.pk} for {self.owner}"


class ReservationLine(models.Model):
    """A quantity a reservation holds at one stock level."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    level = models.ForeignKey(StockLevel, on_delete=models.CASCADE, related_name="+")
    quantity = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=LineStatus, default=LineStatus.ACTIVE)
    # The reservation's expiry, copied so availability and the lazy release
    # find a level's expired holds without a join.
    expires_at = models.DateTimeField()

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("reservation_id", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("reservation", "level"), name="reservation_line_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_line_positive"),
            models.CheckConstraint(
                condition=Q(status__in=LineStatus.values), name="reservation_line_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=("level", "status", "expires_at"), name="reservation_line_hold")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.level_id}"


class Allocation(models.Model):
    """Stock promised to an order (``reference``), shipped or given back line by line."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    reference = models.CharField(max_length=255)
    reservation = models.OneToOneField(
        Reservation, on_delete=models.SET_NULL, null=True, blank=True, related_name="allocation"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("shop", "reference"), name="allocation_reference_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class AllocationLine(models.Model):
    """
    A quantity allocated at one stock level: ``quantity`` promised, of which
    ``shipped`` left and ``deallocated`` went back; ``returned`` of the
    shipped ones came back into stock.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="lines")
    level = models.ForeignKey(StockLevel, on_delete=models.CASCADE, related_name="+")
    quantity = models.BigIntegerField()
    shipped = models.BigIntegerField(default=0)
    deallocated = models.BigIntegerField(default=0)
    returned = models.BigIntegerField(default=0)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("allocation_id", "id")
        constraints = [
            models.UniqueConstraint(fields=("allocation", "level"), name="allocation_line_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="allocation_line_positive"),
            models.CheckConstraint(
                condition=Q(shipped__gte=0, deallocated__gte=0, returned__gte=0),
                name="allocation_line_counts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=F("shipped") + F("deallocated")),
                name="allocation_line_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(shipped__gte=F("returned")), name="allocation_line_returns_shipped"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.level_id}"

    @property
    def open_quantity(self) -> int:
        """What is still allocated: neither shipped nor given back."""
        return self.quantity - self.shipped - self.deallocated


class IdempotencyRecord(models.Model):
    """
    The response to an Admin API write sent with an ``Idempotency-Key``: a
    retry with the same key and body gets it again instead of a second change.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("shop", "key"), name="idempotency_key_unique"),
        ]
        indexes = [models.Index(fields=("created_at",), name="idempotency_created")]

    def __str__(self) -> str:
        return self.key
