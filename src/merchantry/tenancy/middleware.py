"""
Resolve the shop of a storefront request from its host.

A request for ``shop.example.com`` belongs to the shop owning that domain.
On a loopback host (127.0.0.1, localhost), where no domain can be set up,
the shop named by ``MERCHANTRY_DEFAULT_SHOP`` (``demo`` by default) answers,
so ``make run`` shows the demo shop. The APIs do not use this: there the
credentials select the shop.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from merchantry.tenancy.models import Shop, ShopStatus
from merchantry.tenancy.services import shop_for_host

__all__ = ["ShopFromHostMiddleware", "resolve_shop"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def resolve_shop(request: HttpRequest) -> Shop | None:
    """Return the active shop ``request``'s host belongs to, if any."""
    host = request.get_host().rsplit(":", 1)[0] if "]" not in request.get_host() else "[::1]"
    shop = shop_for_host(host)
    if shop is None and host in LOOPBACK_HOSTS and settings.MERCHANTRY_DEFAULT_SHOP:
        shop = Shop.objects.filter(
            slug=settings.MERCHANTRY_DEFAULT_SHOP, status=ShopStatus.ACTIVE
        ).first()
    return shop


class ShopFromHostMiddleware:
    """Attach ``request.shop`` (resolved on first use) to non-API requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith("/api/"):
            request.shop = SimpleLazyObject(lambda: resolve_shop(request))  # type: ignore[attr-defined]
        return self.get_response(request)
