"""
Admin screen for product CSV imports and exports: a read-only log.

Imports and exports are started through the Admin API (``POST
/api/v1/admin/products/import`` and ``/products/export``); this screen shows
the current shop's, with their progress, counts and row errors.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from unfold.decorators import display

from merchantry.catalog.models_io import CatalogTransfer
from merchantry.tenancy.admin_scope import ShopScopedAdmin
from merchantry.tenancy.permissions import Perm

__all__ = ["CatalogTransferAdmin"]


@admin.register(CatalogTransfer)
class CatalogTransferAdmin(ShopScopedAdmin):
    view_permission = Perm.CATALOG_VIEW
    manage_permission = Perm.CATALOG_MANAGE
    list_display = (
        "kind",
        "file_name",
        "status_label",
        "progress",
        "errors_total",
        "warnings_total",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status")
    ordering = ("-created_at", "-id")
    list_per_page = 50
    fields = (
        "kind",
        "status",
        "channel",
        "filters",
        "file_name",
        "rows_total",
        "rows_done",
        "counts",
        "errors_total",
        "warnings_total",
        "failure",
        "issues",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    @display(
        description="Status",
        ordering="status",
        label={"Done": "success", "Failed": "danger", "Running": "info", "Queued": "warning"},
    )
    def status_label(self, obj: CatalogTransfer) -> str:
        return obj.get_status_display()

    @display(description="Progress")
    def progress(self, obj: CatalogTransfer) -> str:
        return f"{obj.rows_done} / {obj.rows_total}"

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # started through the Admin API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a log

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
