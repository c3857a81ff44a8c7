"""
Per-shop plugin installations and the webhook inbox.

A :class:`PluginInstallation` is one shop's copy of one plugin: its lifecycle
status, its settings (plain values as JSON, secret values encrypted in
``secrets``), the unguessable token in its webhook URL, and the counters its
health is computed from. A :class:`WebhookEvent` is one verified webhook the
inbox stored, waiting for, being, or done being processed.
"""

from __future__ import annotations

from datetime import datetime
from secrets import token_urlsafe
from typing import Self

from django.db import models
from django.db.models import Q
from django.utils import timezone

from merchantry.core.crypto import EncryptedTextField
from merchantry.tenancy.models import Shop, ShopScopedQuerySet

__all__ = [
    "InstallationStatus",
    "PluginInstallation",
    "PluginInstallationQuerySet",
    "WebhookEvent",
    "WebhookEventQuerySet",
    "WebhookEventStatus",
    "new_webhook_token",
]

ERROR_MAX_LENGTH = 500


def new_webhook_token() -> str:
    """Return a fresh webhook URL token (256 random bits)."""
    return token_urlsafe(32)


class InstallationStatus(models.TextChoices):
    INSTALLED = "installed", "Installed"
    """Installed but not yet switched on (typically: being configured)."""
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"


class PluginInstallationQuerySet(ShopScopedQuerySet):
    def enabled(self) -> Self:
        return self.filter(status=InstallationStatus.ENABLED)

    def enabled_plugin_ids(self, shop_id: int) -> set[str]:
        """Return the ids of the plugins enabled in shop ``shop_id``."""
        return set(self.filter(shop_id=shop_id).enabled().values_list("plugin_id", flat=True))


class PluginInstallation(models.Model):
    """One plugin installed in one shop."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="plugin_installations")
    plugin_id = models.CharField(max_length=50)
    status = models.CharField(
        max_length=16, choices=InstallationStatus, default=InstallationStatus.INSTALLED
    )
    settings = models.JSONField(
        default=dict, blank=True, help_text="The settings that are not secret, as set."
    )
    secrets = EncryptedTextField(
        default="",
        blank=True,
        help_text="The secret settings, as encrypted JSON; never shown.",
    )
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token)
    installed_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_webhook_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=ERROR_MAX_LENGTH, blank=True)
    error_count = models.PositiveBigIntegerField(default=0)
    success_count = models.PositiveBigIntegerField(default=0)

    objects = PluginInstallationQuerySet.as_manager()

    class Meta:
        ordering = ("plugin_id",)
        constraints = [
            models.UniqueConstraint(
                fields=("shop", "plugin_id"), name="plugin_installation_once_per_shop"
            ),
            models.CheckConstraint(
                condition=Q(status__in=InstallationStatus.values),
                name="plugin_installation_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.plugin_id

    @property
    def is_enabled(self) -> bool:
        return self.status == InstallationStatus.ENABLED

    @property
    def webhook_path(self) -> str:
        """The path providers post this installation's webhooks to."""
        return f"/webhooks/{self.plugin_id}/{self.webhook_token}/"

    @property
    def error_rate(self) -> float | None:
        """Failed share of the calls counted so far, or None before the first."""
        total = self.error_count + self.success_count
        return round(self.error_count / total, 4) if total else None


class WebhookEventStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class WebhookEventQuerySet(ShopScopedQuerySet):
    def due(self, now: datetime | None = None) -> Self:
        """Pending events whose next attempt is due."""
        return self.filter(
            status=WebhookEventStatus.PENDING, next_attempt_at__lte=now or timezone.now()
        )


class WebhookEvent(models.Model):
    """
    A verified webhook, stored before it is answered and processed by a job.

    ``(installation, provider_event_id)`` is unique: a provider delivering the
    same event again (they deliver at least once) finds it already here and it
    is not processed twice.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    installation = models.ForeignKey(
        PluginInstallation, on_delete=models.CASCADE, related_name="webhook_events"
    )
    plugin_id = models.CharField(max_length=50)
    provider_event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=120, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    path = models.CharField(max_length=500, blank=True)
    body = models.BinaryField(help_text="The raw request body, as received.")
    headers = models.JSONField(
        default=dict, blank=True, help_text="An allow-listed subset of the request headers."
    )
    payload = models.JSONField(
        default=dict, blank=True, help_text="What the plugin read from the verified body."
    )
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=16, choices=WebhookEventStatus, default=WebhookEventStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=ERROR_MAX_LENGTH, blank=True)

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        ordering = ("-received_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("installation", "provider_event_id"), name="webhook_event_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=WebhookEventStatus.values),
                name="webhook_event_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=("status", "next_attempt_at"), name="webhook_event_due_idx"),
            models.Index(fields=("installation", "-received_at"), name="webhook_event_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.plugin_id} {self.event_type or 'event'} {self.provider_event_id}"
