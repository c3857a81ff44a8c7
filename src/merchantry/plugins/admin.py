"""
Admin screens for plugins in the current shop.

- **Plugins**: this shop's installations with status and health; adding one
  installs a plugin; its page is a settings form generated from the plugin's
  Pydantic model (secret inputs are write-only: they show only whether a
  value is set, and a blank one keeps it); enable and disable are actions,
  deleting uninstalls.
- **Webhook events**: what the inbox received, failures first to the eye,
  with a replay action.

Every change goes through :mod:`merchantry.plugins.services`, which checks
``plugins.manage`` and audits it.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Literal

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from unfold.decorators import display
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from merchantry.core.errors import MerchantryError, ValidationFailed
from merchantry.plugins import registry, services
from merchantry.plugins.models import (
    PluginInstallation,
    WebhookEvent,
    WebhookEventStatus,
)
from merchantry.plugins.spec import secret_fields
from merchantry.tenancy.admin_scope import AdminScope, ServiceModelForm, ShopScopedAdmin
from merchantry.tenancy.permissions import Perm

__all__ = ["PluginInstallationAdmin", "WebhookEventAdmin", "settings_form_class"]


# -- installing ---------------------------------------------------------------------------


class InstallForm(ServiceModelForm):
    plugin_id = forms.ChoiceField(
        label="Plugin", widget=UnfoldAdminSelectWidget, help_text="Plugins available to install."
    )

    class Meta:
        model = PluginInstallation
        fields = ("plugin_id",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope = self.admin_scope
        installed = (
            set(PluginInstallation.objects.for_shop(scope.shop).values_list("plugin_id", flat=True))
            if scope is not None and scope.shop is not None
            else set()
        )
        self.fields["plugin_id"].choices = [
            (plugin_id, f"{loaded.plugin.manifest.name} {loaded.plugin.manifest.version}")
            for plugin_id, loaded in sorted(registry.all_plugins().items())
            if loaded.usable and loaded.plugin is not None and plugin_id not in installed
        ]

    def commit(self, scope: AdminScope) -> PluginInstallation:
        actor, shop = scope.current()
        return services.plugin_install(
            actor=actor, shop=shop, plugin_id=self.cleaned_data["plugin_id"]
        )


# -- the settings form, from the plugin's model --------------------------------------------


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _form_field(info: FieldInfo, *, secret: bool) -> forms.Field:
    """Return the form field for one settings field."""
    annotation = _unwrap_optional(info.annotation)
    common: dict[str, Any] = {"required": info.is_required(), "help_text": info.description or ""}
    if secret:
        # Never rendered back: the browser never receives the stored value.
        return forms.CharField(
            required=False,
            strip=False,
            widget=UnfoldAdminPasswordWidget(render_value=False),
            help_text=common["help_text"],
        )
    if annotation is bool:
        return forms.BooleanField(
            required=False, widget=UnfoldBooleanSwitchWidget, help_text=common["help_text"]
        )
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        return forms.TypedChoiceField(
            choices=[(v, v) for v in values],
            coerce=lambda raw, values=values: next((v for v in values if str(v) == raw), raw),
            widget=UnfoldAdminSelectWidget,
            **common,
        )
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return forms.ChoiceField(
            choices=[(m.value, m.value) for m in annotation],
            widget=UnfoldAdminSelectWidget,
            **common,
        )
    if annotation is int:
        return forms.IntegerField(widget=UnfoldAdminIntegerFieldWidget, **common)
    if annotation in (float, Decimal):
        return forms.DecimalField(widget=UnfoldAdminDecimalFieldWidget, **common)
    if annotation in (str, SecretStr, SecretBytes):
        return forms.CharField(widget=UnfoldAdminTextInputWidget, **common)
    # Lists, mappings, nested models: JSON, validated by the model on save.
    return forms.JSONField(widget=UnfoldAdminTextareaWidget, **common)


class SettingsForm(ServiceModelForm):
    """An installation's settings; subclasses add one field per settings field."""

    settings_model: ClassVar[type[BaseModel] | None] = None
    secret_names: ClassVar[frozenset[str]] = frozenset()

    class Meta:
        model = PluginInstallation
        fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model = self.settings_model
        if model is None or self.instance.pk is None:
            return
        values, secrets_set = services.settings_masked(self.instance, model)
        for name, field in self.fields.items():
            if name in self.secret_names:
                state = "Set: leave blank to keep it." if secrets_set.get(name) else "Not set."
                field.help_text = f"{state} {field.help_text}".strip()
            elif values.get(name) is not None:
                self.initial[name] = values[name]

    def commit(self, scope: AdminScope) -> PluginInstallation:
        actor, shop = scope.current()
        model = self.settings_model
        changes: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name in self.secret_names:
                if value:  # blank keeps the stored secret
                    changes[name] = value
                continue
            if value in (None, "") and model is not None:
                info = model.model_fields[name]
                if not info.is_required():
                    value = info.get_default(call_default_factory=True)
            if isinstance(value, Decimal):
                value = str(value)
            changes[name] = value
        return services.plugin_configure(
            actor=actor, shop=shop, plugin_id=self.instance.plugin_id, settings=changes
        )

    def _add_service_errors(self, exc: ValidationFailed) -> None:
        if not exc.errors:
            self.add_error(None, exc.detail)
        for error in exc.errors:
            loc = error.loc
            name = str(loc[1]) if len(loc) > 1 and loc[0] == "settings" else None
            self.add_error(name if name in self.fields else None, error.message)


