"""
Shipping zones and methods (what a shop charges to ship where), and
shipments (what was sent, how, and where it is now).

A :class:`ShippingZone` covers countries, optionally narrowed to some
subdivisions and postal codes (see :mod:`merchantry.shipping.geo`); channels
use a set of zones. A :class:`ShippingMethod` belongs to one zone and has a
rate rule (see :mod:`merchantry.shipping.rates`) stored as JSON. A
:class:`Shipment` names the order lines it carries by the order's id as a
string (orders come later); its :class:`TrackingEvent` rows are its history.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from merchantry.inventory.models import StockLocation
from merchantry.shipping.rates import RATE_TYPE_LABELS, RateType
from merchantry.tenancy.models import Channel, Shop, ShopScopedQuerySet

__all__ = [
    "Shipment",
    "ShipmentStatus",
    "ShippingMethod",
    "ShippingZone",
    "TrackingEvent",
    "label_upload_to",
]


class ShippingZone(models.Model):
    """Where a shop ships: countries, optionally some subdivisions and postal codes."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    countries = models.JSONField(default=list, help_text="ISO 3166-1 alpha-2 codes.")
    subdivisions = models.JSONField(
        default=list,
        blank=True,
        help_text="ISO 3166-2 codes (US-CA). A country with some listed is limited to them.",
    )
    postal_codes = models.JSONField(
        default=list,
        blank=True,
        help_text="Exact codes, wildcards (SW1*) or ranges (10000..14999); empty: all.",
    )
    channels = models.ManyToManyField(Channel, related_name="shipping_zones", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "name", "id")

    def __str__(self) -> str:
        return self.name


class ShippingMethod(models.Model):
    """One way to ship within a zone, with its rate rule and its limits."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    zone = models.ForeignKey(ShippingZone, on_delete=models.CASCADE, related_name="methods")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True, default="")
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)
    min_days = models.PositiveSmallIntegerField(null=True, blank=True)
    max_days = models.PositiveSmallIntegerField(null=True, blank=True)
    channels = models.ManyToManyField(
        Channel,
        related_name="shipping_methods",
        blank=True,
        help_text="Empty: every channel that uses the zone.",
    )
    rate_type = models.CharField(
        max_length=16,
        choices=[(t.value, RATE_TYPE_LABELS[t]) for t in RateType],
        default=RateType.FLAT,
    )
    rates = models.JSONField(default=list, blank=True, help_text="One entry per currency.")
    carrier_plugin = models.CharField(
        max_length=50,
        blank=True,
        default="",
        help_text="Carrier-calculated: the plugin that prices it; empty: every enabled one.",
    )
    carrier_service = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Carrier-calculated: only the provider's options with this service code.",
    )
    origin = models.ForeignKey(
        StockLocation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Carrier-calculated: where parcels leave from (default: the first "
        "location the channel ships from).",
    )
    max_weight_grams = models.PositiveIntegerField(null=True, blank=True)
    excluded_product_types = models.JSONField(default=list, blank=True)
    excluded_tags = models.JSONField(default=list, blank=True)
    pickup_only = models.BooleanField(
        default=False, help_text="Click and collect: the shopper fetches the order."
    )
    pickup_locations = models.ManyToManyField(StockLocation, related_name="+", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("zone_id", "position", "name", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_type__in=[t.value for t in RateType]),
                name="shipping_method_rate_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(min_days__isnull=True)
                | Q(max_days__isnull=True)
                | Q(min_days__lte=models.F("max_days")),
                name="shipping_method_days_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    LABEL_PURCHASED = "label_purchased", "Label purchased"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    FAILED = "failed", "Delivery failed"
    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned"


def label_upload_to(instance: Shipment, filename: str) -> str:
    # The name is a random token chosen by the services; the shop prefix keeps
    # one shop's labels apart from another's in storage.
    return f"shipping/labels/{instance.shop_id}/{filename}"


class Shipment(models.Model):
    """A parcel (or several) sent for an order: lines, carrier, tracking, status."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    order_id = models.CharField(max_length=64, help_text="The order's id (opaque).")
    lines = models.JSONField(
        default=list, help_text='[{"order_line_id": "...", "quantity": 2}, ...]'
    )
    location = models.ForeignKey(
        StockLocation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    method = models.ForeignKey(
        ShippingMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    carrier = models.CharField(max_length=50, blank=True, default="")
    service = models.CharField(max_length=100, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    tracking_url = models.URLField(max_length=500, blank=True, default="")
    label = models.FileField(upload_to=label_upload_to, max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=ShipmentStatus, default=ShipmentStatus.PENDING)
    status_at = models.DateTimeField(
        null=True, blank=True, help_text="When the event that set the status happened."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ShipmentStatus.values), name="shipment_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=("shop", "order_id"), name="shipment_shop_order"),
            models.Index(fields=("shop", "created_at", "id"), name="shipment_shop_created"),
        ]

    def __str__(self) -> str:
        return f"Shipment {self.pk} of order {self.order_id}"


class TrackingEvent(models.Model):
    """One step of a shipment's journey, as a carrier (or a person) reported it."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=20, choices=ShipmentStatus)
    occurred_at = models.DateTimeField()
    carrier_event_id = models.CharField(max_length=100, blank=True, default="")
    # The carrier's event id, or the status and time when it gives none: the
    # same event delivered twice is stored once (unique per shipment).
    dedupe_key = models.CharField(max_length=160, editable=False)
    description = models.CharField(max_length=500, blank=True, default="")
    location = models.CharField(max_length=200, blank=True, default="")
    applied = models.BooleanField(
        default=False, help_text="Whether this event moved the shipment's status."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shipment_id", "occurred_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("shipment", "dedupe_key"), name="tracking_event_once_per_shipment"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ShipmentStatus.values), name="tracking_event_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} at {self.occurred_at:%Y-%m-%d %H:%M}"
