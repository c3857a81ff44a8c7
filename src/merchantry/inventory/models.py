"""
Where stock is kept, and which channels sell from where.

A ``StockLocation`` is a warehouse, a store or a dropship supplier of one shop.
Each channel sells from an ordered list of locations (``ChannelLocation``);
the order is the priority the allocation strategy follows.
"""

from __future__ import annotations

from django.db import models

from merchantry.core.validators import validate_country
from merchantry.tenancy.models import Channel, Shop, ShopScopedQuerySet

__all__ = ["ChannelLocation", "StockLocation"]


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