def settings_form_class(model: type[BaseModel] | None) -> type[SettingsForm]:
    """Return a settings form with one field per field of ``model``."""
    if model is None:
        return SettingsForm
    secret_names = secret_fields(model)
    attrs: dict[str, Any] = {
        name: _form_field(info, secret=name in secret_names)
        for name, info in model.model_fields.items()
    }
    attrs.update(settings_model=model, secret_names=secret_names)
    return type(f"{model.__name__}Form", (SettingsForm,), attrs)


# -- installations -------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


@admin.register(PluginInstallation)
class PluginInstallationAdmin(ShopScopedAdmin):
    form = InstallForm
    view_permission = Perm.PLUGINS_MANAGE
    manage_permission = Perm.PLUGINS_MANAGE
    list_display = (
        "plugin_name",
        "status_label",
        "health_label",
        "last_webhook_at",
        "error_rate_display",
        "failed_events",
    )
    list_filter = ("status",)
    search_fields = ("plugin_id",)
    actions = ["enable_plugins", "disable_plugins"]
    status_fields = (
        "status",
        "webhook_address",
        "health_report",
        "installed_at",
        "updated_at",
        "last_webhook_at",
        "last_error_at",
        "last_error",
        "error_count",
        "success_count",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PluginInstallation]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                failed_event_count=Count(
                    "webhook_events", filter=Q(webhook_events__status=WebhookEventStatus.FAILED)
                )
            )
        )

    # -- columns -------------------------------------------------------------------

    @display(description="Plugin", ordering="plugin_id")
    def plugin_name(self, obj: PluginInstallation) -> str:
        loaded = registry.get_plugin(obj.plugin_id)
        manifest = loaded.manifest if loaded is not None else None
        return f"{manifest.name} ({obj.plugin_id})" if manifest else obj.plugin_id

    @display(
        description="Status",
        label={"Enabled": "success", "Installed": "info", "Disabled": "warning"},
    )
    def status_label(self, obj: PluginInstallation) -> str:
        return obj.get_status_display()

    @display(description="Health", label={"OK": "success", "Failing": "danger", "-": "info"})
    def health_label(self, obj: PluginInstallation) -> str:
        # The list shows what the platform counted; the plugin's own check
        # (which may call the provider) runs on the installation's page.
        loaded = registry.get_plugin(obj.plugin_id)
        if loaded is None or not loaded.usable:
            return "Failing"
        if getattr(obj, "failed_event_count", 0):
            return "Failing"
        return "OK" if obj.success_count or obj.is_enabled else "-"

    @display(description="Error rate")
    def error_rate_display(self, obj: PluginInstallation) -> str:
        rate = obj.error_rate
        return "-" if rate is None else f"{rate:.1%}"

    @display(description="Failed events")
    def failed_events(self, obj: PluginInstallation) -> int:
        return getattr(obj, "failed_event_count", 0)

    @display(description="Webhook URL path")
    def webhook_address(self, obj: PluginInstallation) -> str:
        return f"{obj.webhook_path} (after this site's address, e.g. https://shop.example.com)"

    @display(description="Health")
    def health_report(self, obj: PluginInstallation) -> str:
        health = services.installation_health(obj)
        rows = [
            ("Healthy" if health.ok else "Unhealthy", health.detail),
            *health.checks.items(),
            ("Pending events", str(health.pending_events)),
            ("Failed events", str(health.failed_events)),
        ]
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))

    # -- the form ------------------------------------------------------------------

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is not None:
            kwargs["form"] = settings_form_class(_settings_model(obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[Any, dict]]:
        if obj is None:
            return [(None, {"fields": ["plugin_id"]})]
        model = _settings_model(obj)
        settings = list(model.model_fields) if model is not None else []
        fieldsets: list[tuple[Any, dict]] = []
        if settings:
            fieldsets.append(("Settings", {"fields": settings}))
        fieldsets.append(("Status", {"fields": list(self.status_fields)}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.status_fields if obj is not None else ()

    def perform_delete(
        self, request: HttpRequest, scope: AdminScope, obj: PluginInstallation
    ) -> None:
        actor, shop = scope.current()
        services.plugin_uninstall(actor=actor, shop=shop, plugin_id=obj.plugin_id)

    # -- actions -------------------------------------------------------------------

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[PluginInstallation],
        operation: Callable[..., Any],
        done: str,
    ) -> None:
        scope = self.scope(request)
        if scope is None:
            return
        actor, shop = scope.current()
        count = 0
        for installation in queryset:
            try:
                operation(actor=actor, shop=shop, plugin_id=installation.plugin_id)
            except MerchantryError as exc:
                messages.error(request, f"{installation.plugin_id}: {exc.detail}")
            else:
                count += 1
        if count:
            messages.success(request, f"{done} {_plural(count, 'plugin')}.")

    @admin.action(description="Enable selected plugins", permissions=["manage"])
    def enable_plugins(self, request: HttpRequest, queryset: QuerySet[PluginInstallation]) -> None:
        self._each(request, queryset, services.plugin_enable, "Enabled")

    @admin.action(description="Disable selected plugins", permissions=["manage"])
    def disable_plugins(self, request: HttpRequest, queryset: QuerySet[PluginInstallation]) -> None:
        self._each(request, queryset, services.plugin_disable, "Disabled")


def _settings_model(installation: PluginInstallation) -> type[BaseModel] | None:
    loaded = registry.get_plugin(installation.plugin_id)
    manifest = loaded.manifest if loaded is not None else None
    return manifest.settings_model if manifest is not None else None


# -- webhook events ------------------------------------------------------------------------


@admin.register(WebhookEvent)
class WebhookEventAdmin(ShopScopedAdmin):
    """What the inbox received; read-only, with a replay action."""

    view_permission = Perm.PLUGINS_MANAGE
    manage_permission = Perm.PLUGINS_MANAGE
    list_display = (
        "received_at",
        "plugin_id",
        "event_type",
        "provider_event_id",
        "status_label",
        "attempts",
        "last_error",
    )
    list_filter = ("status", "plugin_id")
    search_fields = ("provider_event_id", "event_type")
    actions = ["replay_events"]
    fields = (
        "plugin_id",
        "provider_event_id",
        "event_type",
        "status",
        "attempts",
        "last_error",
        "received_at",
        "occurred_at",
        "next_attempt_at",
        "last_attempt_at",
        "processed_at",
        "path",
        "headers_display",
        "body_display",
    )
    readonly_fields = fields

    @display(
        description="Status",
        label={"Processed": "success", "Failed": "danger", "Pending": "info", "Processing": "info"},
    )
    def status_label(self, obj: WebhookEvent) -> str:
        return obj.get_status_display()

    @display(description="Headers")
    def headers_display(self, obj: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, sort_keys=True))

    @display(description="Body")
    def body_display(self, obj: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", bytes(obj.body).decode("utf-8", errors="replace"))

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # only the inbox stores events

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # they go with their installation

    @admin.action(description="Replay selected events", permissions=["manage"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        scope = self.scope(request)
        if scope is None:
            return
        actor, shop = scope.current()
        count = 0
        for event in queryset:
            try:
                services.webhook_event_replay(
                    actor=actor, shop=shop, plugin_id=event.plugin_id, event_id=event.pk
                )
            except MerchantryError as exc:
                messages.error(request, f"{event}: {exc.detail}")
            else:
                count += 1
        if count:
            messages.success(request, f"Queued {_plural(count, 'event')} for processing.")
