"""
Keyset (cursor) pagination for every list endpoint.

A list answers ``?limit=`` (1..100, default 50) and an opaque ``?cursor=``
with ``{"items": [...], "next_cursor": "..." | null}``. The cursor carries the
ordering values of the last row served; the next page is "rows after that
row", one indexed ``WHERE ... ORDER BY ... LIMIT n + 1`` query however deep
the client pages, where ``OFFSET`` would scan every skipped row and shift
under concurrent inserts.

The cursor is base64url JSON, not signed: it grants nothing (it only
positions a walk through a queryset the caller is already allowed to read),
so a forged cursor is at worst a different starting point. Its values are
still checked against the ordering fields, so a malformed or tampered cursor
is a 400 problem, never a database error.

Usage in a handler::

    @router.get("/channels", response=Page[ChannelOut])
    def channel_list(request, page: Query[PageParams]):
        return paginate(Channel.objects.for_shop(shop), page)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q
from ninja import Field, Schema

from merchantry.core.errors import BadRequest

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CursorPage",
    "InvalidCursor",
    "Page",
    "PageParams",
    "paginate",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 512
_CURSOR_VERSION = 1

ItemT = TypeVar("ItemT")


class InvalidCursor(BadRequest):
    """The ``cursor`` parameter is not one this list handed out."""

    code = "invalid_cursor"
    title = "Invalid cursor"


class PageParams(Schema):
    """The query parameters every list endpoint accepts."""

    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many items to return (1-100)."
    )
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="The `next_cursor` of the previous page; omit for the first page.",
    )


class Page(Schema, Generic[ItemT]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[ItemT]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class CursorPage(Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None


def _ordering(queryset: models.QuerySet, order_by: Sequence[str]) -> list[tuple[str, bool]]:
    """Return ``[(field, descending), ...]`` ending with the primary key."""
    fields = []
    for term in order_by:
        descending = term.startswith("-")
        name = term.removeprefix("-")
        fields.append(("pk" if name in ("pk", queryset.model._meta.pk.name) else name, descending))
    if not fields or fields[-1][0] != "pk":
        # The primary key breaks ties, so every row has exactly one position.
        fields.append(("pk", fields[-1][1] if fields else False))
    return fields


def _model_field(model: type[models.Model], name: str) -> models.Field:
    if name == "pk":
        return model._meta.pk
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise ValueError(f"Cannot paginate {model.__name__} by {name!r}.") from None
    if field.null:
        # NULLs sort differently per database and compare as unknown; a keyset
        # over a nullable column would skip or repeat rows.
        raise ValueError(f"Cannot paginate by nullable field {model.__name__}.{name}.")
    return field


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    return value


def _encode(values: list[Any]) -> str:
    payload = json.dumps({"v": _CURSOR_VERSION, "k": [_encode_value(v) for v in values]})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode(cursor: str, fields: list[models.Field]) -> list[Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("The cursor is malformed; start again without one.") from None
    if not isinstance(payload, dict) or payload.get("v") != _CURSOR_VERSION:
        raise InvalidCursor("The cursor is malformed; start again without one.")
    keys = payload.get("k")
    if not isinstance(keys, list) or len(keys) != len(fields):
        raise InvalidCursor("The cursor does not belong to this list.")
    values = []
    for field, key in zip(fields, keys, strict=True):
        if key is None or isinstance(key, dict | list):
            raise InvalidCursor("The cursor does not belong to this list.")
        try:
            value = field.to_python(key)
            # Checked here, or an integer beyond 64 bits fails inside the query.
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise ValueError("out of range")
            # ...and PostgreSQL refuses NUL in a text parameter.
            if isinstance(value, str) and "\x00" in value:
                raise ValueError("NUL character")
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise InvalidCursor("The cursor does not belong to this list.") from None
        values.append(value)
    return values


def _after(fields: list[tuple[str, bool]], values: list[Any]) -> Q:
    """Build ``(a, b, pk) > (x, y, z)`` for mixed directions as OR-ed prefixes."""
    condition = Q()
    for index, (name, descending) in enumerate(fields):
        equal = zip(fields[:index], values[:index], strict=True)
        term = Q(**{earlier: value for (earlier, _), value in equal})
        term &= Q(**{f"{name}__{'lt' if descending else 'gt'}": values[index]})
        condition |= term
    return condition


def paginate(
    queryset: models.QuerySet,
    params: PageParams | None = None,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    order_by: Sequence[str] = ("pk",),
) -> CursorPage[Any]:
    """
    Return one page of ``queryset`` in ``order_by`` order (the pk breaks ties).

    Runs exactly one query whatever the page size; the caller adds the
    ``select_related``/``prefetch_related`` its items need, so serialising the
    page adds a fixed number of queries, not one per item. Raises
    :class:`InvalidCursor` (400) for a cursor this list did not hand out.
    """
    if params is not None:
        limit, cursor = params.limit, params.cursor
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    ordering = _ordering(queryset, order_by)
    model_fields = [_model_field(queryset.model, name) for name, _ in ordering]
    queryset = queryset.order_by(*(f"{'-' if desc else ''}{name}" for name, desc in ordering))
    if cursor:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("The cursor is malformed; start again without one.")
        queryset = queryset.filter(_after(ordering, _decode(cursor, model_fields)))
    rows = list(queryset[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode([getattr(last, name) for name, _ in ordering])
    return CursorPage(items=rows, next_cursor=next_cursor)
