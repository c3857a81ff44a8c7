"""Admin screens for the platform tables."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from merchantry.core import events, flags
from merchantry.core.models import AuditEvent, FeatureFlag, OutboxEvent, PeriodicJobState


@admin.register(AuditEvent)
class AuditEventAdmin(ModelAdmin):
    """The audit trail, read-only: nobody edits or deletes history."""

    list_display = ("created_at", "action", "actor_label_or_key", "target_type", "target_label")
    list_filter = ("action", "target_type")
    search_fields = ("action", "actor", "actor_label", "target_id", "target_label", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="Actor")
    def actor_label_or_key(self, obj: AuditEvent) -> str:
        return obj.actor_label or obj.actor

    # Shop staff see their current shop's events. The core imports no domain
    # app, so it reads what the accounts app's admin middleware attached to
    # the request: the current shop's id and the Actor working in it.
    SHOP_PERMISSION = "shop.view"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        shop_id = getattr(request, "admin_shop_id", None)
        return queryset.for_shop(shop_id) if shop_id else queryset.none()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        actor = getattr(request, "admin_actor", None)
        return actor is not None and actor.has_perm(self.SHOP_PERMISSION)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FeatureFlag)
class FeatureFlagAdmin(ModelAdmin):
    list_display = ("name", "shop_id", "enabled", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name",)

    def save_model(self, request: HttpRequest, obj: FeatureFlag, form: Any, change: bool) -> None:
        # Through the service, so the change is audited and the cache cleared.
        saved = flags.flag_set(obj.name, obj.enabled, shop=obj.shop_id, actor=request.user)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: FeatureFlag) -> None:
        flags.flag_clear(obj.name, shop=obj.shop_id, actor=request.user)


@admin.register(PeriodicJobState)
class PeriodicJobStateAdmin(ModelAdmin):
    list_display = ("name", "next_run_at", "last_run_at", "last_result_id")
    readonly_fields = ("name", "next_run_at", "last_run_at", "last_result_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ModelAdmin):
    """Domain events on their way to plugins and webhooks; failures can be retried."""

    list_display = (
        "id",
        "type",
        "shop_id",
        "status",
        "attempts",
        "occurred_at",
        "last_error_short",
    )
    list_filter = ("status", "type")
    search_fields = ("type", "uid")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    actions = ["retry_failed"]
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="Last error")
    def last_error_short(self, obj: OutboxEvent) -> str:
        return obj.last_error[:80]

    @admin.action(description="Retry the selected events that gave up")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = events.outbox_retry(
            event_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(request, f"{count} event(s) queued again.")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
