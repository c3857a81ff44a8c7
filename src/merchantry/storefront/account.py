"""
The customer's account pages on the built-in storefront.

A signed-in customer's bearer token lives in the server-side session (one per
shop, so a session never carries a sign-in across shops); the pages use the
same services as the Store API, so throttling, lockout and password rules are
the same everywhere.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from merchantry.accounts import customer_addresses
from merchantry.accounts import customers as customer_services
from merchantry.accounts.models import Customer
from merchantry.core.errors import MerchantryError, RateLimited
from merchantry.core.ratelimit import client_ip

__all__ = [
    "account_home",
    "password_reset",
    "password_reset_request",
    "register",
    "sign_in",
    "sign_out",
    "verify_email",
]


class SignInForm(forms.Form):
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=128, widget=forms.PasswordInput)


class RegisterForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=128, widget=forms.PasswordInput)


class ResetRequestForm(forms.Form):
    email = forms.EmailField(max_length=254)


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(max_length=128, widget=forms.PasswordInput)


def _shop(request: HttpRequest) -> Any:
    shop = getattr(request, "shop", None)
    if not shop:
        raise Http404("No shop answers at this address.")
    return shop


def _session_key(shop: Any) -> str:
    return f"merchantry.customer_token.{shop.pk}"


def _ip(request: HttpRequest) -> str:
    return client_ip(request, trust_proxy_headers=settings.MERCHANTRY_TRUST_PROXY_HEADERS)


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def current_customer(request: HttpRequest) -> Customer | None:
    """Return the customer signed in to this shop's storefront, if any."""
    shop = _shop(request)
    raw = request.session.get(_session_key(shop))
    if not raw:
        return None
    token = customer_services.customer_token_authenticate(shop=shop, raw=raw)
    if token is None:
        request.session.pop(_session_key(shop), None)
        return None
    return token.customer


def _show_error(request: HttpRequest, form: forms.Form, exc: MerchantryError) -> None:
    """Attach a service error to the form, field by field where it says which."""
    if isinstance(exc, RateLimited):
        form.add_error(None, f"{exc.detail} Try again in {exc.retry_after} seconds.")
        return
    placed = False
    for error in exc.errors:
        name = str(error.loc[-1]) if error.loc else None
        if name in form.fields:
            form.add_error(name, error.message)
            placed = True
    if not placed:
        form.add_error(None, exc.detail)


def _render(request: HttpRequest, template: str, **context: Any) -> HttpResponse:
    return render(request, f"storefront/account/{template}", {"shop": _shop(request), **context})


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    shop = _shop(request)
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = customer_services.customer_sign_in(
                shop=shop,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                ip=_ip(request),
            )
        except MerchantryError as exc:
            _show_error(request, form, exc)
        else:
            request.session.cycle_key()  # a new session id on sign-in (fixation)
            request.session[_session_key(shop)] = issued.token
            return redirect("storefront-account")
    return _render(request, "sign_in.html", form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    shop = _shop(request)
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = customer_services.customer_register(
                shop=shop,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                full_name=form.cleaned_data["full_name"],
                base_url=_base_url(request),
                ip=_ip(request),
            )
        except MerchantryError as exc:
            _show_error(request, form, exc)
        else:
            request.session.cycle_key()
            request.session[_session_key(shop)] = issued.token
            messages.success(request, "Welcome! Check your inbox to confirm your email address.")
            return redirect("storefront-account")
    return _render(request, "register.html", form=form)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponseRedirect:
    shop = _shop(request)
    raw = request.session.pop(_session_key(shop), None)
    if raw:
        token = customer_services.customer_token_authenticate(shop=shop, raw=raw)
        if token is not None:
            customer_services.customer_sign_out(token=token)
    messages.info(request, "You are signed out.")
    return redirect("storefront-home")


@never_cache
def account_home(request: HttpRequest) -> HttpResponse:
    customer = current_customer(request)
    if customer is None:
        return redirect("storefront-sign-in")
    return _render(
        request,
        "home.html",
        customer=customer,
        addresses=customer_addresses.address_list(customer=customer),
    )


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_request(request: HttpRequest) -> HttpResponse:
    shop = _shop(request)
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer_services.customer_password_reset_request(
                shop=shop,
                email=form.cleaned_data["email"],
                base_url=_base_url(request),
                ip=_ip(request),
            )
        except MerchantryError as exc:
            _show_error(request, form, exc)
        else:
            # The same words whether or not the account exists.
            messages.info(
                request,
                "If an account exists for this email, a link to reset its password is on its way.",
            )
            return redirect("storefront-sign-in")
    return _render(request, "reset_request.html", form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    shop = _shop(request)
    uid, token = request.GET.get("uid", ""), request.GET.get("token", "")
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer_services.customer_password_reset_confirm(
                shop=shop, uid=uid, token=token, new_password=form.cleaned_data["new_password"]
            )
        except MerchantryError as exc:
            _show_error(request, form, exc)
        else:
            messages.success(request, "Your password is changed. Sign in with the new one.")
            return redirect("storefront-sign-in")
    return _render(request, "reset.html", form=form)


@never_cache
def verify_email(request: HttpRequest) -> HttpResponse:
    shop = _shop(request)
    try:
        customer_services.customer_email_verify(
            shop=shop, uid=request.GET.get("uid", ""), token=request.GET.get("token", "")
        )
    except MerchantryError as exc:
        return _render(request, "verified.html", ok=False, detail=exc.detail)
    return _render(request, "verified.html", ok=True)
