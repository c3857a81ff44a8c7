"""
Operations on a shop's webhook endpoints and their deliveries.

Endpoints carry the shop's event data to the merchant's own systems, so every
operation here needs ``plugins.manage`` (integrations); changes are audited.
An endpoint's signing secret is generated here and returned once, on create
and on rotation; it is stored encrypted and never returned again.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    invalid_field,
    refuse_nulls,
)
from merchantry.core.http import is_public_address, parse_allow_list
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm
from merchantry.webhooks.delivery import enqueue_on_commit
from merchantry.webhooks.models import (
    EVENT_PATTERN_RE,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    seal_secret,
)
from merchantry.webhooks.signing import new_secret

__all__ = [
    "MAX_ENDPOINTS_PER_SHOP",
    "EndpointWithSecret",
    "delivery_get",
    "delivery_list",
    "delivery_replay",
    "display_url",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_get",
    "endpoint_list",
    "endpoint_rotate_secret",
    "endpoint_update",
    "validate_url",
]

MAX_ENDPOINTS_PER_SHOP = 20
MAX_EVENT_TYPES = 50
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
MAX_PREVIOUS_SECRET_HOURS = 7 * 24
_EDITABLE = ("url", "event_types", "description", "is_active")
_HOST_RE = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str
    """The signing secret itself, to show once."""


def _allow_private() -> bool:
    return bool(getattr(settings, "MERCHANTRY_WEBHOOKS_ALLOW_PRIVATE_URLS", False))


def display_url(url: str) -> str:
    """Return ``url`` without query or fragment, for logs and the audit trail."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def validate_url(url: str) -> str:
    """
    Return ``url`` if events may be sent there, else raise :class:`ValidationFailed`.

    An https URL of a public host, with no credentials in it. A private,
    loopback or link-local host (and then plain http too) only when the
    installation allows it: ``MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS`` lists it,
    or ``MERCHANTRY_WEBHOOKS_ALLOW_PRIVATE_URLS`` is on (development, tests).
    No DNS lookup happens here: the outbound client checks the address it
    connects to on every delivery, which is the check that counts.
    """
    text = (url or "").strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise invalid_field("url", f"Give a URL of at most {MAX_URL_LENGTH} characters.")
    if any(ord(char) < 33 or ord(char) == 127 for char in text):
        raise invalid_field("url", "A URL cannot contain spaces or control characters.")
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise invalid_field("url", "This is not a valid URL.") from None
    if scheme not in ("https", "http"):
        raise invalid_field("url", "Webhook URLs must use https.", "https_required")
    if parts.username is not None or parts.password is not None:
        raise invalid_field("url", "Put no credentials in the URL; verify the signature instead.")
    if parts.fragment:
        raise invalid_field("url", "A webhook URL has no #fragment.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise invalid_field("url", "This is not a valid URL.")
    public = _is_public_host(host)
    if public is None:
        raise invalid_field("url", "This is not a valid host name.")
    if not public and not _private_host_allowed(host, port):
        raise invalid_field(
            "url", "Webhooks go to public hosts, not private or local addresses.", "private_host"
        )
    if scheme != "https" and public and not _allow_private():
        raise invalid_field("url", "Webhook URLs must use https.", "https_required")
    return text


def _is_public_host(host: str) -> bool | None:
    """Return whether ``host`` is public by its looks; None when it is no host at all."""
    try:
        return is_public_address(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    # The last label must start with a letter: "127.1" and "2130706433" are
    # addresses to the resolver, however they look to ipaddress.
    if not _HOST_RE.fullmatch(name):
        return None
    return not (name == "localhost" or name.endswith(_PRIVATE_SUFFIXES))


def _private_host_allowed(host: str, port: int) -> bool:
    if _allow_private():
        return True
    try:
        rules = parse_allow_list(getattr(settings, "MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS", ()))
    except ValueError:
        return False
    name = host.lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        # A name: only name rules can admit it without resolving it.
        return any(rule.hostname == name and rule.port in (None, port) for rule in rules)
    return any(rule.matches(host=name, port=port, address=address) for rule in rules)


def _event_types(values: Iterable[Any]) -> list[str]:
    patterns = list(values) if not isinstance(values, str) else [values]
    errors = []
    for index, pattern in enumerate(patterns):
        if (
            not isinstance(pattern, str)
            or len(pattern) > 100
            or not EVENT_PATTERN_RE.fullmatch(pattern)
        ):
            errors.append(
                FieldError(
                    ("event_types", index),
                    'Use an event type such as "order.placed", a prefix such as "order.*", or "*".',
                    "event_type",
                )
            )
    if errors:
        raise ValidationFailed(errors=errors)
    cleaned = sorted(set(patterns))
    if not cleaned:
        raise invalid_field("event_types", "Subscribe to at least one event type.", "required")
    if len(cleaned) > MAX_EVENT_TYPES:
        raise invalid_field("event_types", f"At most {MAX_EVENT_TYPES} event types.", "too_many")
    return cleaned


def _description(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise invalid_field(
            "description", f"At most {MAX_DESCRIPTION_LENGTH} characters.", "max_length"
        )
    return text


def _set_secret(endpoint: WebhookEndpoint) -> str:
    secret = new_secret()
    endpoint.secret_encrypted = seal_secret(secret)
    endpoint.secret_hint = secret[-4:]
    return secret


# -- endpoints ------------------------------------------------------------------------


def endpoint_list(*, actor: Actor, shop: Shop) -> QuerySet[WebhookEndpoint]:
    actor.require(Perm.PLUGINS_MANAGE)
    return WebhookEndpoint.objects.for_shop(shop)


def endpoint_get(*, actor: Actor, shop: Shop, endpoint_id: int) -> WebhookEndpoint:
    actor.require(Perm.PLUGINS_MANAGE)
    endpoint = WebhookEndpoint.objects.for_shop(shop).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def endpoint_create(
    *,
    actor: Actor,
    shop: Shop,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    is_active: bool = True,
) -> EndpointWithSecret:
    """Create an endpoint and return it with its signing secret, shown this once."""
    actor.require(Perm.PLUGINS_MANAGE)
    endpoint = WebhookEndpoint(
        shop=shop,
        url=validate_url(url),
        event_types=_event_types(event_types),
        description=_description(description),
        is_active=bool(is_active),
    )
    secret = _set_secret(endpoint)
    with transaction.atomic():
        # A soft limit against runaway scripts: two racing requests may both pass.
        if WebhookEndpoint.objects.for_shop(shop).count() >= MAX_ENDPOINTS_PER_SHOP:
            raise Conflict(
                f"A shop has at most {MAX_ENDPOINTS_PER_SHOP} webhook endpoints.",
                code="endpoint_limit",
            )
        endpoint.save()
        audit.record(
            actor,
            "webhook_endpoint.create",
            endpoint,
            {"url": display_url(endpoint.url), "event_types": endpoint.event_types},
            shop_id=shop.pk,
        )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_update(
    *, actor: Actor, shop: Shop, endpoint_id: int, changes: Mapping[str, Any]
) -> WebhookEndpoint:
    """Change an endpoint's URL, event types, description or active flag."""
    actor.require(Perm.PLUGINS_MANAGE)
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise invalid_field(sorted(unknown)[0], "This field cannot be changed.", "read_only")
    refuse_nulls(changes, _EDITABLE)
    cleaned: dict[str, Any] = {}
    if "url" in changes:
        cleaned["url"] = validate_url(changes["url"])
    if "event_types" in changes:
        cleaned["event_types"] = _event_types(changes["event_types"])
    if "description" in changes:
        cleaned["description"] = _description(changes["description"])
    if "is_active" in changes:
        cleaned["is_active"] = bool(changes["is_active"])
    with transaction.atomic():
        endpoint = endpoint_get(actor=actor, shop=shop, endpoint_id=endpoint_id)
        before = {key: getattr(endpoint, key) for key in cleaned}
        changed = {key: value for key, value in cleaned.items() if before[key] != value}
        if not changed:
            return endpoint
        for key, value in changed.items():
            setattr(endpoint, key, value)
        endpoint.save()
        shown = {
            key: {"from": display_url(before[key]), "to": display_url(value)}
            if key == "url"
            else {"from": before[key], "to": value}
            for key, value in changed.items()
        }
        audit.record(actor, "webhook_endpoint.update", endpoint, shown, shop_id=shop.pk)
    return endpoint


def endpoint_delete(*, actor: Actor, shop: Shop, endpoint_id: int) -> None:
    """Delete an endpoint and its delivery log."""
    actor.require(Perm.PLUGINS_MANAGE)
    with transaction.atomic():
        endpoint = endpoint_get(actor=actor, shop=shop, endpoint_id=endpoint_id)
        audit.record(
            actor,
            "webhook_endpoint.delete",
            endpoint,
            {"url": display_url(endpoint.url)},
            shop_id=shop.pk,
        )
        endpoint.delete()


def endpoint_rotate_secret(
    *, actor: Actor, shop: Shop, endpoint_id: int, previous_secret_valid_hours: int = 0
) -> EndpointWithSecret:
    """
    Give an endpoint a new secret and return it, shown this once.

    With ``previous_secret_valid_hours`` the old secret keeps signing beside
    the new one for that long, so the receiver can switch without missing
    events; with 0 (a leaked secret) it stops at once.
    """
    actor.require(Perm.PLUGINS_MANAGE)
    hours = previous_secret_valid_hours
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise invalid_field("previous_secret_valid_hours", "Give a whole number of hours.")
    if not 0 <= hours <= MAX_PREVIOUS_SECRET_HOURS:
        raise invalid_field(
            "previous_secret_valid_hours",
            f"Between 0 and {MAX_PREVIOUS_SECRET_HOURS} hours.",
            "range",
        )
    with transaction.atomic():
        endpoint = endpoint_get(actor=actor, shop=shop, endpoint_id=endpoint_id)
        if hours:
            endpoint.previous_secret_encrypted = endpoint.secret_encrypted
            endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=hours)
        else:
            endpoint.previous_secret_encrypted = ""
            endpoint.previous_secret_expires_at = None
        secret = _set_secret(endpoint)
        endpoint.save()
        audit.record(
            actor,
            "webhook_endpoint.rotate_secret",
            endpoint,
            {"previous_secret_valid_hours": hours},
            shop_id=shop.pk,
        )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


# -- deliveries -----------------------------------------------------------------------


def delivery_list(
    *,
    actor: Actor,
    shop: Shop,
    endpoint_id: int | None = None,
    status: str | None = None,
    event_type: str | None = None,
) -> QuerySet[WebhookDelivery]:
    """Return the shop's delivery attempts, filtered, with their events' ids loaded."""
    actor.require(Perm.PLUGINS_MANAGE)
    deliveries = (
        WebhookDelivery.objects.for_shop(shop).select_related("event").defer("event__payload")
    )
    if endpoint_id is not None:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if status is not None:
        deliveries = deliveries.filter(status=status)
    if event_type is not None:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries


def delivery_get(*, actor: Actor, shop: Shop, delivery_id: int) -> WebhookDelivery:
    delivery = delivery_list(actor=actor, shop=shop).filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery


def delivery_replay(*, actor: Actor, shop: Shop, delivery_id: int) -> WebhookDelivery:
    """
    Send a delivery's event to its endpoint again, as one new attempt.

    The body is the same as the original's (same event id, so receivers can
    deduplicate), signed afresh. A replay is not retried automatically.
    """
    actor.require(Perm.PLUGINS_MANAGE)
    with transaction.atomic():
        original = (
            WebhookDelivery.objects.for_shop(shop)
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if original is None:
            raise NotFound("No such webhook delivery.")
        if not original.endpoint.is_active:
            raise Conflict("The endpoint is disabled; enable it first.", code="endpoint_disabled")
        attempts = WebhookDelivery.objects.filter(
            endpoint_id=original.endpoint_id, event_id=original.event_id
        )
        if attempts.filter(status=DeliveryStatus.PENDING).exists():
            raise Conflict(
                "An attempt to deliver this event is already pending.", code="delivery_pending"
            )
        last = attempts.aggregate(last=Max("attempt"))["last"] or 0
        now = timezone.now()
        try:
            with transaction.atomic():
                replay = WebhookDelivery.objects.create(
                    shop=shop,
                    endpoint_id=original.endpoint_id,
                    event_id=original.event_id,
                    event_type=original.event_type,
                    attempt=last + 1,
                    is_replay=True,
                    next_attempt_at=now,
                    queued_at=now,
                )
        except IntegrityError:
            # Another replay of the same event took this attempt number first.
            raise Conflict(
                "An attempt to deliver this event is already pending.", code="delivery_pending"
            ) from None
        audit.record(
            actor,
            "webhook_delivery.replay",
            replay,
            {"replay_of": original.pk, "event_type": original.event_type},
            shop_id=shop.pk,
        )
        enqueue_on_commit(replay.pk)
    return replay
