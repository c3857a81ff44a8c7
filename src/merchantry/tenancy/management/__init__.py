"""
What the tenancy commands (``merchantry shop``, ``channel``, ``apikey``) and
the accounts' ``merchantry staff`` share: finding a shop by slug, turning a
service error into one readable line, and printing tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from django.core.management.base import CommandError
from django.db import DatabaseError

from merchantry.core.errors import MerchantryError
from merchantry.tenancy.models import Channel, Shop

__all__ = ["channel_by_slug", "render_table", "service_errors", "shop_by_slug"]


def _label(loc: Sequence[str | int], options: Mapping[str, str]) -> str:
    if not loc:
        return ""
    head = options.get(str(loc[0]), f"--{str(loc[0]).replace('_', '-')}")
    rest = "".join(f" #{part + 1}" if isinstance(part, int) else f".{part}" for part in loc[1:])
    return head + rest


def service_error(exc: MerchantryError, options: Mapping[str, str] | None = None) -> CommandError:
    """
    Return ``exc`` as a one-line :class:`CommandError`, naming the command-line
    option of each invalid field (``options`` maps field names to options
    where they differ, e.g. ``{"default_currency": "--currency"}``).
    """
    if not exc.errors:
        return CommandError(exc.detail)
    parts = []
    for error in exc.errors:
        label = _label(error.loc, options or {})
        message = error.message.rstrip(".")
        parts.append(f"{label}: {message}" if label else message)
    return CommandError("; ".join(parts) + ".")


@contextmanager
def service_errors(options: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn service errors, and a database that is not set up, into CommandErrors."""
    try:
        yield
    except MerchantryError as exc:
        raise service_error(exc, options) from None
    except DatabaseError as exc:
        raise CommandError(
            f"The database is not ready ({exc}); run `merchantry migrate` first."
        ) from None


def shop_by_slug(slug: str) -> Shop:
    """Return the shop named ``slug`` or raise a CommandError that says so."""
    with service_errors():
        shop = Shop.objects.filter(slug=slug).first()
    if shop is None:
        raise CommandError(f"No shop with the slug {slug!r}; `merchantry shop list` shows them.")
    return shop


def channel_by_slug(shop: Shop, slug: str) -> Channel:
    """Return ``shop``'s channel named ``slug`` or raise a CommandError."""
    channel = Channel.objects.for_shop(shop).filter(slug=slug).first()
    if channel is None:
        raise CommandError(
            f"No channel {slug!r} in shop {shop.slug}; "
            f"`merchantry channel list --shop {shop.slug}` shows them."
        )
    return channel


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Return ``rows`` as left-aligned columns under ``headers``."""
    cells = [[str(value) for value in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
