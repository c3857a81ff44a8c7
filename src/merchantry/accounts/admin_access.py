"""
Who may use the admin, and in which shop.

:class:`AdminShopMiddleware` runs on admin pages: it refuses a session that
lacks the second factor its user turned on, and resolves the shop the staff
member works in (``request.admin_scope``, see
:mod:`merchantry.tenancy.admin_scope`). The views switch that shop and set up
two-factor sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import admin, messages
from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from merchantry.accounts.models import User
from merchantry.accounts.otp import (
    confirmed_device,
    pending_device,
    qr_code_svg,
    totp_disable,
    totp_enrolment_confirm,
    totp_enrolment_start,
)
from merchantry.accounts.services import shops_for_user, staff_actor
from merchantry.core.errors import MerchantryError, ValidationFailed
from merchantry.tenancy.admin_scope import SESSION_KEY, AdminScope, get_admin_scope
from merchantry.tenancy.models import Shop, ShopStatus

__all__ = ["AdminShopMiddleware", "admin_shops", "resolve_admin_scope", "shop_switch", "two_factor"]


def admin_shops(user: User) -> tuple[Shop, ...]:
    """The shops ``user`` may work in from the admin, by name."""
    shops = shops_for_user(user)
    if not user.is_superuser:
        # A suspended shop is closed to its staff; platform admins reopen it.
        shops = [shop for shop in shops if shop.status == ShopStatus.ACTIVE]
    return tuple(shops)


def resolve_admin_scope(request: HttpRequest) -> AdminScope:
    """
    Return the signed-in staff member's scope: the shop kept in the session
    when they may still work there, else the shop of the request's host
    (its domain, or the default shop on 127.0.0.1) when they belong to it,
    else the first of their shops.
    """
    user = request.user
    shops = admin_shops(user)
    kept = request.session.get(SESSION_KEY)
    wanted = kept
    if wanted is None:
        host_shop = getattr(request, "shop", None)
        wanted = host_shop.pk if host_shop else None
    shop = next((s for s in shops if s.pk == wanted), shops[0] if shops else None)
    if shop is not None and kept != shop.pk:
        request.session[SESSION_KEY] = shop.pk
    elif shop is None:
        request.session.pop(SESSION_KEY, None)
    return AdminScope(
        user=user,
        shop=shop,
        actor=staff_actor(user, shop) if shop is not None else None,
        shops=shops,
        actor_for=partial(staff_actor, user),
    )


def _admin_prefix() -> str:
    try:
        return reverse("admin:index")
    except NoReverseMatch:
        return "/admin/"


def _lacks_second_factor(request: HttpRequest) -> bool:
    user = request.user
    is_verified = getattr(user, "is_verified", None)
    if callable(is_verified) and is_verified():
        return False
    return confirmed_device(user) is not None


class AdminShopMiddleware:
    """
    On admin pages, for signed-in staff: sign out a session that skipped the
    second factor, then attach ``request.admin_scope`` (and, for the platform
    screens in ``core``, which may not import tenancy, ``request.admin_shop_id``
    and ``request.admin_actor``). Install after django-otp's ``OTPMiddleware``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self._prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self._prefix is None:
            self._prefix = _admin_prefix()
        if request.path.startswith(self._prefix):
            self._attach(request)
        return self.get_response(request)

    def _attach(self, request: HttpRequest) -> None:
        request.admin_scope = None  # type: ignore[attr-defined]
        request.admin_shop_id = None  # type: ignore[attr-defined]
        request.admin_actor = None  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return
        if _lacks_second_factor(request):
            # Signed in some other way than the admin's two-factor form (or
            # before turning two-factor on, in another browser): start over.
            logout(request)
            messages.info(request, "Sign in again with your authentication code.")
            return
        scope = resolve_admin_scope(request)
        request.admin_scope = scope  # type: ignore[attr-defined]
        request.admin_shop_id = scope.shop_id  # type: ignore[attr-defined]
        request.admin_actor = scope.actor  # type: ignore[attr-defined]


# -- switching shops --------------------------------------------------------------


def _after_switch_url(request: HttpRequest) -> str:
    """Where to go after switching: back to the same list, never to an object
    of the previous shop (which the new shop does not have)."""
    index = reverse("admin:index")
    target = request.POST.get("next", "")
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return index
    try:
        match = resolve(target.split("?", 1)[0])
    except Resolver404:
        return index
    if match.namespace != "admin":
        return index
    if "object_id" in match.kwargs:
        base = (match.url_name or "").rsplit("_", 1)[0]
        try:
            return reverse(f"admin:{base}_changelist")
        except NoReverseMatch:
            return index
    return target


@require_POST
def shop_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's shops the current one; any other shop is 404."""
    scope = get_admin_scope(request)
    raw = request.POST.get("shop", "")
    wanted = int(raw) if raw.isdigit() else None
    shop = next((s for s in scope.shops if s.pk == wanted), None) if scope else None
    if shop is None:
        raise Http404("No such shop.")
    request.session[SESSION_KEY] = shop.pk
    messages.success(request, f"You are now working in {shop.name}.")
    return redirect(_after_switch_url(request))


# -- two-factor set-up ------------------------------------------------------------


def two_factor(request: HttpRequest) -> HttpResponse:
    """Show two-factor status; start, confirm or turn off the authenticator."""
    user = request.user
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        token = request.POST.get("otp_token", "")
        try:
            if action == "start":
                totp_enrolment_start(user=user)
                return redirect("admin-two-factor")
            if action == "confirm":
                device = totp_enrolment_confirm(user=user, token=token)
                # This session has just proven the second factor.
                otp_login(request, device)
                messages.success(request, "Two-factor authentication is on.")
                return redirect("admin-two-factor")
            if action == "disable":
                totp_disable(user=user, token=token)
                messages.success(request, "Two-factor authentication is off.")
                return redirect("admin-two-factor")
            error = "Unknown action."
        except ValidationFailed as exc:
            error = exc.errors[0].message if exc.errors else exc.detail
        except MerchantryError as exc:
            error = exc.detail
    device = confirmed_device(user)
    pending = None if device is not None else pending_device(user)
    context = {
        **admin.site.each_context(request),
        "title": "Two-factor authentication",
        "device": device,
        "pending": pending,
        "otpauth_uri": pending.config_url if pending else "",
        "qr_svg": qr_code_svg(pending.config_url) if pending else "",
        "error": error,
    }
    return TemplateResponse(
        request,
        "admin/merchantry/two_factor.html",
        context,
        status=400 if error else 200,
    )
