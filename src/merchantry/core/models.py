"""
Platform tables: the audit trail, feature flags, periodic-job state and the
outbox of domain events.

``shop_id`` columns here are plain integers rather than foreign keys because
the core may not depend on the tenancy app; they hold a shop's primary key.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AuditEventQuerySet(models.QuerySet):
    """Audit events may be read and added, never changed or removed."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError("Audit events are append-only; they cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only; they cannot be deleted.")

    def for_shop(self, shop_id: int | None) -> AuditEventQuerySet:
        return self.filter(shop_id=shop_id)

    def for_target(self, target_type: str, target_id: str) -> AuditEventQuerySet:
        return self.filter(target_type=target_type, target_id=target_id)


class AuditEvent(models.Model):
    """
    One sensitive action: who did what to which object, and what changed.

    Written by :func:`merchantry.core.audit.record`; append-only (the
    queryset refuses updates and deletes, and ``save`` refuses to overwrite).
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    shop_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor = models.CharField(
        max_length=120, help_text="Who acted: user:<id>, apikey:<id>, system, ..."
    )
    actor_label = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=80, db_index=True, help_text="e.g. apikey.create")
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("target_type", "target_id"), name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("Audit events are append-only; they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only; they cannot be deleted.")


class FeatureFlag(models.Model):
    """
    A feature switched on or off, for one shop or (``shop_id`` empty) for the
    whole installation. Defaults come from ``MERCHANTRY_FEATURE_FLAGS``.
    """

    name = models.CharField(max_length=63)
    shop_id = models.BigIntegerField(null=True, blank=True)
    enabled = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "shop_id")
        constraints = [
            models.UniqueConstraint(
                fields=("name",),
                condition=Q(shop_id__isnull=True),
                name="feature_flag_unique_global",
            ),
            models.UniqueConstraint(
                fields=("name", "shop_id"),
                condition=Q(shop_id__isnull=False),
                name="feature_flag_unique_per_shop",
            ),
        ]

    def __str__(self) -> str:
        scope = f"shop {self.shop_id}" if self.shop_id else "installation"
        return f"{self.name} ({scope}): {'on' if self.enabled else 'off'}"


class PeriodicJobState(models.Model):
    """When a periodic job is next due; claimed atomically by one scheduler."""

    name = models.CharField(max_length=200, primary_key=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_result_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Delivered to every sink"
    FAILED = "failed", "Gave up"


class OutboxEvent(models.Model):
    """
    A domain event recorded in the transaction that made the change.

    Written by :func:`merchantry.core.events.record_event`; delivered after
    the commit to every registered sink (plugin hooks, merchant webhooks) by
    :func:`merchantry.core.events.dispatch_outbox`. ``sinks_done`` names the
    sinks that have it, so a retry calls only the ones that failed.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    shop_id = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=100, help_text="e.g. order.placed")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=16, choices=OutboxStatus, default=OutboxStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    sinks_done = models.JSONField(default=list, blank=True)
    sink_retry = models.JSONField(
        default=dict, blank=True, help_text="Per failed sink, the parts it asked to retry."
    )
    last_error = models.TextField(blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [
            models.Index(fields=("status", "next_attempt_at"), name="outbox_due_idx"),
            models.Index(fields=("shop_id", "id"), name="outbox_shop_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OutboxStatus.values), name="outbox_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"
