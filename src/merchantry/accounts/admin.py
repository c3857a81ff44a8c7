"""
Admin screens for people: staff users (platform), staff memberships and
roles, customers, and staff two-factor devices (platform).

Memberships, roles and customers show the current shop only (see
:mod:`merchantry.tenancy.admin_scope`); changes go through
:mod:`merchantry.accounts.services`. Users and two-factor devices are
platform screens, for superusers only (Django's own permissions, which no
shop role grants).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from merchantry.accounts.models import Customer, CustomerAddress, Membership, Role, User
from merchantry.accounts.otp import totp_reset
from merchantry.accounts.services import (
    membership_create,
    membership_remove,
    membership_set_role,
    role_create,
    role_delete,
    role_update,
)
from merchantry.tenancy.admin_scope import (
    AdminScope,
    ServiceModelForm,
    ShopScopedAdmin,
    get_admin_scope,
    render_shown_once,
)
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm

__all__ = ["CustomerAdmin", "MembershipAdmin", "RoleAdmin", "TOTPDeviceAdmin", "UserAdmin"]

admin.site.unregister(Group)


# -- staff users (platform) --------------------------------------------------------


class StaffCreationForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("email",)


class StaffChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin, ModelAdmin):
    form = StaffChangeForm
    add_form = StaffCreationForm
    change_password_form = AdminPasswordChangeForm
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_superuser", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ()


# -- staff memberships -------------------------------------------------------------


def _two_factor_on() -> Exists:
    return Exists(TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True))


class MembershipForm(ServiceModelForm):
    email = forms.EmailField(help_text="A new address gets an account with a one-time password.")
    full_name = forms.CharField(required=False, max_length=150)

    class Meta:
        model = Membership
        fields = ("role",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            # Only the role changes; the person is who they are.
            del self.fields["email"], self.fields["full_name"]

    def commit(self, scope: AdminScope) -> Membership:
        actor, shop = scope.current()
        role: Role = self.cleaned_data["role"]
        if self.instance._state.adding:
            invite = membership_create(
                actor=actor,
                shop=shop,
                email=self.cleaned_data["email"],
                role=role.key,
                full_name=self.cleaned_data.get("full_name") or "",
            )
            self.result = invite
            return invite.membership
        return membership_set_role(
            actor=actor, shop=shop, membership_id=self.instance.pk, role=role.key
        )


@admin.register(Membership)
class MembershipAdmin(ShopScopedAdmin):
    """Who works in the current shop, and in which role."""

    form = MembershipForm
    view_permission = Perm.STAFF_VIEW
    manage_permission = Perm.STAFF_MANAGE
    list_display = ("user_email", "user_name", "role", "two_factor", "created_at")
    list_filter = (("role", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("user__email", "user__full_name")
    list_select_related = ("user", "role")
    readonly_fields = ("user_email", "created_at")

    @display(description="Email", ordering="user__email")
    def user_email(self, obj: Membership) -> str:
        return obj.user.email

    @display(description="Name", ordering="user__full_name")
    def user_name(self, obj: Membership) -> str:
        return obj.user.full_name

    @display(description="Two-factor", boolean=True)
    def two_factor(self, obj: Membership) -> bool:
        return bool(getattr(obj, "two_factor_on", False))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).annotate(two_factor_on=_two_factor_on())

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["email", "full_name", "role"]
        return ["user_email", "role", "created_at"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role":
            scope = self.scope(request)
            shop = scope.shop if scope is not None else None
            kwargs["queryset"] = (
                Role.objects.available_to(shop).order_by("shop_id", "name")
                if shop is not None
                else Role.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        request._merchantry_invite = getattr(form, "result", None)  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: Membership, post_url_continue: str | None = None
    ) -> HttpResponse:
        invite = getattr(request, "_merchantry_invite", None)
        if invite is None or not invite.password:
            return super().response_add(request, obj, post_url_continue)
        return render_shown_once(
            request,
            self.admin_site,
            heading=f"{obj.user.email} can now sign in",
            explanation=(
                "An account was created for them. Hand them this one-time password "
                "in person or over a channel you trust; they should change it and "
                "turn on two-factor authentication at first sign-in."
            ),
            label="One-time password",
            secret=invite.password,
            done_url=reverse("admin:accounts_membership_changelist"),
            details=[("Role", str(obj.role))],
        )

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Membership) -> None:
        actor, shop = scope.current()
        membership_remove(actor=actor, shop=shop, membership_id=obj.pk)


# -- roles ---------------------------------------------------------------------------


class RoleForm(ServiceModelForm):
    permissions = forms.MultipleChoiceField(
        required=False,
        choices=[(p.value, p.value) for p in Perm],
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="'manage' includes 'view' of the same area.",
    )

    class Meta:
        model = Role
        fields = ("key", "name", "permissions")

    def commit(self, scope: AdminScope) -> Role:
        actor, shop = scope.current()
        if not self.instance._state.adding:
            return role_update(
                actor=actor,
                shop=shop,
                role_id=self.instance.pk,
                name=self.cleaned_data["name"],
                permissions=list(self.cleaned_data.get("permissions") or ()),
            )
        return role_create(
            actor=actor,
            shop=shop,
            key=self.cleaned_data["key"],
            name=self.cleaned_data["name"],
            permissions=list(self.cleaned_data.get("permissions") or ()),
        )


@admin.register(Role)
class RoleAdmin(ShopScopedAdmin):
    """
    The built-in roles (read-only, from code) and the shop's custom roles.

    Custom roles can be renamed and re-granted; their holders' permissions
    change at once.
    """

    form = RoleForm
    view_permission = Perm.STAFF_VIEW
    manage_permission = Perm.STAFF_MANAGE
    list_display = ("name", "key", "kind", "permission_count")
    search_fields = ("name", "key")
    readonly_fields = ("granted", "created_at")

    @display(description="Kind", label={"Built-in": "info", "Custom": "success"})
    def kind(self, obj: Role) -> str:
        return "Built-in" if obj.is_builtin else "Custom"

    @display(description="Permissions")
    def permission_count(self, obj: Role) -> int:
        return len(obj.effective_permissions())

    @display(description="Grants")
    def granted(self, obj: Role) -> str:
        return ", ".join(sorted(obj.effective_permissions())) or "nothing"

    def scope_queryset(self, queryset: QuerySet[Role], shop: Shop) -> QuerySet[Role]:
        return queryset.available_to(shop)  # type: ignore[attr-defined]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["key", "name", "permissions"]
        if obj.is_builtin or not self.has_change_permission(request, obj):
            return ["key", "name", "granted", "created_at"]
        return ["key", "name", "permissions", "granted", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        if obj.is_builtin or not self.has_change_permission(request, obj):
            return ("key", "name", "granted", "created_at")
        return ("key", "granted", "created_at")

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and not obj.is_builtin and "permissions" in form.base_fields:
            form.base_fields["permissions"].initial = list(obj.permissions)
        return form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_builtin:
            return False  # built-in roles are defined in code
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Role) -> None:
        actor, shop = scope.current()
        role_delete(actor=actor, shop=shop, role_id=obj.pk)


# -- customers -------------------------------------------------------------------------


class CustomerAddressInline(TabularInline):
    model = CustomerAddress
    fk_name = "customer"
    extra = 0
    can_delete = False
    fields = ("first_name", "last_name", "line1", "city", "postal_code", "country", "phone")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerAddress]:
        scope = get_admin_scope(request)
        queryset = super().get_queryset(request)
        return queryset.for_shop(scope.shop) if scope and scope.shop else queryset.none()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        scope = get_admin_scope(request)
        return scope is not None and scope.has_perm(Perm.CUSTOMERS_VIEW)


@admin.register(Customer)
class CustomerAdmin(ShopScopedAdmin):
    """The current shop's customers, read-only: customers manage their own accounts."""

    view_permission = Perm.CUSTOMERS_VIEW
    manage_permission = Perm.CUSTOMERS_MANAGE
    list_display = (
        "email",
        "full_name",
        "registered_label",
        "is_active",
        "accepts_marketing",
        "created_at",
    )
    list_filter = ("is_registered", "is_active", "accepts_marketing")
    search_fields = ("email", "full_name", "phone")
    inlines = (CustomerAddressInline,)
    # Never on any screen: the password hash.
    fields = (
        "email",
        "full_name",
        "phone",
        "is_registered",
        "is_active",
        "accepts_marketing",
        "email_verified_at",
        "last_login",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @display(description="Account", label={"Registered": "success", "Guest": "info"})
    def registered_label(self, obj: Customer) -> str:
        return "Registered" if obj.is_registered else "Guest"

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# -- two-factor devices (platform) ----------------------------------------------------

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(ModelAdmin):
    """Staff authenticators, for superusers: see who has two-factor, reset a lost phone."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    # Never the secret key: whoever reads it can make codes.
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields
    actions = ["reset_two_factor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # staff enrol themselves, from their own account page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # through the audited action below

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return super().get_actions(request) if request.user.is_superuser else {}

    @admin.action(description="Reset two-factor for the selected staff")
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[TOTPDevice]) -> None:
        scope = get_admin_scope(request)
        actor = scope.platform_actor if scope is not None else None
        if actor is None:
            messages.error(request, "Only platform administrators reset two-factor sign-in.")
            return
        users = User.objects.filter(pk__in=queryset.values("user_id"))
        for user in users:
            totp_reset(actor=actor, user=user)
        messages.success(request, f"Two-factor reset for {len(users)} staff member(s).")
