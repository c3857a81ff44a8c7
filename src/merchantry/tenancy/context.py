"""
The request context: which shop and channel a request is for, and who acts.

The API's authentication builds one :class:`RequestContext` per request and
Ninja hands it to the handlers as ``request.auth``. Handlers pass its parts
(``ctx.shop``, ``ctx.actor``) to services explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

from merchantry.core.actors import Actor
from merchantry.core.errors import NotAuthenticated

if TYPE_CHECKING:
    from merchantry.tenancy.models import ApiKey, Channel, Shop

__all__ = ["RequestContext", "request_context"]


@dataclass(slots=True)
class RequestContext:
    shop: Shop
    actor: Actor
    channel: Channel | None = None
    api_key: ApiKey | None = None
    customer: Any = None
    """The signed-in customer on the Store API, once resolved."""

    @property
    def currency(self) -> str:
        return self.channel.currency if self.channel else self.shop.default_currency


def request_context(request: HttpRequest) -> RequestContext:
    """Return the context the API's authentication attached to ``request``."""
    ctx = getattr(request, "auth", None)
    if not isinstance(ctx, RequestContext):
        raise NotAuthenticated()
    return ctx
