"""
Store API schemas for customers: what a storefront sends and receives.

Every input string has a maximum length and no NUL character (PostgreSQL
cannot store one, and a lookup with one would fail with a database error),
booleans are strict (``"yes"`` is not ``true``), and passwords are capped at
128 characters so nobody can make the server hash a megabyte. Anything else
is answered with a 422 problem by Ninja before a handler runs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.core.validators import is_country

__all__ = [
    "AcceptedOut",
    "AddressCreateIn",
    "AddressListOut",
    "AddressOut",
    "AddressUpdateIn",
    "CustomerOut",
    "CustomerUpdateIn",
    "EmailIn",
    "PasswordChangeIn",
    "PasswordResetConfirmIn",
    "RegisterIn",
    "SessionOut",
    "SignInIn",
    "TokenCheckIn",
]

EMAIL_MAX_LENGTH = 254
PASSWORD_MAX_LENGTH = 128
_PHONE_RE = r"^[0-9+()\-. x]*$"
_SUBDIVISION_RE = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _email(value: str) -> str:
    _no_nul(value)
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError("is not a valid email address") from None
    # Lower-case the domain (case-insensitive by RFC); the local part is kept.
    return BaseUserManager.normalize_email(value)


def _country(value: str) -> str:
    value = value.upper()
    if not is_country(value):
        raise ValueError("is not an ISO 3166-1 alpha-2 country code")
    return value


def _subdivision(value: str) -> str:
    value = value.upper()
    if value and not _SUBDIVISION_RE.fullmatch(value):
        raise ValueError("is not an ISO 3166-2 code such as US-CA")
    return value


def _text(max_length: int, *, min_length: int = 0) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


_NoNul = AfterValidator(_no_nul)
Text20 = Annotated[str, _text(20), _NoNul]
Text100 = Annotated[str, _text(100), _NoNul]
Text150 = Annotated[str, _text(150), _NoNul]
Text200 = Annotated[str, _text(200), _NoNul]
RequiredText100 = Annotated[str, _text(100, min_length=1), _NoNul]
RequiredText200 = Annotated[str, _text(200, min_length=1), _NoNul]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=EMAIL_MAX_LENGTH),
    AfterValidator(_email),
]
# Never stripped: leading and trailing spaces are part of a password.
Password = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH), _NoNul]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32, pattern=_PHONE_RE)]
Uid = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
LinkToken = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")
]
Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=2),
    AfterValidator(_country),
]
Subdivision = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=10), AfterValidator(_subdivision)
]


class _In(InputSchema):
    """Base of inputs: a JSON object; unknown fields are ignored (clients echo what they read)."""


# -- authentication ----------------------------------------------------------------


class RegisterIn(_In):
    email: Email
    password: Password
    full_name: Text150 = ""
    accepts_marketing: StrictBool | None = None


class SignInIn(_In):
    email: Email
    password: Password


class EmailIn(_In):
    email: Email


class TokenCheckIn(_In):
    uid: Uid
    token: LinkToken


class PasswordResetConfirmIn(TokenCheckIn):
    new_password: Password


class PasswordChangeIn(_In):
    current_password: Password
    new_password: Password


# -- the customer ----------------------------------------------------------------


class CustomerOut(Schema):
    id: str
    email: str
    full_name: str
    phone: str
    accepts_marketing: bool
    is_registered: bool
    email_verified: bool
    email_verified_at: datetime | None
    created_at: datetime


class SessionOut(Schema):
    """A signed-in session: the bearer token (shown once) and its customer."""

    token: str
    expires_at: datetime
    customer: CustomerOut


class AcceptedOut(Schema):
    """The answer to a request whose effect (an email) happens later, or not at all."""

    detail: str


class CustomerUpdateIn(_In):
    full_name: Text150 | None = None
    phone: Phone | None = None
    accepts_marketing: StrictBool | None = None
    # Accepted only to be refused with a clear error: changing the email
    # needs a verification flow of its own, not in this version.
    email: Annotated[str, StringConstraints(max_length=EMAIL_MAX_LENGTH)] | None = None


# -- addresses ----------------------------------------------------------------------


class _AddressFields(_In):
    first_name: Text100 = ""
    last_name: Text100 = ""
    company: Text150 = ""
    line2: Text200 = ""
    postal_code: Text20 = ""
    subdivision: Subdivision = ""
    phone: Phone = ""
    is_default_shipping: StrictBool = False
    is_default_billing: StrictBool = False


class AddressCreateIn(_AddressFields):
    line1: RequiredText200
    city: RequiredText100
    country: Country


class AddressUpdateIn(_In):
    """Only the fields sent are changed; ``null`` is refused for every field."""

    first_name: Text100 | None = None
    last_name: Text100 | None = None
    company: Text150 | None = None
    line1: RequiredText200 | None = None
    line2: Text200 | None = None
    city: RequiredText100 | None = None
    postal_code: Text20 | None = None
    country: Country | None = None
    subdivision: Subdivision | None = None
    phone: Phone | None = None
    is_default_shipping: StrictBool | None = None
    is_default_billing: StrictBool | None = None


class AddressOut(ObjectOut):
    first_name: str
    last_name: str
    company: str
    line1: str
    line2: str
    city: str
    postal_code: str
    country: str
    subdivision: str
    phone: str
    is_default_shipping: bool
    is_default_billing: bool
    created_at: datetime


class AddressListOut(Schema):
    items: list[AddressOut]
    next_cursor: str | None = Field(
        default=None, description="Always null: a customer has at most a few dozen addresses."
    )
