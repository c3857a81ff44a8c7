"""
The tenant and what hangs directly off it: domains, channels and API keys.

Every tenant-owned table in Merchantry carries a ``shop`` foreign key and is
read through a queryset scoped with ``for_shop(shop)``; a row of another shop
is answered as "not found", never as "forbidden".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from merchantry.core.validators import (
    validate_country,
    validate_currency,
    validate_slug,
    validate_timezone,
)


class ShopScopedQuerySet(models.QuerySet):
    """Base queryset for tenant-owned rows."""

    def for_shop(self, shop: Shop | int) -> Self:
        return self.filter(shop=shop)


class ShopStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class ShopQuerySet(models.QuerySet):
    def active(self) -> Self:
        return self.filter(status=ShopStatus.ACTIVE)


class Shop(models.Model):
    """A merchant's shop: the tenant every other row belongs to."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=50, unique=True, validators=[validate_slug])
    default_currency = models.CharField(max_length=3, validators=[validate_currency])
    default_country = models.CharField(max_length=2, validators=[validate_country])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    status = models.CharField(max_length=16, choices=ShopStatus, default=ShopStatus.ACTIVE)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ShopStatus.values), name="shop_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == ShopStatus.ACTIVE


class Domain(models.Model):
    """A host name that resolves to a shop (custom domain or subdomain)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="domains")
    host = models.CharField(max_length=253, help_text="e.g. shop.example.com, lowercase")
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-is_primary", "host")
        constraints = [
            models.UniqueConstraint(Lower("host"), name="domain_host_unique"),
            models.UniqueConstraint(
                fields=("shop",), condition=Q(is_primary=True), name="domain_one_primary_per_shop"
            ),
        ]

    def __str__(self) -> str:
        return self.host


class ChannelKind(models.TextChoices):
    WEB = "web", "Web store"
    FACEBOOK = "facebook", "Facebook"
    CHATBOT = "chatbot", "Chatbot"
    MARKETPLACE = "marketplace", "Marketplace"
    POS = "pos", "Point of sale"
    CUSTOM = "custom", "Custom"


class Channel(models.Model):
    """Somewhere a shop sells: a web store, Facebook, a chatbot, a till..."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=50, validators=[validate_slug])
    kind = models.CharField(max_length=16, choices=ChannelKind, default=ChannelKind.WEB)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    default_country = models.CharField(max_length=2, validators=[validate_country])
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text="Browser origins allowed to call the Store API."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "name")
        constraints = [
            models.UniqueConstraint(fields=("shop", "slug"), name="channel_slug_unique_per_shop"),
            models.CheckConstraint(
                condition=Q(kind__in=ChannelKind.values), name="channel_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.shop.slug})" if self.shop_id else self.name


class ApiKeyKind(models.TextChoices):
    SECRET = "secret", "Secret"
    PUBLISHABLE = "publishable", "Publishable"


class ApiKeyQuerySet(ShopScopedQuerySet):
    def live(self) -> Self:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """
    A key machines use: secret keys (shop-scoped, Admin API, carry a subset of
    permissions) and publishable keys (channel-scoped, Store API, safe in a
    browser). The key itself is shown once; only its SHA-256 is stored.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="api_keys")
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    kind = models.CharField(max_length=16, choices=ApiKeyKind)
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=24, help_text="The first characters, for recognition.")
    key_hash = models.CharField(max_length=64, unique=True)
    permissions = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=ApiKeyKind.SECRET, channel__isnull=True)
                | Q(kind=ApiKeyKind.PUBLISHABLE, channel__isnull=False),
                name="apikey_channel_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.channel_id and self.shop_id and self.channel.shop_id != self.shop_id:
            raise ValueError("A publishable key's channel must belong to the key's shop.")
        super().save(*args, **kwargs)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def touch(self, *, every_seconds: int = 60) -> None:
        """
        Record use, at most once a minute: nothing at all while the loaded
        ``last_used_at`` is fresh, else a conditional UPDATE (never a read).
        """
        now = timezone.now()
        horizon = now - timedelta(seconds=every_seconds)
        if self.last_used_at is not None and self.last_used_at >= horizon:
            return
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=horizon)
        ApiKey.objects.filter(stale, pk=self.pk).update(last_used_at=now)
        self.last_used_at = now
