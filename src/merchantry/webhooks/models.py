"""
A shop's outbound webhook endpoints, and the log of every delivery attempt.

An endpoint subscribes to event types; each domain event of the shop that
matches becomes a :class:`WebhookDelivery` row per endpoint (attempt 1), and
each retry or replay adds a row with the next attempt number, so the table is
the delivery log the merchant sees.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import models
from django.db.models import Q

from merchantry.core.crypto import EncryptedTextField, decrypt_text, encrypt_text
from merchantry.core.models import OutboxEvent
from merchantry.tenancy.models import Shop, ShopScopedQuerySet

__all__ = [
    "EVENT_PATTERN_RE",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEndpoint",
    "event_type_matches",
]

EVENT_PATTERN_RE = re.compile(
    r"\*|[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.\*|[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+"
)
"""What an endpoint subscribes to: ``*``, a prefix such as ``order.*``, or a type."""


def event_type_matches(pattern: str, event_type: str) -> bool:
    """Return True when the subscription ``pattern`` covers ``event_type``."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


# The secret is stored encrypted; these two functions are the only place that
# knows how (merchantry.core.crypto: MultiFernet over the configured keys).


def seal_secret(raw: str) -> str:
    """Return ``raw`` encrypted for storage."""
    return encrypt_text(raw)


def unseal_secret(stored: str) -> str:
    """Return the secret ``stored`` holds."""
    return decrypt_text(stored)


class WebhookEndpoint(models.Model):
    """A URL of the merchant's that receives the shop's events, signed with a secret."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000, help_text="Where events are POSTed (https).")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, help_text='Event types, prefixes such as "order.*", or "*" for all.'
    )
    secret_encrypted = EncryptedTextField(editable=False)
    secret_hint = models.CharField(
        max_length=16, editable=False, help_text="The secret's last characters."
    )
    previous_secret_encrypted = EncryptedTextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=("shop", "is_active"), name="webhook_endpoint_shop_idx")]

    def __str__(self) -> str:
        return self.url[:80]

    def subscribes_to(self, event_type: str) -> bool:
        return any(event_type_matches(pattern, event_type) for pattern in self.event_types)

    def signing_secrets(self, now: datetime) -> list[str]:
        """Return the secrets to sign with: the current one, and the previous until it expires."""
        secrets = [unseal_secret(self.secret_encrypted)]
        expires = self.previous_secret_expires_at
        if self.previous_secret_encrypted and expires is not None and expires > now:
            secrets.append(unseal_secret(self.previous_secret_encrypted))
        return secrets


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDeliveryQuerySet(ShopScopedQuerySet):
    def due(self, now: datetime) -> WebhookDeliveryQuerySet:
        """Pending attempts whose time has come and that no worker holds."""
        return self.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        )


class WebhookDelivery(models.Model):
    """
    One attempt to deliver one event to one endpoint.

    ``pending`` rows wait for ``next_attempt_at``; a finished attempt is
    ``succeeded`` or ``failed``, with the receiver's status code and response
    time, or the error (which never contains the URL or a secret). A failed
    attempt that will be retried has ``next_attempt_at`` set to when the next
    row (``attempt + 1``) is due.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=100)
    attempt = models.PositiveSmallIntegerField(default=1)
    is_replay = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=DeliveryStatus, default=DeliveryStatus.PENDING)
    response_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ("-id",)
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=("endpoint", "event", "attempt"), name="webhook_delivery_attempt_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=("status", "next_attempt_at"), name="webhook_delivery_due_idx"),
            models.Index(fields=("shop", "-id"), name="webhook_delivery_shop_idx"),
            models.Index(fields=("endpoint", "-id"), name="webhook_delivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → endpoint {self.endpoint_id}, attempt {self.attempt}"
