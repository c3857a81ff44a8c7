"""
Customer accounts of a shop: registration, sign-in, tokens, email links, addresses.

A customer belongs to one shop; the same email in two shops is two customers,
and a token or link issued in one shop never resolves in another. Sign-in
never tells which emails exist: unknown email, wrong password, guest and
deactivated account all fail the same way, in about the same time, and are
counted by :mod:`merchantry.accounts.throttle`.

Customers act on their own data only, so these services take the signed-in
``customer`` (resolved by :func:`require_customer`) instead of an actor with
permissions; sensitive changes are audited with the customer as the actor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from merchantry.accounts import tasks, throttle
from merchantry.accounts.models import Customer, CustomerToken
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    BadRequest,
    Conflict,
    FieldError,
    NotAuthenticated,
    ValidationFailed,
    invalid_field,
    refuse_nulls,
)
from merchantry.core.ids import pk_or_none
from merchantry.core.logging import get_logger
from merchantry.tenancy.context import request_context
from merchantry.tenancy.keys import CUSTOMER_TOKEN_PREFIX, hash_key, new_key
from merchantry.tenancy.models import Shop

__all__ = [
    "CUSTOMER_TOKEN_TTL",
    "IssuedToken",
    "customer_actor",
    "customer_email_verification_request",
    "customer_email_verification_send",
    "customer_email_verify",
    "customer_get_or_create_guest",
    "customer_password_change",
    "customer_password_reset_confirm",
    "customer_password_reset_request",
    "customer_password_reset_send",
    "customer_register",
    "customer_sign_in",
    "customer_sign_out",
    "customer_token_authenticate",
    "customer_update",
    "email_verification_tokens",
    "password_reset_tokens",
    "require_customer",
    "require_customer_token",
]

logger = get_logger(__name__)

CUSTOMER_TOKEN_TTL = timedelta(days=30)
MAX_LIVE_TOKENS = 20
"""Signing in once more revokes the oldest live token beyond this many."""
TOKEN_TOUCH_SECONDS = 60
PASSWORD_RESET_TIMEOUT = 60 * 60
EMAIL_VERIFICATION_TIMEOUT = 3 * 24 * 60 * 60
_INVALID_CREDENTIALS = "Invalid email or password."
_INVALID_LINK = "This link is invalid, has expired or was already used."


# -- links sent by email ------------------------------------------------------------


class _CustomerTokenGenerator(PasswordResetTokenGenerator):
    """
    Django's signed, timestamped tokens, for customers, with a timeout of their own.

    Django's ``check_token`` compares the age with ``PASSWORD_RESET_TIMEOUT``,
    the staff setting; customer links keep theirs (``timeout``, in seconds)
    whatever that is set to. The signature check is Django's own.
    """

    timeout: int

    def check_token(self, user: Any, token: str | None) -> bool:
        if not (user and token):
            return False
        ts_b36, _, signature = token.partition("-")
        if not signature:
            return False
        try:
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, ts, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        # No lower bound: the worker that made the token may run a clock
        # slightly ahead of the web process checking it.
        return self._num_seconds(self._now()) - ts <= self.timeout


class CustomerPasswordResetTokenGenerator(_CustomerTokenGenerator):
    key_salt = "merchantry.accounts.customers.CustomerPasswordResetTokenGenerator"
    timeout = PASSWORD_RESET_TIMEOUT

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        # Single use: the password hash changes when the link is used, and
        # last_login when the customer signs in; the shop pins it to one tenant.
        return f"{user.shop_id}:{super()._make_hash_value(user, timestamp)}"


class CustomerEmailVerificationTokenGenerator(_CustomerTokenGenerator):
    key_salt = "merchantry.accounts.customers.CustomerEmailVerificationTokenGenerator"
    timeout = EMAIL_VERIFICATION_TIMEOUT

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        # Single use: email_verified_at is set when the link is used. The email
        # is hashed so a link verifies only the address it was sent to.
        verified = "" if user.email_verified_at is None else user.email_verified_at.timestamp()
        return f"{user.shop_id}:{user.pk}:{user.email.lower()}:{verified}:{timestamp}"


password_reset_tokens = CustomerPasswordResetTokenGenerator()
email_verification_tokens = CustomerEmailVerificationTokenGenerator()


def _uid(customer: Customer) -> str:
    return urlsafe_base64_encode(force_bytes(customer.pk))


def _customer_from_uid(shop: Shop, uid: str) -> Customer | None:
    try:
        raw = urlsafe_base64_decode(uid).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    pk = pk_or_none(raw)
    if pk is None:
        return None
    return Customer.objects.for_shop(shop).registered().filter(pk=pk, is_active=True).first()


def _send(customer: Customer, template: str, context: Mapping[str, Any]) -> None:
    context = {"shop_name": customer.shop.name, "customer": customer, **context}
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context)
    body = render_to_string(f"accounts/email/{template}.txt", context)
    # A header cannot span lines (and a shop name must not inject any).
    send_mail(" ".join(subject.split()), body, None, [customer.email])


# -- helpers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedToken:
    customer: Customer
    token: str
    """The bearer token itself: returned once, stored only as a hash."""
    expires_at: datetime


def customer_actor(customer: Customer) -> Actor:
    """The actor a signed-in customer is, for the audit trail."""
    return Actor(
        kind="customer",
        key=f"customer:{customer.pk}",
        label=customer.email,
        shop_id=customer.shop_id,
    )


def _clean_email(email: str) -> str:
    value = BaseUserManager.normalize_email((email or "").strip())
    try:
        validate_email(value)
    except DjangoValidationError:
        valid = False
    else:
        valid = len(value) <= 254 and "\x00" not in value
    if not valid:
        raise invalid_field("email", "Enter a valid email address.", "email")
    return value


def _check_password_rules(password: str, customer: Customer, *, field: str) -> None:
    try:
        validate_password(password, user=customer)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            errors=[FieldError((field,), str(message), "password") for message in exc.messages]
        ) from None


def _count_email_request(ip: str) -> None:
    """Count a request that sends email against its IP; refuse it (429) past the limit."""
    per_ip = throttle.email_requests_per_ip()
    throttle.check([(per_ip, ip)], detail="Too many requests from this address. Try again later.")
    throttle.hit(per_ip, ip)


def _issue_token(customer: Customer) -> IssuedToken:
    """Create a bearer token for ``customer``; call inside a transaction."""
    now = timezone.now()
    tokens = CustomerToken.objects.filter(customer=customer)
    # Housekeeping on the customer's own rows only: dead tokens go, and the
    # oldest live ones beyond the cap are revoked so rows cannot pile up.
    tokens.filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=now)).delete()
    surplus = list(tokens.live().order_by("-created_at").values_list("pk", flat=True))
    if len(surplus) >= MAX_LIVE_TOKENS:
        tokens.filter(pk__in=surplus[MAX_LIVE_TOKENS - 1 :]).update(revoked_at=now)
    key = new_key(CUSTOMER_TOKEN_PREFIX)
    expires_at = now + CUSTOMER_TOKEN_TTL
    CustomerToken.objects.create(
        shop_id=customer.shop_id,
        customer=customer,
        prefix=key.prefix,
        key_hash=key.digest,
        expires_at=expires_at,
    )
    return IssuedToken(customer=customer, token=key.raw, expires_at=expires_at)


# -- registration and sign-in ---------------------------------------------------------


def customer_register(
    *,
    shop: Shop,
    email: str,
    password: str,
    full_name: str = "",
    accepts_marketing: bool | None = None,
    base_url: str,
    ip: str,
) -> IssuedToken:
    """
    Create a customer account (or register the guest with that email) and sign it in.

    Saying that an email is taken is a deliberate choice, as Shopify does: the
    no-enumeration rule covers sign-in and password reset, and registration
    cannot both refuse a duplicate and hide it without an email round-trip.
    The IP limit on requests that send email keeps this from being a fast
    oracle. A guest's history becomes the account's; a later reader of that
    history should require ``email_verified_at``, since registering does not
    prove the mailbox is the registrant's.
    """
    email = _clean_email(email)
    _count_email_request(ip)
    _check_password_rules(
        password, Customer(shop=shop, email=email, full_name=full_name), field="password"
    )
    hashed = make_password(password)  # slow: outside the transaction and its row lock
    taken = Conflict(
        "An account with this email already exists. Sign in, or reset the password.",
        code="email_taken",
    )
    try:
        with transaction.atomic():
            customer = Customer.objects.for_shop(shop).with_email(email).select_for_update().first()
            if customer is not None and (customer.is_registered or not customer.is_active):
                raise taken
            customer = customer or Customer(shop=shop, email=email)
            customer.password = hashed
            customer.is_registered = True
            customer.full_name = full_name or customer.full_name
            if accepts_marketing is not None:
                customer.accepts_marketing = accepts_marketing
            customer.last_login = timezone.now()
            with transaction.atomic():
                customer.save()
            issued = _issue_token(customer)
            tasks.send_customer_email_verification.enqueue_on_commit(
                customer_id=customer.pk, base_url=base_url
            )
    except IntegrityError:
        # Two registrations raced past the lookup; the unique index decided.
        raise taken from None
    logger.info("customer_registered", customer_id=customer.pk)
    return issued


def customer_sign_in(*, shop: Shop, email: str, password: str, ip: str) -> IssuedToken:
    """Exchange an email and password for a bearer token, or fail without saying why."""
    throttle.signin_check(shop_id=shop.pk, email=email, ip=ip)
    customer = Customer.objects.for_shop(shop).with_email(email).first()
    if customer is not None and customer.is_registered and customer.has_usable_password:
        valid = customer.check_password(password)
    else:
        # Hash anyway, so an unknown email or a guest takes as long to refuse
        # as a wrong password (Django's ModelBackend does the same, #20760).
        make_password(password)
        valid = False
    if not valid or customer is None or not customer.is_active:
        throttle.signin_failed(shop_id=shop.pk, email=email, ip=ip)
        logger.info("customer_sign_in_failed")
        raise NotAuthenticated(
            _INVALID_CREDENTIALS,
            code="invalid_credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.signin_succeeded(shop_id=shop.pk, email=email)
    with transaction.atomic():
        customer.last_login = timezone.now()
        customer.save(update_fields=["last_login", "updated_at"])
        issued = _issue_token(customer)
    logger.info("customer_signed_in", customer_id=customer.pk)
    return issued


def customer_sign_out(*, token: CustomerToken) -> None:
    """Revoke ``token``."""
    CustomerToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def customer_token_authenticate(*, shop: Shop, raw: str) -> CustomerToken | None:
    """Return the live token ``raw`` of ``shop``, with its customer, or None."""
    if not raw.startswith(CUSTOMER_TOKEN_PREFIX + "_") or len(raw) > 200:
        return None
    token = (
        CustomerToken.objects.live()
        .for_shop(shop)
        .select_related("customer", "customer__shop")
        .filter(key_hash=hash_key(raw), customer__is_active=True, customer__is_registered=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    horizon = now - timedelta(seconds=TOKEN_TOUCH_SECONDS)
    # Record use at most once a minute: no query while the loaded value is
    # fresh, else a conditional UPDATE (concurrent requests write once).
    if token.last_used_at is None or token.last_used_at < horizon:
        CustomerToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=horizon), pk=token.pk
        ).update(last_used_at=now)
    return token


def require_customer_token(request: HttpRequest) -> CustomerToken:
    """Return the live customer token the Store API request carries, or raise 401."""
    ctx = request_context(request)
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise NotAuthenticated(
            "Sign in first: send Authorization: Bearer <customer token>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = customer_token_authenticate(shop=ctx.shop, raw=raw.strip())
    if token is None:
        raise NotAuthenticated(
            "The customer token is invalid or has expired.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    ctx.customer = token.customer
    return token


def require_customer(request: HttpRequest) -> Customer:
    """Return the signed-in customer of the Store API request, or raise 401."""
    return require_customer_token(request).customer


def customer_get_or_create_guest(*, shop: Shop, email: str) -> Customer:
    """Return the customer of ``shop`` with ``email``, creating a guest if there is none."""
    email = _clean_email(email)
    existing = Customer.objects.for_shop(shop).with_email(email).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Customer.objects.create(shop=shop, email=email, is_registered=False)
    except IntegrityError:
        # Created by a concurrent request since the lookup.
        return Customer.objects.for_shop(shop).with_email(email).get()


# -- password reset and email verification ---------------------------------------------


def customer_password_reset_request(*, shop: Shop, email: str, base_url: str, ip: str) -> None:
    """
    Email a password-reset link if ``email`` is a registered customer's.

    The request takes the same path whether or not the customer exists: the
    lookup happens in the job, so neither the answer nor its timing differ.
    Past the per-address limit the request is answered the same and dropped.
    """
    email = _clean_email(email)
    _count_email_request(ip)
    per_address = throttle.email_requests_per_address()
    ident = f"reset:{throttle.account_ident(shop.pk, email)}"
    if throttle.locked_for([(per_address, ident)]):
        logger.info("customer_password_reset_dropped", reason="address_limit")
        return
    throttle.hit(per_address, ident)
    tasks.send_customer_password_reset.enqueue_on_commit(
        shop_id=shop.pk, email=email, base_url=base_url
    )


def customer_password_reset_send(*, shop_id: int, email: str, base_url: str) -> bool:
    """Send the reset link to the registered, active customer with ``email``; say if sent."""
    customer = (
        Customer.objects.for_shop(shop_id)
        .registered()
        .with_email(email)
        .filter(is_active=True)
        .select_related("shop")
        .first()
    )
    if customer is None:
        return False
    query = urlencode({"uid": _uid(customer), "token": password_reset_tokens.make_token(customer)})
    _send(
        customer,
        "customer_password_reset",
        {"url": f"{base_url}/account/reset?{query}", "hours": PASSWORD_RESET_TIMEOUT // 3600},
    )
    return True


def customer_password_reset_confirm(
    *, shop: Shop, uid: str, token: str, new_password: str
) -> Customer:
    """Set a new password from a reset link; revoke every token of the customer."""
    customer = _customer_from_uid(shop, uid)
    if customer is None or not password_reset_tokens.check_token(customer, token):
        raise BadRequest(_INVALID_LINK, code="invalid_token")
    _check_password_rules(new_password, customer, field="new_password")
    hashed = make_password(new_password)
    with transaction.atomic():
        # Check again under the row lock: of two concurrent uses of one link,
        # the second sees the new password hash and fails.
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if not password_reset_tokens.check_token(customer, token):
            raise BadRequest(_INVALID_LINK, code="invalid_token")
        customer.password = hashed
        customer.save(update_fields=["password", "updated_at"])
        revoked = CustomerToken.objects.filter(customer=customer, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        audit.record(
            customer_actor(customer),
            "customer.password_reset",
            customer,
            {"tokens_revoked": revoked},
            shop_id=shop.pk,
        )
    # Whoever holds the mailbox may sign in again at once.
    throttle.signin_unlock(shop_id=shop.pk, email=customer.email)
    return customer


def customer_email_verification_request(*, customer: Customer, base_url: str, ip: str) -> None:
    """Send the verification link again, unless the email is already verified."""
    _count_email_request(ip)
    if customer.email_verified_at is not None:
        return
    per_address = throttle.email_requests_per_address()
    ident = f"verify:{customer.pk}"
    if throttle.locked_for([(per_address, ident)]):
        logger.info("customer_verification_dropped", reason="address_limit")
        return
    throttle.hit(per_address, ident)
    tasks.send_customer_email_verification.enqueue_on_commit(
        customer_id=customer.pk, base_url=base_url
    )


def customer_email_verification_send(*, customer_id: int, base_url: str) -> bool:
    """Send the verification link to the customer, unless already verified; say if sent."""
    customer = (
        Customer.objects.registered()
        .filter(pk=customer_id, is_active=True, email_verified_at__isnull=True)
        .select_related("shop")
        .first()
    )
    if customer is None:
        return False
    token = email_verification_tokens.make_token(customer)
    query = urlencode({"uid": _uid(customer), "token": token})
    _send(
        customer,
        "customer_verify_email",
        {"url": f"{base_url}/account/verify-email?{query}"},
    )
    return True


def customer_email_verify(*, shop: Shop, uid: str, token: str) -> Customer:
    """Mark the customer's email verified from a verification link (usable once)."""
    customer = _customer_from_uid(shop, uid)
    if customer is None or not email_verification_tokens.check_token(customer, token):
        raise BadRequest(_INVALID_LINK, code="invalid_token")
    with transaction.atomic():
        verified = Customer.objects.filter(
            pk=customer.pk, email=customer.email, email_verified_at__isnull=True
        ).update(email_verified_at=timezone.now(), updated_at=timezone.now())
        if not verified:
            raise BadRequest(_INVALID_LINK, code="invalid_token")
    customer.refresh_from_db()
    return customer


