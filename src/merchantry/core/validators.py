"""Validators for codes every app uses: currencies, countries, time zones, slugs."""

from __future__ import annotations

import functools
import re
import zoneinfo

from babel import Locale
from babel.numbers import list_currencies
from django.core.exceptions import ValidationError

__all__ = [
    "is_country",
    "is_currency",
    "is_timezone",
    "validate_country",
    "validate_currency",
    "validate_slug",
    "validate_timezone",
]

SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?")


@functools.cache
def _currencies() -> frozenset[str]:
    return frozenset(code for code in list_currencies() if len(code) == 3 and code.isalpha())


@functools.cache
def _countries() -> frozenset[str]:
    territories = Locale("en").territories
    return frozenset(code for code in territories if len(code) == 2 and code.isalpha())


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_currency(code: str) -> bool:
    """Return whether ``code`` is an ISO 4217 currency code (upper case)."""
    return code in _currencies()


def is_country(code: str) -> bool:
    """Return whether ``code`` is an ISO 3166-1 alpha-2 country code (upper case)."""
    return code in _countries()


def is_timezone(name: str) -> bool:
    return name in _timezones()


def validate_currency(value: str) -> None:
    if not is_currency(value):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code.", code="currency")


def validate_country(value: str) -> None:
    if not is_country(value):
        raise ValidationError(f"{value!r} is not an ISO 3166-1 country code.", code="country")


def validate_timezone(value: str) -> None:
    if not is_timezone(value):
        raise ValidationError(f"{value!r} is not a known time zone.", code="timezone")


def validate_slug(value: str) -> None:
    if not SLUG_RE.fullmatch(value):
        raise ValidationError(
            "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
            code="slug",
        )
