"""
Store API for customers: registration, sign-in, profile and addresses.

Mounted under ``/api/v1/store/``, behind the publishable key, so ``ctx.shop``
is the channel's shop. Routes for a signed-in customer also need
``Authorization: Bearer mct_...`` (see :func:`customers.require_customer`).
Handlers parse, call a service and shape the answer; the rules live in
:mod:`merchantry.accounts.customers`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from merchantry.accounts import customer_addresses, customers
from merchantry.accounts.customer_schemas import (
    AcceptedOut,
    AddressCreateIn,
    AddressListOut,
    AddressOut,
    AddressUpdateIn,
    CustomerOut,
    CustomerUpdateIn,
    EmailIn,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    RegisterIn,
    SessionOut,
    SignInIn,
    TokenCheckIn,
)
from merchantry.accounts.models import Customer
from merchantry.core.ratelimit import client_ip
from merchantry.tenancy.context import request_context

store_router = Router(tags=["customers"])

_RESET_ACCEPTED = "If an account exists for this email, a link to reset its password is on its way."
_VERIFY_ACCEPTED = "If the email is not verified yet, a new confirmation link is on its way."


def _client_ip(request: HttpRequest) -> str:
    # The same address the API rate limits use: REMOTE_ADDR, or the first
    # X-Forwarded-For hop only when the operator trusts a proxy to set it.
    # Behind a proxy REMOTE_ADDR is the proxy, and one lock would lock out all.
    return client_ip(
        request, trust_proxy_headers=getattr(settings, "MERCHANTRY_TRUST_PROXY_HEADERS", False)
    )


def _link_base(request: HttpRequest) -> str:
    # Channels do not record their storefront's URL yet, so email links point
    # at the host this request came to (already checked against ALLOWED_HOSTS).
    return f"{request.scheme}://{request.get_host()}"


def _no_store(response: HttpResponse) -> None:
    # The body carries a bearer token: no cache may keep it.
    response["Cache-Control"] = "no-store"


def _customer_out(customer: Customer) -> dict[str, Any]:
    return {
        "id": str(customer.pk),
        "email": customer.email,
        "full_name": customer.full_name,
        "phone": customer.phone,
        "accepts_marketing": customer.accepts_marketing,
        "is_registered": customer.is_registered,
        "email_verified": customer.email_verified_at is not None,
        "email_verified_at": customer.email_verified_at,
        "created_at": customer.created_at,
    }


def _session_out(issued: customers.IssuedToken) -> dict[str, Any]:
    return {
        "token": issued.token,
        "expires_at": issued.expires_at,
        "customer": _customer_out(issued.customer),
    }


# -- accounts and sessions ---------------------------------------------------------------


@store_router.post("/customers", response={201: SessionOut}, summary="Register a customer account")
def register(
    request: HttpRequest, response: HttpResponse, payload: RegisterIn
) -> Status[dict[str, Any]]:
    """Create an account (a guest with this email becomes it) and sign it in."""
    ctx = request_context(request)
    issued = customers.customer_register(
        shop=ctx.shop,
        email=payload.email,
        password=payload.password,
        full_name=payload.full_name,
        accepts_marketing=payload.accepts_marketing,
        base_url=_link_base(request),
        ip=_client_ip(request),
    )
    _no_store(response)
    return Status(201, _session_out(issued))


@store_router.post("/auth/sign-in", response=SessionOut, summary="Sign in with email and password")
def sign_in(request: HttpRequest, response: HttpResponse, payload: SignInIn) -> dict[str, Any]:
    """Exchange an email and password for a bearer token valid in this shop."""
    ctx = request_context(request)
    issued = customers.customer_sign_in(
        shop=ctx.shop, email=payload.email, password=payload.password, ip=_client_ip(request)
    )
    _no_store(response)
    return _session_out(issued)


@store_router.post("/auth/sign-out", response={204: None}, summary="Revoke the current token")
def sign_out(request: HttpRequest) -> Status[None]:
    customers.customer_sign_out(token=customers.require_customer_token(request))
    return Status(204, None)


@store_router.post(
    "/auth/password-reset", response={202: AcceptedOut}, summary="Ask for a password-reset email"
)
def password_reset(request: HttpRequest, payload: EmailIn) -> Status[dict[str, str]]:
    """Answer the same whether or not the email has an account."""
    ctx = request_context(request)
    customers.customer_password_reset_request(
        shop=ctx.shop, email=payload.email, base_url=_link_base(request), ip=_client_ip(request)
    )
    return Status(202, {"detail": _RESET_ACCEPTED})


@store_router.post(
    "/auth/password-reset/confirm",
    response={204: None},
    summary="Set a new password from a reset link",
)
def password_reset_confirm(request: HttpRequest, payload: PasswordResetConfirmIn) -> Status[None]:
    ctx = request_context(request)
    customers.customer_password_reset_confirm(
        shop=ctx.shop, uid=payload.uid, token=payload.token, new_password=payload.new_password
    )
    return Status(204, None)


@store_router.post(
    "/auth/verify-email", response={204: None}, summary="Confirm an email address from its link"
)
def verify_email(request: HttpRequest, payload: TokenCheckIn) -> Status[None]:
    ctx = request_context(request)
    customers.customer_email_verify(shop=ctx.shop, uid=payload.uid, token=payload.token)
    return Status(204, None)


@store_router.post(
    "/auth/verify-email/resend",
    response={202: AcceptedOut},
    summary="Send the email confirmation link again",
)
def verify_email_resend(request: HttpRequest) -> Status[dict[str, str]]:
    customer = customers.require_customer(request)
    customers.customer_email_verification_request(
        customer=customer, base_url=_link_base(request), ip=_client_ip(request)
    )
    return Status(202, {"detail": _VERIFY_ACCEPTED})


# -- the signed-in customer ----------------------------------------------------------------


@store_router.get("/customers/me", response=CustomerOut, summary="The signed-in customer")
def me(request: HttpRequest) -> dict[str, Any]:
    return _customer_out(customers.require_customer(request))


@store_router.patch("/customers/me", response=CustomerOut, summary="Change profile fields")
def me_update(request: HttpRequest, payload: CustomerUpdateIn) -> dict[str, Any]:
    """Change the fields sent; the email cannot be changed in this version."""
    customer = customers.require_customer(request)
    changes = payload.model_dump(exclude_unset=True)
    return _customer_out(customers.customer_update(customer=customer, changes=changes))


@store_router.post("/customers/me/password", response={204: None}, summary="Change the password")
def me_password(request: HttpRequest, payload: PasswordChangeIn) -> Status[None]:
    """Change the password; every other token of the customer is revoked."""
    token = customers.require_customer_token(request)
    customers.customer_password_change(
        customer=token.customer,
        current_token=token,
        current_password=payload.current_password,
        new_password=payload.new_password,
        ip=_client_ip(request),
    )
    return Status(204, None)


# -- addresses -------------------------------------------------------------------------------


@store_router.get("/customers/me/addresses", response=AddressListOut, summary="Saved addresses")
def addresses(request: HttpRequest) -> dict[str, Any]:
    customer = customers.require_customer(request)
    items = customer_addresses.address_list(customer=customer)
    return {"items": items, "next_cursor": None}


@store_router.post("/customers/me/addresses", response={201: AddressOut}, summary="Save an address")
def address_create(request: HttpRequest, payload: AddressCreateIn) -> Status[dict[str, Any]]:
    customer = customers.require_customer(request)
    address = customer_addresses.address_create(customer=customer, data=payload.model_dump())
    return Status(201, address)


@store_router.get(
    "/customers/me/addresses/{address_id}", response=AddressOut, summary="One saved address"
)
def address_detail(request: HttpRequest, address_id: str) -> dict[str, Any]:
    customer = customers.require_customer(request)
    return customer_addresses.address_get(customer=customer, address_id=address_id)


@store_router.patch(
    "/customers/me/addresses/{address_id}", response=AddressOut, summary="Change an address"
)
def address_update(
    request: HttpRequest, address_id: str, payload: AddressUpdateIn
) -> dict[str, Any]:
    customer = customers.require_customer(request)
    address = customer_addresses.address_update(
        customer=customer,
        address_id=address_id,
        changes=payload.model_dump(exclude_unset=True),
    )
    return address


@store_router.delete(
    "/customers/me/addresses/{address_id}", response={204: None}, summary="Delete an address"
)
def address_delete(request: HttpRequest, address_id: str) -> Status[None]:
    customer = customers.require_customer(request)
    customer_addresses.address_delete(customer=customer, address_id=address_id)
    return Status(204, None)