# -- the signed-in customer --------------------------------------------------------------


_PROFILE_FIELDS = ("full_name", "phone", "accepts_marketing")


def customer_update(*, customer: Customer, changes: Mapping[str, Any]) -> Customer:
    """Change the customer's own profile fields that are in ``changes``."""
    if "email" in changes:
        raise invalid_field(
            "email", "The email address cannot be changed in this version.", "read_only"
        )
    refuse_nulls(changes, _PROFILE_FIELDS)
    fields = [name for name in _PROFILE_FIELDS if name in changes]
    for name in fields:
        setattr(customer, name, changes[name])
    if fields:
        customer.save(update_fields=[*fields, "updated_at"])
    return customer


def customer_password_change(
    *,
    customer: Customer,
    current_token: CustomerToken,
    current_password: str,
    new_password: str,
    ip: str,
) -> None:
    """
    Change the password after checking the current one; revoke the other tokens.

    A wrong current password counts as a failed sign-in, so a stolen token
    cannot be used to guess the password faster than the sign-in form allows.
    """
    throttle.signin_check(shop_id=customer.shop_id, email=customer.email, ip=ip)
    if not customer.check_password(current_password):
        throttle.signin_failed(shop_id=customer.shop_id, email=customer.email, ip=ip)
        raise invalid_field("current_password", "The current password is not correct.", "incorrect")
    _check_password_rules(new_password, customer, field="new_password")
    hashed = make_password(new_password)
    with transaction.atomic():
        customer.password = hashed
        customer.save(update_fields=["password", "updated_at"])
        revoked = (
            CustomerToken.objects.filter(customer=customer, revoked_at__isnull=True)
            .exclude(pk=current_token.pk)
            .update(revoked_at=timezone.now())
        )
        audit.record(
            customer_actor(customer),
            "customer.password_change",
            customer,
            {"tokens_revoked": revoked},
            shop_id=customer.shop_id,
        )
