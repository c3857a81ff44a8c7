"""Registering plugins and making sample inputs for tests, without installing anything."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock

from merchantry.plugins import hooks
from merchantry.plugins.providers import (
    Address,
    CheckoutLine,
    CheckoutSnapshot,
    CheckoutTotals,
    Money,
)
from merchantry.plugins.registry import LoadedPlugin, add_plugin, remove_plugin, reset_registry

__all__ = [
    "SampleEvent",
    "plugins_enabled",
    "registered_plugin",
    "sample_checkout",
]


@contextmanager
def registered_plugin(plugin: object, *, must_load: bool = True) -> Iterator[LoadedPlugin]:
    """
    Make ``plugin`` a discovered plugin for the duration of the block, as if
    it were installed; it replaces an installed plugin with the same id.
    With ``must_load`` (the default), a plugin the platform refuses (e.g. an
    incompatible version) fails at once with the reason.
    """
    loaded = add_plugin(plugin, source=f"merchantry.testing: {type(plugin).__qualname__}")
    try:
        if must_load and not loaded.usable:
            raise AssertionError(f"plugin {loaded.id!r} was refused: {loaded.reason}")
        yield loaded
    finally:
        remove_plugin(loaded.id)
        reset_registry()


@contextmanager
def plugins_enabled(*plugin_ids: str, shops: Iterable[Any] | None = None) -> Iterator[None]:
    """
    Treat ``plugin_ids`` as enabled in ``shops`` (every shop when None) for the
    block, without installation rows; for hook tests that need no database.
    """
    wanted = frozenset(plugin_ids)
    only = None if shops is None else {str(shop) for shop in shops}

    def enabled(shop_id: Any) -> frozenset[str]:
        return wanted if only is None or str(shop_id) in only else frozenset()

    # Without installation rows there is no health to count outcomes in.
    with (
        mock.patch.object(hooks, "enabled_plugin_ids", enabled),
        mock.patch.object(hooks, "_record_outcomes", return_value=None),
    ):
        yield


@dataclass(frozen=True, slots=True)
class SampleEvent:
    """A domain event as ``merchantry_on_event`` receives it from the outbox."""

    type: str
    shop_id: Any
    payload: Mapping[str, Any] = field(default_factory=dict)
    id: Any = 1
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def sample_checkout(
    *,
    shop_id: Any = 1,
    currency: str = "USD",
    prices: Iterable[str] = ("19.99", "5.00"),
    shipping: str = "4.99",
    country: str = "US",
) -> CheckoutSnapshot:
    """Return a checkout with one line per price (quantity 1), untaxed."""
    lines = tuple(
        CheckoutLine(
            id=f"line-{index}",
            sku=f"SKU-{index}",
            name=f"Item {index}",
            quantity=1,
            unit_price=Money(Decimal(price), currency),
            total=Money(Decimal(price), currency),
        )
        for index, price in enumerate(prices, start=1)
    )
    subtotal = sum((line.total for line in lines), Money.zero(currency))
    shipping_money = Money(Decimal(shipping), currency)
    zero = Money.zero(currency)
    totals = CheckoutTotals(
        subtotal=subtotal,
        discount=zero,
        shipping=shipping_money,
        tax=zero,
        total=subtotal + shipping_money,
    )
    address = Address(country=country, postal_code="10001", city="New York", line1="1 Main St")
    return CheckoutSnapshot(
        id="checkout-1",
        shop_id=shop_id,
        currency=currency,
        lines=lines,
        totals=totals,
        email="buyer@example.com",
        shipping_address=address,
        billing_address=address,
    )
