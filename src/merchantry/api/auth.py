"""
Authentication for the APIs: each turns credentials into a RequestContext.

Admin API (``/api/v1/admin/``):
  - ``Authorization: Bearer msk_...``: a secret key; the shop is the key's.
  - a staff session cookie (the admin's), with CSRF; the shop comes from the
    ``X-Shop`` header (a slug), checked against the user's memberships. With
    one membership the header may be left out.

Store API (``/api/v1/store/``):
  - ``X-Publishable-Key: mpk_...``: selects the shop and the channel.
  - a signed-in customer adds ``Authorization: Bearer mct_...``; handlers that
    need one call ``merchantry.accounts.customers.require_customer``.

Credentials of another shop never resolve: a key selects exactly one shop,
and everything after uses only that shop.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest
from django_otp import user_has_device
from ninja.security import APIKeyHeader, HttpBearer
from ninja.security.session import SessionAuth

from merchantry.accounts.services import shops_for_user, staff_actor
from merchantry.core.actors import Actor
from merchantry.core.context import bind
from merchantry.core.errors import BadRequest, NotAuthenticated, NotFound
from merchantry.core.validators import SLUG_RE
from merchantry.tenancy.context import RequestContext
from merchantry.tenancy.models import ApiKey, ApiKeyKind, Shop, ShopStatus
from merchantry.tenancy.services import apikey_actor, apikey_authenticate

__all__ = [
    "PublishableKeyAuth",
    "SecretKeyAuth",
    "StaffSessionAuth",
    "admin_auth",
    "publishable_key_lookup",
    "store_auth",
]

SHOP_HEADER = "X-Shop"


def _bind(ctx: RequestContext) -> RequestContext:
    bind(shop=ctx.shop.slug, actor=ctx.actor.key)
    return ctx


class SecretKeyAuth(HttpBearer):
    """A shop's secret API key as a bearer token."""

    def authenticate(self, request: HttpRequest, token: str) -> RequestContext | None:
        api_key = apikey_authenticate(token, kind=ApiKeyKind.SECRET)
        if api_key is None:
            return None
        return _bind(
            RequestContext(shop=api_key.shop, actor=apikey_actor(api_key), api_key=api_key)
        )


class StaffSessionAuth(SessionAuth):
    """A signed-in staff member's session (the admin's cookie), with CSRF."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> RequestContext | None:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return None
        # A session that skipped the second factor of a user who has one set
        # up is not a staff session (the admin signs such sessions out too).
        if user_has_device(user, confirmed=True) and not user.is_verified():
            raise NotAuthenticated(
                "Finish signing in with your two-factor code first.",
                code="second_factor_required",
            )
        slug = request.headers.get(SHOP_HEADER, "").strip()
        if slug:
            # Validate before querying: a slug is short and plain, and a NUL
            # byte would be an error on PostgreSQL, not a miss.
            shop = (
                Shop.objects.filter(slug=slug, status=ShopStatus.ACTIVE).first()
                if SLUG_RE.fullmatch(slug)
                else None
            )
        else:
            shops = [s for s in shops_for_user(user) if s.status == ShopStatus.ACTIVE]
            if len(shops) != 1:
                raise BadRequest(
                    f"Name the shop to work in with the {SHOP_HEADER} header (its slug).",
                    code="shop_required",
                )
            shop = shops[0]
        actor = staff_actor(user, shop) if shop else None
        if shop is None or actor is None:
            # Not a member: the shop does not exist for this user.
            raise NotFound("No such shop.", code="shop_not_found")
        return _bind(RequestContext(shop=shop, actor=actor))


# Publishable keys are public (every storefront page carries one) and read on
# every Store request, so each process remembers a resolved key for a few
# seconds (MERCHANTRY_PUBLISHABLE_KEY_CACHE_SECONDS) instead of looking it up
# each time. Revoking the key, suspending the shop or deactivating the channel
# therefore reaches a process that has just seen the key within that time.
_recent_keys: dict[str, tuple[float, ApiKey]] = {}
_RECENT_KEYS_MAX = 1000


def publishable_key_lookup(raw: str) -> ApiKey | None:
    """The live publishable key ``raw``, remembered by this process for a few seconds."""
    ttl = getattr(settings, "MERCHANTRY_PUBLISHABLE_KEY_CACHE_SECONDS", 0)
    now = time.monotonic()
    if ttl > 0:
        hit = _recent_keys.get(raw)
        if hit is not None and hit[0] > now:
            hit[1].touch()
            return hit[1]
    api_key = apikey_authenticate(raw, kind=ApiKeyKind.PUBLISHABLE)
    if ttl > 0:
        if api_key is None:
            _recent_keys.pop(raw, None)
        else:
            if len(_recent_keys) >= _RECENT_KEYS_MAX:
                _recent_keys.clear()
            _recent_keys[raw] = (now + ttl, api_key)
    return api_key


class PublishableKeyAuth(APIKeyHeader):
    """A channel's publishable key, safe to embed in a storefront."""

    param_name = "X-Publishable-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> RequestContext | None:
        api_key = publishable_key_lookup(key or "")
        if api_key is None:
            return None
        actor = Actor(
            kind="channel",
            key=f"apikey:{api_key.pk}",
            label=f"channel {api_key.channel.slug}",
            shop_id=api_key.shop_id,
        )
        return _bind(
            RequestContext(shop=api_key.shop, actor=actor, channel=api_key.channel, api_key=api_key)
        )


admin_auth = [SecretKeyAuth(), StaffSessionAuth()]
store_auth = [PublishableKeyAuth()]
