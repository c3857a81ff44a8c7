"""Operations on staff accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from merchantry.accounts.models import User
from merchantry.core import audit

__all__ = ["EnsuredUser", "superuser_ensure"]


@dataclass(frozen=True, slots=True)
class EnsuredUser:
    user: User
    created: bool
    password: str | None
    """The generated password when the user was just created, else None."""


def superuser_ensure(*, email: str, full_name: str = "") -> EnsuredUser:
    """
    Return the superuser with ``email``, creating it with a random password.

    Idempotent: an existing account is returned untouched, and its password is
    never shown again (it was printed once, at creation).
    """
    with transaction.atomic():
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None:
            return EnsuredUser(user=existing, created=False, password=None)
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(email=email, password=password, full_name=full_name)
        audit.record(None, "user.create", user, {"email": email, "is_superuser": True})
    return EnsuredUser(user=user, created=True, password=password)
