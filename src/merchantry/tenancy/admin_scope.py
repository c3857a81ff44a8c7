"""
The admin's current shop, and the base screen for tenant-owned models.

A staff member may work in several shops; the admin keeps the one they are
working in per session (``SESSION_KEY``), and every tenant screen shows and
changes only that shop. The scope is resolved once per request by
:class:`merchantry.accounts.admin_access.AdminShopMiddleware` (memberships
live in accounts, which tenancy must not import) and attached to the request
as ``request.admin_scope``. Everything here only reads that attribute: a
request without one (anonymous, not staff, no middleware) has no shop and
sees no tenant data.

:class:`ShopScopedAdmin` is the base for every tenant-owned model's screen:

- the changelist and every object lookup are filtered to the current shop, so
  another shop's object is "not found", exactly as in the APIs;
- new rows get the current shop; the ``shop`` field is never on a form;
- foreign-key choices are limited to the current shop;
- access comes from Merchantry's permission codes (``view_permission``,
  ``manage_permission``), not from Django's model permissions;
- writes that carry business rules go through a service, called from the
  form (:class:`ServiceModelForm`) so the service's errors show on the form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from unfold.admin import ModelAdmin
from unfold.dataclasses import DropdownItem

from merchantry.core.actors import Actor
from merchantry.core.errors import MerchantryError, PermissionDenied, ValidationFailed
from merchantry.tenancy.models import Shop

__all__ = [
    "SESSION_KEY",
    "AdminScope",
    "ServiceModelForm",
    "ShopScopedAdmin",
    "admin_context",
    "get_admin_scope",
    "render_shown_once",
    "scope_permission",
]

SESSION_KEY = "merchantry_shop_id"
"""The session key holding the id of the shop the staff member works in."""


@dataclass(frozen=True, slots=True)
class AdminScope:
    """Who is using the admin, in which shop, and which shops they may switch to."""

    user: Any
    shop: Shop | None
    actor: Actor | None
    """The user acting in ``shop`` (None without a shop)."""
    shops: tuple[Shop, ...]
    actor_for: Callable[[Shop], Actor | None]
    """Return the user's actor in another shop (superusers editing any shop)."""

    @property
    def is_superuser(self) -> bool:
        return bool(getattr(self.user, "is_superuser", False))

    @property
    def shop_id(self) -> int | None:
        return self.shop.pk if self.shop is not None else None

    def has_perm(self, code: str) -> bool:
        """Return True when the user holds ``code`` in the current shop."""
        return self.actor is not None and self.actor.has_perm(code)

    def current(self) -> tuple[Actor, Shop]:
        """Return the actor and the shop they work in; raise when there is none."""
        if self.actor is None or self.shop is None:
            raise PermissionDenied("Choose a shop to work in first.")
        return self.actor, self.shop

    @property
    def platform_actor(self) -> Actor | None:
        """The superuser acting for the installation (creating shops), else None."""
        if not self.is_superuser:
            return None
        return Actor(
            kind="user",
            key=f"user:{self.user.pk}",
            label=str(self.user),
            is_platform_admin=True,
            is_shop_owner=True,
        )


def get_admin_scope(request: HttpRequest) -> AdminScope | None:
    """Return the admin scope the middleware attached to ``request``, if any."""
    scope = getattr(request, "admin_scope", None)
    return scope if isinstance(scope, AdminScope) else None


def scope_permission(request: HttpRequest, code: str) -> bool:
    """Return True when the request's user holds ``code`` in their current shop."""
    scope = get_admin_scope(request)
    return scope is not None and scope.has_perm(code)


