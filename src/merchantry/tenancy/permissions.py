"""
The permission vocabulary: what a role or an API key may do in a shop.

Codes are ``<domain>.<verb>``; ``manage`` implies ``view`` of the same domain.
Permissions are checked by services (``actor.require(Perm.CATALOG_MANAGE)``)
and by the APIs, not only by the admin UI.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["BUILTIN_ROLES", "Perm", "expand", "validate_permissions"]


class Perm(StrEnum):
    CATALOG_VIEW = "catalog.view"
    CATALOG_MANAGE = "catalog.manage"
    INVENTORY_VIEW = "inventory.view"
    INVENTORY_MANAGE = "inventory.manage"
    ORDERS_VIEW = "orders.view"
    ORDERS_MANAGE = "orders.manage"
    REFUNDS_MANAGE = "refunds.manage"
    CUSTOMERS_VIEW = "customers.view"
    CUSTOMERS_MANAGE = "customers.manage"
    DISCOUNTS_VIEW = "discounts.view"
    DISCOUNTS_MANAGE = "discounts.manage"
    SHIPPING_VIEW = "shipping.view"
    SHIPPING_MANAGE = "shipping.manage"
    PAYMENTS_MANAGE = "payments.manage"
    PLUGINS_MANAGE = "plugins.manage"
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    CHANNELS_VIEW = "channels.view"
    CHANNELS_MANAGE = "channels.manage"
    APIKEYS_MANAGE = "apikeys.manage"
    SHOP_VIEW = "shop.view"
    SHOP_MANAGE = "shop.manage"


ALL = frozenset(Perm)
VIEW = frozenset(p for p in Perm if p.value.endswith(".view"))


def expand(permissions: Iterable[str]) -> frozenset[str]:
    """Return ``permissions`` with the ``view`` implied by each ``manage``."""
    result = set(permissions)
    for code in list(result):
        domain, _, verb = code.partition(".")
        if verb == "manage" and f"{domain}.view" in Perm._value2member_map_:
            result.add(f"{domain}.view")
    return frozenset(result)


def validate_permissions(codes: Iterable[str]) -> list[str]:
    """Return the unknown codes in ``codes`` (empty when all are known)."""
    return sorted(set(codes) - set(Perm._value2member_map_))


# Built-in roles every shop has. Owners and admins hold every permission; only
# an owner may grant or take away the owner role (checked in the services).
BUILTIN_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "owner": ("Owner", ALL),
    "admin": ("Admin", ALL),
    "catalog_manager": (
        "Catalog manager",
        expand(
            [Perm.CATALOG_MANAGE, Perm.INVENTORY_MANAGE, Perm.DISCOUNTS_VIEW, Perm.CHANNELS_VIEW]
        ),
    ),
    "fulfillment": (
        "Fulfillment",
        expand(
            [
                Perm.ORDERS_MANAGE,
                Perm.INVENTORY_MANAGE,
                Perm.SHIPPING_VIEW,
                Perm.CATALOG_VIEW,
                Perm.CUSTOMERS_VIEW,
            ]
        ),
    ),
    "support": (
        "Support",
        expand(
            [
                Perm.ORDERS_VIEW,
                Perm.REFUNDS_MANAGE,
                Perm.CUSTOMERS_MANAGE,
                Perm.CATALOG_VIEW,
                Perm.DISCOUNTS_VIEW,
            ]
        ),
    ),
    "read_only": ("Read-only", VIEW),
}
