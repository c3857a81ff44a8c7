"""
Catalog imports and exports: one row per CSV file going in or out.

A transfer is created by the Admin API, queued, and run by a background job
(:mod:`merchantry.catalog.tasks`) that records its progress on the row as it
goes, so a client polls the row to follow it. The file (the upload, or the
export's result) lives in the default storage under the shop's prefix.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from merchantry.tenancy.models import Channel, Shop, ShopScopedQuerySet

__all__ = [
    "MAX_STORED_ISSUES",
    "CatalogTransfer",
    "TransferKind",
    "TransferStatus",
]

MAX_STORED_ISSUES = 1000
"""How many row errors and warnings a transfer keeps; the totals count them all."""


class TransferKind(models.TextChoices):
    IMPORT = "import", "Import"
    EXPORT = "export", "Export"


class TransferStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def transfer_upload_to(instance: CatalogTransfer, filename: str) -> str:
    # The services name the file with a random token; the shop prefix keeps
    # one shop's files apart from another's in storage.
    return f"catalog-transfers/{instance.shop_id}/{filename}"


class CatalogTransfer(models.Model):
    """A product CSV import or export, its progress and its report."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=TransferKind)
    status = models.CharField(max_length=16, choices=TransferStatus, default=TransferStatus.QUEUED)
    # The channel whose prices and publication the file carries.
    channel = models.ForeignKey(
        Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filters = models.JSONField(default=dict, blank=True, help_text="An export's filters.")
    file = models.FileField(upload_to=transfer_upload_to, max_length=255, blank=True)
    file_name = models.CharField(max_length=255, blank=True, default="")
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    # {"created": 3, "updated": 1, "unchanged": 0, "failed": 2, ...} (products)
    counts = models.JSONField(default=dict, blank=True)
    # [{"row": 4, "column": "Variant Price", "message": "...", "code": "...",
    #   "level": "error", "handle": "..."}], the first MAX_STORED_ISSUES of them.
    issues = models.JSONField(default=list, blank=True)
    errors_total = models.PositiveIntegerField(default=0)
    warnings_total = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True, default="", help_text="Why the whole file failed.")
    created_by = models.CharField(max_length=255, blank=True, default="")
    created_by_key = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=TransferKind.values), name="catalog_transfer_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=TransferStatus.values),
                name="catalog_transfer_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=("shop", "kind", "created_at"), name="catalog_transfer_shop_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.status})"
