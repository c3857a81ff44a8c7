"""
Admin screens for shops, domains, channels and API keys.

Each shows the staff member's current shop only (see
:mod:`merchantry.tenancy.admin_scope`); every change goes through
:mod:`merchantry.tenancy.services`, which checks the permission and audits it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextareaWidget

from merchantry.core.errors import PermissionDenied
from merchantry.tenancy.admin_scope import (
    AdminScope,
    ServiceModelForm,
    ShopScopedAdmin,
    get_admin_scope,
    render_shown_once,
)
from merchantry.tenancy.models import ApiKey, ApiKeyKind, Channel, Domain, Shop
from merchantry.tenancy.permissions import Perm
from merchantry.tenancy.services import (
    apikey_create,
    apikey_revoke,
    channel_create,
    channel_delete,
    channel_update,
    domain_add,
    domain_remove,
    shop_create,
    shop_update,
)

__all__ = ["ApiKeyAdmin", "ChannelAdmin", "DomainAdmin", "ShopAdmin"]

# -- shops ------------------------------------------------------------------------


class ShopForm(ServiceModelForm):
    domain = forms.CharField(
        required=False,
        max_length=253,
        help_text="Optional: the shop's host name, e.g. shop.example.com.",
    )

    class Meta:
        model = Shop
        fields = ("name", "slug", "default_currency", "default_country", "timezone", "status")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            del self.fields["domain"]  # domains have their own screen

    def commit(self, scope: AdminScope) -> Shop:
        data = self.cleaned_data
        if self.instance._state.adding:
            actor = scope.platform_actor
            if actor is None:
                raise PermissionDenied("Only platform administrators create shops.")
            return shop_create(
                actor=actor,
                slug=data["slug"],
                name=data["name"],
                currency=data["default_currency"],
                country=data["default_country"],
                timezone_name=data.get("timezone") or "UTC",
                domain=data.get("domain") or None,
            )
        shop = Shop.objects.get(pk=self.instance.pk)
        actor = scope.actor_for(shop)
        if actor is None:
            raise PermissionDenied("You do not work in this shop.")
        changes = {k: v for k, v in self.changes().items() if k not in ("slug", "domain")}
        return shop_update(actor=actor, shop=shop, changes=changes) if changes else shop


@admin.register(Shop)
class ShopAdmin(ModelAdmin):
    """All shops for platform administrators; the current shop for everyone else."""

    form = ShopForm
    list_display = ("name", "slug", "default_currency", "default_country", "status_label")
    list_filter = ("status",)
    search_fields = ("name", "slug")
    readonly_fields = ("created_at", "updated_at")

    @display(description="Status", label={"Active": "success", "Suspended": "danger"})
    def status_label(self, obj: Shop) -> str:
        return obj.get_status_display()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Shop]:
        queryset = super().get_queryset(request)
        scope = get_admin_scope(request)
        if scope is None:
            return queryset.none()
        if scope.is_superuser:
            return queryset
        return queryset.filter(pk=scope.shop_id) if scope.shop_id else queryset.none()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        scope = get_admin_scope(request)
        fields = ["name", "slug", "default_currency", "default_country", "timezone"]
        if obj is None:
            return [*fields, "domain"]
        if scope is not None and scope.is_superuser:
            fields.append("status")  # suspending a shop is the platform's call
        return [*fields, "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The slug names the shop in URLs, keys and the CLI: fixed once created.
        return (*self.readonly_fields, "slug") if obj is not None else ()

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"admin_scope": get_admin_scope(request)})

    def save_model(self, request: HttpRequest, obj: Shop, form: Any, change: bool) -> None:
        pass  # ShopForm.commit saved it through the service

    def _scope(self, request: HttpRequest) -> AdminScope | None:
        return get_admin_scope(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        scope = self._scope(request)
        return scope is not None and (
            scope.is_superuser or scope.has_perm(Perm.SHOP_VIEW) or scope.has_perm(Perm.SHOP_MANAGE)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        scope = self._scope(request)
        return scope is not None and scope.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        scope = self._scope(request)
        return scope is not None and (scope.is_superuser or scope.has_perm(Perm.SHOP_MANAGE))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A shop is suspended, not deleted: its orders and audit trail stay.
        return False


# -- domains ----------------------------------------------------------------------


class DomainForm(ServiceModelForm):
    class Meta:
        model = Domain
        fields = ("host", "is_primary")

    def commit(self, scope: AdminScope) -> Domain:
        actor, shop = scope.current()
        return domain_add(
            actor=actor,
            shop=shop,
            host=self.cleaned_data["host"],
            is_primary=self.cleaned_data["is_primary"],
        )


@admin.register(Domain)
class DomainAdmin(ShopScopedAdmin):
    form = DomainForm
    view_permission = Perm.SHOP_VIEW
    manage_permission = Perm.SHOP_MANAGE
    list_display = ("host", "is_primary", "created_at")
    search_fields = ("host",)
    readonly_fields = ("created_at",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A host is added or removed, never renamed.
        return False

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Domain) -> None:
        actor, shop = scope.current()
        domain_remove(actor=actor, shop=shop, domain_id=obj.pk)


# -- channels ---------------------------------------------------------------------


class OriginsField(forms.Field):
    """Browser origins, one per line, as a list."""

    widget = UnfoldAdminTextareaWidget

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]


class ChannelForm(ServiceModelForm):
    allowed_origins = OriginsField(
        required=False,
        help_text="Browser origins allowed to call the Store API, one per line, "
        "e.g. https://shop.example.com.",
    )

    class Meta:
        model = Channel
        fields = (
            "name",
            "slug",
            "kind",
            "currency",
            "default_country",
            "allowed_origins",
            "is_active",
        )

    def commit(self, scope: AdminScope) -> Channel:
        actor, shop = scope.current()
        data = self.cleaned_data
        if self.instance._state.adding:
            return channel_create(
                actor=actor,
                shop=shop,
                slug=data["slug"],
                name=data["name"],
                kind=data["kind"],
                currency=data["currency"],
                default_country=data["default_country"],
                allowed_origins=data["allowed_origins"],
                is_active=data["is_active"],
            )
        return channel_update(
            actor=actor, shop=shop, channel_id=self.instance.pk, changes=self.changes()
        )


@admin.register(Channel)
class ChannelAdmin(ShopScopedAdmin):
    form = ChannelForm
    view_permission = Perm.CHANNELS_VIEW
    manage_permission = Perm.CHANNELS_MANAGE
    list_display = ("name", "slug", "kind", "currency", "default_country", "active_label")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "slug")
    readonly_fields = ("created_at", "updated_at")

    @display(description="Status", label={"Active": "success", "Inactive": "warning"})
    def active_label(self, obj: Channel) -> str:
        return "Active" if obj.is_active else "Inactive"

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Channel) -> None:
        actor, shop = scope.current()
        channel_delete(actor=actor, shop=shop, channel_id=obj.pk)


# -- API keys ---------------------------------------------------------------------


class ApiKeyForm(ServiceModelForm):
    permissions = forms.MultipleChoiceField(
        required=False,
        choices=[(p.value, p.value) for p in Perm],
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="Secret keys only. A key can hold only permissions you hold yourself; "
        "'manage' includes 'view'.",
    )

    class Meta:
        model = ApiKey
        fields = ("name", "kind", "channel", "permissions")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope = self.admin_scope
        if scope is not None and scope.actor is not None and "permissions" in self.fields:
            self.fields["permissions"].choices = [
                (p.value, p.value) for p in Perm if scope.actor.has_perm(p.value)
            ]
        if "channel" in self.fields:
            self.fields["channel"].help_text = "Publishable keys only: the channel they sell in."

    def commit(self, scope: AdminScope) -> ApiKey:
        actor, shop = scope.current()
        data = self.cleaned_data
        request = self.admin_request
        created = apikey_create(
            actor=actor,
            shop=shop,
            kind=data["kind"],
            name=data["name"],
            channel=data.get("channel"),
            permissions=data.get("permissions") or (),
            created_by_id=getattr(getattr(request, "user", None), "pk", None),
        )
        self.result = created
        return created.api_key


class LiveFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "Live"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ShopScopedAdmin):
    """API keys: created once (the key is shown then, never again), then only revoked."""

    form = ApiKeyForm
    view_permission = Perm.APIKEYS_MANAGE
    manage_permission = Perm.APIKEYS_MANAGE
    list_display = (
        "name",
        "key_prefix",
        "kind",
        "channel",
        "last_used_at",
        "status_label",
        "created_at",
    )
    list_filter = ("kind", LiveFilter)
    search_fields = ("name", "prefix")
    list_select_related = ("channel", "shop")
    actions = ["revoke_keys"]
    # Never on any screen: the hash of the key.
    exclude = ("key_hash",)
    view_fields = (
        "name",
        "kind",
        "channel",
        "key_prefix",
        "permissions",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    @display(description="Key")
    def key_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @display(description="Status", label={"Live": "success", "Revoked": "danger"})
    def status_label(self, obj: ApiKey) -> str:
        return "Revoked" if obj.is_revoked else "Live"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["name", "kind", "channel", "permissions"]
        return list(self.view_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.view_fields if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A key is immutable: revoke it and create another.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoked keys stay listed, so the audit trail can name them.
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        request._merchantry_created_key = getattr(form, "result", None)  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        created = getattr(request, "_merchantry_created_key", None)
        if created is None:
            return super().response_add(request, obj, post_url_continue)
        explanation = (
            "Use it as a bearer token for the Admin API (Authorization: Bearer …). "
            "Keep it on a server; never put it in a browser or an app."
            if obj.kind == ApiKeyKind.SECRET
            else "Send it in the X-Publishable-Key header of Store API calls. "
            "It is safe to embed in a storefront."
        )
        return render_shown_once(
            request,
            self.admin_site,
            heading=f"API key “{obj.name}” created",
            explanation=explanation,
            label=f"{obj.get_kind_display()} key",
            secret=created.raw,
            done_url=reverse("admin:tenancy_apikey_changelist"),
            details=[("Kind", obj.get_kind_display()), ("Prefix", f"{obj.prefix}…")],
        )

    @admin.action(description="Revoke selected keys", permissions=["manage"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        scope = self.scope(request)
        if scope is None:
            return
        actor, shop = scope.current()
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            apikey_revoke(actor=actor, shop=shop, key_id=key.pk)
            revoked += 1
        messages.success(request, f"Revoked {revoked} key{'s' if revoked != 1 else ''}.")
