"""
Admin screens for webhook endpoints and their delivery log.

Both show the staff member's current shop only (see
:mod:`merchantry.tenancy.admin_scope`) and need ``plugins.manage``; every
change goes through :mod:`merchantry.webhooks.services`. An endpoint's secret
is shown once, on the page that answers its creation or rotation.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from unfold.decorators import display
from unfold.widgets import UnfoldAdminTextareaWidget

from merchantry.core.errors import MerchantryError
from merchantry.tenancy.admin_scope import (
    AdminScope,
    ServiceModelForm,
    ShopScopedAdmin,
    render_shown_once,
)
from merchantry.tenancy.permissions import Perm
from merchantry.webhooks.models import WebhookDelivery, WebhookEndpoint
from merchantry.webhooks.services import (
    EndpointWithSecret,
    delivery_replay,
    display_url,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
)
from merchantry.webhooks.signing import SIGNATURE_HEADER

__all__ = ["WebhookDeliveryAdmin", "WebhookEndpointAdmin"]


class EventTypesField(forms.Field):
    """Event types, one per line, as a list."""

    widget = UnfoldAdminTextareaWidget

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]


class WebhookEndpointForm(ServiceModelForm):
    event_types = EventTypesField(
        help_text='One per line: an event type ("order.placed"), a prefix ("order.*"), '
        'or "*" for every event.'
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "is_active")

    def commit(self, scope: AdminScope) -> WebhookEndpoint:
        actor, shop = scope.current()
        data = self.cleaned_data
        if self.instance._state.adding:
            created = endpoint_create(
                actor=actor,
                shop=shop,
                url=data["url"],
                event_types=data["event_types"],
                description=data.get("description") or "",
                is_active=data["is_active"],
            )
            self.result = created
            return created.endpoint
        return endpoint_update(
            actor=actor, shop=shop, endpoint_id=self.instance.pk, changes=self.changes()
        )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ShopScopedAdmin):
    """Where the shop's events are sent; the secret is shown once, then only its hint."""

    form = WebhookEndpointForm
    view_permission = Perm.PLUGINS_MANAGE
    manage_permission = Perm.PLUGINS_MANAGE
    list_display = ("short_url", "description", "subscriptions", "active_label", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = ("secret", "created_at", "updated_at")
    actions = ["rotate_secret"]

    @display(description="URL")
    def short_url(self, obj: WebhookEndpoint) -> str:
        return display_url(obj.url)

    @display(description="Event types")
    def subscriptions(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types)

    @display(description="Status", label={"Active": "success", "Disabled": "warning"})
    def active_label(self, obj: WebhookEndpoint) -> str:
        return "Active" if obj.is_active else "Disabled"

    @display(description="Signing secret")
    def secret(self, obj: WebhookEndpoint) -> str:
        return f"whsec_…{obj.secret_hint}" if obj.pk else ""

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["url", "description", "event_types", "is_active"]
        return fields if obj is None else [*fields, "secret", "created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        request._merchantry_created_endpoint = getattr(form, "result", None)  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None
    ) -> HttpResponse:
        created = getattr(request, "_merchantry_created_endpoint", None)
        if not isinstance(created, EndpointWithSecret):
            return super().response_add(request, obj, post_url_continue)
        return self._show_secret(request, created, heading="Webhook endpoint created")

    def _show_secret(
        self, request: HttpRequest, shown: EndpointWithSecret, *, heading: str
    ) -> HttpResponse:
        endpoint = shown.endpoint
        return render_shown_once(
            request,
            self.admin_site,
            heading=heading,
            explanation=(
                f"Every delivery carries a {SIGNATURE_HEADER} header: the HMAC-SHA256 of "
                "the timestamp and the body with this secret. Verify it before trusting "
                "a delivery (see the webhooks documentation)."
            ),
            label="Signing secret",
            secret=shown.secret,
            done_url=reverse("admin:webhooks_webhookendpoint_changelist"),
            details=[
                ("URL", display_url(endpoint.url)),
                ("Event types", ", ".join(endpoint.event_types)),
            ],
        )

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: WebhookEndpoint) -> None:
        actor, shop = scope.current()
        endpoint_delete(actor=actor, shop=shop, endpoint_id=obj.pk)

    @admin.action(description="Rotate the signing secret", permissions=["manage"])
    def rotate_secret(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse | None:
        scope = self.scope(request)
        if scope is None:
            return None
        endpoints = list(queryset[:2])
        if len(endpoints) != 1:
            messages.error(request, "Select one endpoint: its new secret is shown once.")
            return None
        actor, shop = scope.current()
        # Immediately: from the admin this is the "the secret leaked" button.
        rotated = endpoint_rotate_secret(actor=actor, shop=shop, endpoint_id=endpoints[0].pk)
        return self._show_secret(request, rotated, heading="Signing secret rotated")


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("succeeded", "Succeeded"), ("failed", "Failed")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]
    ) -> QuerySet[WebhookDelivery]:
        value = self.value()
        return queryset.filter(status=value) if value else queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ShopScopedAdmin):
    """The delivery log: every attempt, read-only; failed ones can be replayed."""

    view_permission = Perm.PLUGINS_MANAGE
    manage_permission = Perm.PLUGINS_MANAGE
    list_display = (
        "event_type",
        "endpoint_url",
        "attempt",
        "status_label",
        "response_status_code",
        "response_time_ms",
        "created_at",
    )
    list_filter = (StatusFilter, "event_type")
    list_select_related = ("endpoint",)
    search_fields = ("event_type",)
    actions = ["replay"]
    fields = (
        "endpoint",
        "event_type",
        "event_uid",
        "attempt",
        "is_replay",
        "status",
        "response_status_code",
        "response_time_ms",
        "error",
        "next_attempt_at",
        "created_at",
        "attempted_at",
        "delivered_at",
    )
    readonly_fields = fields

    @display(description="Endpoint")
    def endpoint_url(self, obj: WebhookDelivery) -> str:
        return display_url(obj.endpoint.url)

    @display(description="Event id")
    def event_uid(self, obj: WebhookDelivery) -> str:
        return str(obj.event.uid)

    @display(
        description="Status",
        label={"Succeeded": "success", "Failed": "danger", "Pending": "warning"},
    )
    def status_label(self, obj: WebhookDelivery) -> str:
        return obj.get_status_display()

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # deliveries come from events

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a log

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Replay selected deliveries", permissions=["manage"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        scope = self.scope(request)
        if scope is None:
            return
        actor, shop = scope.current()
        replayed, refused = 0, []
        for delivery in queryset:
            try:
                delivery_replay(actor=actor, shop=shop, delivery_id=delivery.pk)
            except MerchantryError as exc:
                refused.append(f"#{delivery.pk}: {exc.detail}")
            else:
                replayed += 1
        if replayed:
            messages.success(
                request, f"Replaying {replayed} deliver{'ies' if replayed != 1 else 'y'}."
            )
        for line in refused:
            messages.warning(request, line)
