"""
Operations on shops, domains, channels and API keys.

Every function takes the acting :class:`~merchantry.core.actors.Actor` and
checks its permission before changing anything; changes are audited in the
same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    invalid_field,
    validation_failed_from_django,
)
from merchantry.core.events import record_event
from merchantry.tenancy.cors import invalidate_store_origins
from merchantry.tenancy.keys import PUBLISHABLE_KEY_PREFIX, SECRET_KEY_PREFIX, hash_key, new_key
from merchantry.tenancy.models import (
    ApiKey,
    ApiKeyKind,
    Channel,
    ChannelKind,
    Domain,
    Shop,
    ShopStatus,
)
from merchantry.tenancy.permissions import Perm, expand, validate_permissions

__all__ = [
    "CreatedKey",
    "apikey_authenticate",
    "apikey_create",
    "apikey_get",
    "apikey_issue",
    "apikey_list",
    "apikey_revoke",
    "channel_create",
    "channel_delete",
    "channel_detail",
    "channel_list",
    "channel_update",
    "domain_add",
    "domain_list",
    "domain_remove",
    "normalize_host",
    "shop_create",
    "shop_for_host",
    "shop_update",
    "shop_view",
]

_HOST_RE = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_CHANNEL_FIELDS = ("name", "slug", "kind", "currency", "default_country", "allowed_origins")


def _channel_event_data(channel: Channel) -> dict[str, Any]:
    """The channel as its domain events describe it (the API's field names)."""
    return {
        "id": str(channel.pk),
        **{field: getattr(channel, field) for field in _CHANNEL_FIELDS},
        "is_active": channel.is_active,
    }


def _clean_and_save(instance: Any, *, unique_field: str | None = None) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        failed = validation_failed_from_django(exc)
        if unique_field:
            # A multi-column unique constraint reports on no field; the client
            # needs to know which of its inputs collided.
            failed.errors = [
                FieldError((unique_field,), "This value is already in use.", "unique")
                if not error.loc and error.code in ("unique", "unique_together")
                else error
                for error in failed.errors
            ]
        raise failed from None
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        # full_clean checks uniqueness, but two requests can race past it.
        field = unique_field or "__all__"
        raise invalid_field(field, "This value is already in use.", "unique") from None


def normalize_host(host: str) -> str:
    """Return ``host`` lower-cased, without port or trailing dot, or raise."""
    value = (host or "").strip().lower().rstrip(".")
    if value.startswith("[") or value.count(":") > 1:
        raise invalid_field("host", "IP literals cannot be shop domains.")
    value = value.split(":", 1)[0]
    if not _HOST_RE.fullmatch(value):
        raise invalid_field("host", f"{host!r} is not a valid host name.")
    return value


def _normalize_origins(origins: Iterable[str]) -> list[str]:
    cleaned = []
    for index, origin in enumerate(origins):
        parts = urlsplit(str(origin).strip())
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise ValidationFailed(
                errors=[
                    FieldError(
                        ("allowed_origins", index),
                        "An origin is scheme://host[:port], e.g. https://shop.example.com.",
                        "origin",
                    )
                ]
            )
        port = f":{parts.port}" if parts.port else ""
        cleaned.append(f"{parts.scheme}://{parts.hostname}{port}")
    return sorted(set(cleaned))


# -- shops --------------------------------------------------------------------


def shop_create(
    *,
    actor: Actor,
    slug: str,
    name: str,
    currency: str,
    country: str,
    timezone_name: str = "UTC",
    domain: str | None = None,
) -> Shop:
    """Create a shop (platform administrators only), optionally with its domain."""
    if not actor.is_platform_admin:
        raise PermissionDenied("Only platform administrators create shops.")
    shop = Shop(
        slug=slug,
        name=name,
        default_currency=(currency or "").upper(),
        default_country=(country or "").upper(),
        timezone=timezone_name,
    )
    with transaction.atomic():
        _clean_and_save(shop, unique_field="slug")
        if domain:
            domain_add(actor=actor, shop=shop, host=domain, is_primary=True)
        audit.record(
            actor,
            "shop.create",
            shop,
            {"slug": slug, "currency": shop.default_currency, "country": shop.default_country},
            shop_id=shop.pk,
        )
    return shop


_SHOP_EDITABLE = ("name", "default_currency", "default_country", "timezone", "settings")


def shop_update(*, actor: Actor, shop: Shop, changes: Mapping[str, Any]) -> Shop:
    """Change a shop's settings; ``status`` only by platform administrators."""
    actor.require(Perm.SHOP_MANAGE)
    unknown = set(changes) - {*_SHOP_EDITABLE, "status"}
    if unknown:
        raise invalid_field(sorted(unknown)[0], "This field cannot be changed.", "read_only")
    if "status" in changes and not actor.is_platform_admin:
        raise PermissionDenied("Only platform administrators suspend or reactivate shops.")
    if not changes:
        return shop  # nothing to save, nothing to audit
    before = {key: getattr(shop, key) for key in changes}
    for key, value in changes.items():
        if key in ("default_currency", "default_country") and isinstance(value, str):
            value = value.upper()
        setattr(shop, key, value)
    with transaction.atomic():
        _clean_and_save(shop)
        audit.record(
            actor,
            "shop.update",
            shop,
            {key: {"from": before[key], "to": getattr(shop, key)} for key in changes},
            shop_id=shop.pk,
        )
        if "status" in changes:
            invalidate_store_origins()
    return shop


def shop_for_host(host: str) -> Shop | None:
    """Return the active shop a request host resolves to, if any."""
    try:
        name = normalize_host(host)
    except ValidationFailed:
        return None
    domain = (
        Domain.objects.select_related("shop")
        .filter(host__iexact=name, shop__status=ShopStatus.ACTIVE)
        .first()
    )
    return domain.shop if domain else None


# -- domains ------------------------------------------------------------------


def domain_add(*, actor: Actor, shop: Shop, host: str, is_primary: bool = False) -> Domain:
    actor.require(Perm.SHOP_MANAGE)
    name = normalize_host(host)
    if Domain.objects.filter(host__iexact=name).exists():
        # Said plainly, without naming the shop that holds it.
        raise invalid_field("host", "This host is already in use.", "unique")
    with transaction.atomic():
        if is_primary:
            Domain.objects.for_shop(shop).filter(is_primary=True).update(is_primary=False)
        elif not Domain.objects.for_shop(shop).exists():
            is_primary = True
        domain = Domain(shop=shop, host=name, is_primary=is_primary)
        _clean_and_save(domain, unique_field="host")
        audit.record(actor, "domain.add", domain, {"host": name}, shop_id=shop.pk)
    return domain


def domain_remove(*, actor: Actor, shop: Shop, domain_id: int) -> None:
    actor.require(Perm.SHOP_MANAGE)
    with transaction.atomic():
        domain = Domain.objects.for_shop(shop).filter(pk=domain_id).first()
        if domain is None:
            raise NotFound("No such domain.")
        domain.delete()
        if domain.is_primary:
            successor = Domain.objects.for_shop(shop).order_by("host").first()
            if successor:
                Domain.objects.filter(pk=successor.pk).update(is_primary=True)
        audit.record(
            actor, "domain.remove", ("domain", domain_id), {"host": domain.host}, shop_id=shop.pk
        )


# -- channels -----------------------------------------------------------------


def channel_create(
    *,
    actor: Actor,
    shop: Shop,
    slug: str,
    name: str,
    kind: str = ChannelKind.WEB,
    currency: str | None = None,
    default_country: str | None = None,
    allowed_origins: Iterable[str] = (),
    is_active: bool = True,
) -> Channel:
    actor.require(Perm.CHANNELS_MANAGE)
    channel = Channel(
        shop=shop,
        slug=slug,
        name=name,
        kind=kind,
        currency=(currency or shop.default_currency).upper(),
        default_country=(default_country or shop.default_country).upper(),
        allowed_origins=_normalize_origins(allowed_origins),
        is_active=is_active,
    )
    with transaction.atomic():
        _clean_and_save(channel, unique_field="slug")
        audit.record(
            actor,
            "channel.create",
            channel,
            {field: getattr(channel, field) for field in _CHANNEL_FIELDS},
            shop_id=shop.pk,
        )
        record_event(shop_id=shop.pk, type="channel.created", payload=_channel_event_data(channel))
        invalidate_store_origins()
    return channel


def channel_get(*, shop: Shop, channel_id: int) -> Channel:
    channel = Channel.objects.for_shop(shop).filter(pk=channel_id).first()
    if channel is None:
        raise NotFound("No such channel.")
    return channel


def channel_update(
    *, actor: Actor, shop: Shop, channel_id: int, changes: Mapping[str, Any]
) -> Channel:
    actor.require(Perm.CHANNELS_MANAGE)
    unknown = set(changes) - {*_CHANNEL_FIELDS, "is_active"}
    if unknown:
        raise invalid_field(sorted(unknown)[0], "This field cannot be changed.", "read_only")
    if not changes:
        return channel_get(shop=shop, channel_id=channel_id)
    with transaction.atomic():
        channel = channel_get(shop=shop, channel_id=channel_id)
        before = {key: getattr(channel, key) for key in changes}
        for key, value in changes.items():
            if key in ("currency", "default_country") and isinstance(value, str):
                value = value.upper()
            if key == "allowed_origins":
                value = _normalize_origins(value)
            setattr(channel, key, value)
        _clean_and_save(channel, unique_field="slug")
        audit.record(
            actor,
            "channel.update",
            channel,
            {key: {"from": before[key], "to": getattr(channel, key)} for key in changes},
            shop_id=shop.pk,
        )
        record_event(
            shop_id=shop.pk,
            type="channel.updated",
            payload={**_channel_event_data(channel), "changed": sorted(changes)},
        )
        invalidate_store_origins()
    return channel


def channel_delete(*, actor: Actor, shop: Shop, channel_id: int) -> None:
    """Delete a channel and revoke its publishable keys with it."""
    actor.require(Perm.CHANNELS_MANAGE)
    with transaction.atomic():
        channel = channel_get(shop=shop, channel_id=channel_id)
        audit.record(actor, "channel.delete", channel, {"slug": channel.slug}, shop_id=shop.pk)
        channel.delete()
        invalidate_store_origins()


# -- API keys -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedKey:
    api_key: ApiKey
    raw: str
    """The key itself, to show once."""


def apikey_create(
    *,
    actor: Actor,
    shop: Shop,
    kind: str,
    name: str,
    channel: Channel | None = None,
    permissions: Iterable[str] = (),
    created_by_id: int | None = None,
) -> CreatedKey:
    """
    Create a key and return it with its one-time raw value.

    A secret key carries a subset of the creator's own permissions (nobody can
    mint a key more powerful than themselves); a publishable key carries none
    and is bound to one of the shop's channels.
    """
    actor.require(Perm.APIKEYS_MANAGE)
    if kind not in ApiKeyKind.values:
        raise invalid_field("kind", "Use 'secret' or 'publishable'.", "choice")
    if not (name or "").strip():
        raise invalid_field("name", "Give the key a name that says what uses it.", "required")
    codes = sorted(set(permissions))
    if kind == ApiKeyKind.PUBLISHABLE:
        if channel is None:
            raise invalid_field("channel", "A publishable key belongs to a channel.", "required")
        if channel.shop_id != shop.pk:
            raise NotFound("No such channel.")
        if codes:
            raise invalid_field(
                "permissions", "Publishable keys carry no permissions.", "not_allowed"
            )
        prefix = PUBLISHABLE_KEY_PREFIX
    else:
        if channel is not None:
            raise invalid_field("channel", "Secret keys belong to the shop, not a channel.")
        unknown = validate_permissions(codes)
        if unknown:
            raise invalid_field(
                "permissions", f"Unknown permissions: {', '.join(unknown)}.", "choice"
            )
        beyond = sorted(code for code in codes if not actor.has_perm(code))
        if beyond:
            raise PermissionDenied(
                f"You cannot grant permissions you do not hold: {', '.join(beyond)}."
            )
        codes = sorted(expand(codes))
        prefix = SECRET_KEY_PREFIX
    key = new_key(prefix)
    api_key = ApiKey(
        shop=shop,
        channel=channel,
        kind=kind,
        name=name.strip()[:120],
        prefix=key.prefix,
        key_hash=key.digest,
        permissions=codes,
        created_by_id=created_by_id,
    )
    with transaction.atomic():
        _clean_and_save(api_key)
        audit.record(
            actor,
            "apikey.create",
            api_key,
            {"kind": kind, "name": api_key.name, "permissions": codes, "prefix": key.prefix},
            shop_id=shop.pk,
        )
        # The prefix identifies the key; the key itself never leaves this function.
        record_event(
            shop_id=shop.pk,
            type="apikey.created",
            payload={
                "id": str(api_key.pk),
                "kind": kind,
                "name": api_key.name,
                "prefix": key.prefix,
                "channel_id": str(channel.pk) if channel is not None else None,
                "permissions": codes,
            },
        )
    return CreatedKey(api_key=api_key, raw=key.raw)


def apikey_revoke(*, actor: Actor, shop: Shop, key_id: int) -> ApiKey:
    actor.require(Perm.APIKEYS_MANAGE)
    with transaction.atomic():
        api_key = ApiKey.objects.for_shop(shop).filter(pk=key_id).first()
        if api_key is None:
            raise NotFound("No such API key.")
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            audit.record(
                actor, "apikey.revoke", api_key, {"prefix": api_key.prefix}, shop_id=shop.pk
            )
    return api_key


def apikey_authenticate(raw: str, *, kind: str) -> ApiKey | None:
    """
    Return the live key of ``kind`` matching ``raw``, with its shop (and
    channel) loaded, or None. Keys of suspended shops or inactive channels
    do not authenticate.
    """
    expected = SECRET_KEY_PREFIX if kind == ApiKeyKind.SECRET else PUBLISHABLE_KEY_PREFIX
    if not raw or not raw.startswith(expected + "_") or len(raw) > 200:
        return None
    api_key = (
        ApiKey.objects.live()
        .select_related("shop", "channel")
        .filter(key_hash=hash_key(raw), kind=kind, shop__status=ShopStatus.ACTIVE)
        .first()
    )
    if api_key is None:
        return None
    if api_key.channel is not None and not api_key.channel.is_active:
        return None
    api_key.touch()
    return api_key


def apikey_actor(api_key: ApiKey) -> Actor:
    """The actor a secret key acts as."""
    return Actor(
        kind="apikey",
        key=f"apikey:{api_key.pk}",
        label=f"API key {api_key.name} ({api_key.prefix}…)",
        shop_id=api_key.shop_id,
        permissions=frozenset(api_key.permissions),
    )


# -- reads for the Admin API -------------------------------------------------------
# Each checks the permission to see what it returns, so an API handler cannot
# forget to; the querysets are scoped to the shop and left unevaluated, for
# the caller to paginate.


def shop_view(*, actor: Actor, shop: Shop) -> Shop:
    """Return ``shop`` to an actor allowed to see its settings."""
    actor.require(Perm.SHOP_VIEW)
    return shop


def channel_list(*, actor: Actor, shop: Shop) -> QuerySet[Channel]:
    actor.require(Perm.CHANNELS_VIEW)
    return Channel.objects.for_shop(shop)


def channel_detail(*, actor: Actor, shop: Shop, channel_id: int) -> Channel:
    actor.require(Perm.CHANNELS_VIEW)
    return channel_get(shop=shop, channel_id=channel_id)


def domain_list(*, actor: Actor, shop: Shop) -> QuerySet[Domain]:
    actor.require(Perm.SHOP_VIEW)
    return Domain.objects.for_shop(shop)


def apikey_list(*, actor: Actor, shop: Shop) -> QuerySet[ApiKey]:
    actor.require(Perm.APIKEYS_MANAGE)
    return ApiKey.objects.for_shop(shop)


def apikey_get(*, actor: Actor, shop: Shop, key_id: int) -> ApiKey:
    actor.require(Perm.APIKEYS_MANAGE)
    api_key = ApiKey.objects.for_shop(shop).filter(pk=key_id).first()
    if api_key is None:
        raise NotFound("No such API key.")
    return api_key


def apikey_issue(
    *,
    actor: Actor,
    shop: Shop,
    kind: str,
    name: str,
    channel_id: int | None = None,
    permissions: Iterable[str] = (),
    created_by_id: int | None = None,
) -> CreatedKey:
    """
    Create a key from request data: :func:`apikey_create`, with the channel
    named by id (a channel of another shop is "not found").
    """
    # Checked before the channel lookup, so a caller who may not manage keys
    # learns nothing about which channel ids exist.
    actor.require(Perm.APIKEYS_MANAGE)
    channel = None if channel_id is None else channel_get(shop=shop, channel_id=channel_id)
    return apikey_create(
        actor=actor,
        shop=shop,
        kind=kind,
        name=name,
        channel=channel,
        permissions=permissions,
        created_by_id=created_by_id,
    )