def _url(name: str, default: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return default


def admin_context(request: HttpRequest) -> dict[str, Any]:
    """
    Add the shop switcher to every admin page (unfold's ``GLOBAL_CALLBACK``).

    The sidebar header shows the current shop; clicking it opens the site
    dropdown, which ``templates/unfold/helpers/site_dropdown.html`` renders as
    the list of the user's shops (one POST form each) above these links.
    """
    scope = get_admin_scope(request)
    if scope is None:
        return {}
    links = [
        DropdownItem(title="View storefront", link="/", icon="storefront", attrs=None),
        DropdownItem(title="API reference", link="/api/v1/docs", icon="api", attrs=None),
        DropdownItem(
            title="Two-factor authentication",
            link=_url("admin-two-factor", "#"),
            icon="phonelink_lock",
            attrs=None,
        ),
    ]
    if scope.shop is not None:
        count = len(scope.shops)
        subheader = f"{scope.shop.slug} · {count} shop{'s' if count != 1 else ''}"
        header = scope.shop.name
    else:
        header, subheader = "Merchantry", "No shop yet"
    return {
        "admin_scope": scope,
        "site_header": header,
        "site_subheader": subheader,
        "site_dropdown": links,
        "shop_switch_url": _url("admin-shop-switch", ""),
    }


def render_shown_once(
    request: HttpRequest,
    admin_site: AdminSite,
    *,
    heading: str,
    explanation: str,
    label: str,
    secret: str,
    done_url: str,
    details: Sequence[tuple[str, str]] = (),
) -> TemplateResponse:
    """
    Render a secret once, in the response to the request that created it.

    Not through ``messages``: those may travel in a cookie, and a secret
    belongs only in this one response body (sent with ``no-store``).
    """
    response = TemplateResponse(
        request,
        "admin/merchantry/shown_once.html",
        {
            **admin_site.each_context(request),
            "title": heading,
            "heading": heading,
            "warning": "Copy it now: it will not be shown again.",
            "explanation": explanation,
            "secret_label": label,
            "secret": secret,
            "details": list(details),
            "done_url": done_url,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


# -- forms whose save is a service call ---------------------------------------------


class ServiceModelForm(forms.ModelForm):
    """
    A model form saved by a service call, made as the last step of validation.

    Services validate and raise :class:`~merchantry.core.errors.ValidationFailed`
    (or another :class:`~merchantry.core.errors.MerchantryError`); calling them
    from ``_post_clean`` turns those into form errors instead of a server
    error, and the admin then "saves" the object the service returned. A
    screen using such a form must not have editable inlines: the service has
    committed before the inline formsets are validated.
    """

    admin_scope: ClassVar[AdminScope | None] = None
    admin_request: ClassVar[HttpRequest | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committed = False
        self.result: Any = None
        """What the service returned, for screens that show something once."""

    def commit(self, scope: AdminScope) -> models.Model:
        """Perform the change through a service and return the saved object."""
        raise NotImplementedError(f"{type(self).__name__} must define commit(scope).")

    def changes(self) -> dict[str, Any]:
        """Return the changed fields and their new values."""
        return {name: self.cleaned_data[name] for name in self.changed_data}

    def _post_clean(self) -> None:
        # Not ModelForm's model validation: the service runs the same
        # validation (and more) on the object it builds, and reports it.
        if self.errors:
            return
        scope = self.admin_scope
        if scope is None:
            self.add_error(None, "Choose a shop to work in first.")
            return
        try:
            self.instance = self.commit(scope)
        except ValidationFailed as exc:
            self._add_service_errors(exc)
        except MerchantryError as exc:
            self.add_error(None, exc.detail)
        else:
            self.committed = True

    def _add_service_errors(self, exc: ValidationFailed) -> None:
        if not exc.errors:
            self.add_error(None, exc.detail)
        for error in exc.errors:
            name = str(error.loc[0]) if error.loc else None
            self.add_error(name if name in self.fields else None, error.message)


# -- the base screen ------------------------------------------------------------------


def _shop_field(model: type[models.Model]) -> models.Field | None:
    try:
        field = model._meta.get_field("shop")
    except Exception:
        return None
    return field if getattr(field, "related_model", None) is Shop else None


class ShopScopedAdmin(ModelAdmin):
    """
    The admin screen of a tenant-owned model: one shop at a time.

    Subclasses name the permission codes that open the screen
    (``view_permission``) and change it (``manage_permission``), and route
    writes through services by using a :class:`ServiceModelForm` and
    overriding :meth:`perform_delete`.
    """

    view_permission: ClassVar[str] = ""
    manage_permission: ClassVar[str] = ""
    shop_field: ClassVar[str] = "shop"

    # -- what the screen shows ---------------------------------------------------

    def scope(self, request: HttpRequest) -> AdminScope | None:
        return get_admin_scope(request)

    def scope_queryset(self, queryset: models.QuerySet, shop: Shop) -> models.QuerySet:
        """Return ``queryset`` limited to ``shop``'s rows."""
        return queryset.filter(**{self.shop_field: shop})

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = super().get_queryset(request)
        scope = self.scope(request)
        if scope is None or scope.shop is None:
            return queryset.none()
        return self.scope_queryset(queryset, scope.shop)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        # The shop is the current shop; switching shops is how to work in another.
        return (*(super().get_exclude(request, obj) or ()), self.shop_field)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Bulk deletion would bypass the services (and their audit records).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> Any:
        scope = self.scope(request)
        shop = scope.shop if scope is not None else None
        related = db_field.related_model
        if "queryset" not in kwargs:
            if related is Shop:
                kwargs["queryset"] = Shop.objects.filter(pk=shop.pk if shop else None)
            elif _shop_field(related) is not None:
                manager = related._default_manager
                kwargs["queryset"] = manager.filter(shop=shop) if shop else manager.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # -- who may do what ---------------------------------------------------------

    def _may(self, request: HttpRequest, code: str) -> bool:
        scope = self.scope(request)
        return bool(code) and scope is not None and scope.shop is not None and scope.has_perm(code)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, self.view_permission) or self._may(
            request, self.manage_permission
        )

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._may(request, self.manage_permission)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, self.manage_permission)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, self.manage_permission)

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """Whether actions marked ``permissions=["manage"]`` are offered."""
        return self._may(request, self.manage_permission)

    # -- writes ------------------------------------------------------------------

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        # Hand the scope to the form class, which calls the service.
        return type(
            form.__name__,
            (form,),
            {"admin_scope": self.scope(request), "admin_request": request},
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if getattr(form, "committed", False):
            return  # the service already saved it
        scope = self.scope(request)
        if scope is None or scope.shop is None:
            raise PermissionError("No current shop.")
        setattr(obj, self.shop_field, scope.shop)
        super().save_model(request, obj, form, change)

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Any) -> None:
        """Delete ``obj``; screens with business rules call their service here."""
        obj.delete()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        scope = self.scope(request)
        if scope is None or scope.shop is None:
            raise PermissionError("No current shop.")
        self.perform_delete(request, scope, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        # The service deletes what hangs off the object (and checks the
        # permission for it), so cascaded rows need no separate delete right.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except MerchantryError as exc:
            # e.g. "a shop keeps at least one owner": say why, change nothing.
            messages.error(request, exc.detail)
            opts = self.model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            return HttpResponseRedirect(url)
