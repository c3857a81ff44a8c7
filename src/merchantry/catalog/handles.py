"""Handles made from names: slugified, unique per shop with a ``-2``, ``-3``... suffix."""

from __future__ import annotations

import itertools

from django.db.models import QuerySet
from django.utils.text import slugify

__all__ = ["unique_handle"]


def unique_handle(
    taken_in: QuerySet, base: str, *, fallback: str, max_length: int, exclude: int | None = None
) -> str:
    """
    Return the slug of ``base`` (``fallback`` when it has none), suffixed
    ``-2``, ``-3``... until no row of ``taken_in`` (the shop's rows of one
    model) but ``exclude`` has it as its ``handle``.
    """
    base = (slugify(base) or fallback)[: max_length - 8]
    rows = taken_in.filter(handle__startswith=base).exclude(pk=exclude)
    taken = set(rows.values_list("handle", flat=True))
    if base not in taken:
        return base
    for suffix in itertools.count(2):
        candidate = f"{base}-{suffix}"
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")
