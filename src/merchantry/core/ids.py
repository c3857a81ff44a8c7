"""
Opaque ids: the API shows primary keys as strings, and reads them back here.

A malformed id names nothing, so it is answered like a missing one (404),
never as a validation error that would tell ids apart from other strings.
"""

from __future__ import annotations

from merchantry.core.errors import NotFound

__all__ = ["ID_MAX_LENGTH", "parse_id", "pk_or_none"]

ID_MAX_LENGTH = 20
_MAX_ID_DIGITS = 18  # stays inside a signed 64-bit integer on every database


def pk_or_none(value: str | None) -> int | None:
    """Return the primary key ``value`` names, or None when no row could have it."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ID_DIGITS:
        return None
    number = int(text)
    return number if number > 0 else None


def parse_id(value: str | None, *, what: str = "object") -> int:
    """Return the primary key an opaque id names, or raise :class:`NotFound`."""
    pk = pk_or_none(value)
    if pk is None:
        raise NotFound(f"No such {what}.")
    return pk
