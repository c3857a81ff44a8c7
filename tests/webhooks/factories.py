"""Factories for webhook endpoints and deliveries (made through the services where they exist)."""

from __future__ import annotations

import itertools

from django.utils import timezone

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import OutboxEvent
from merchantry.tenancy.models import Shop
from merchantry.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from merchantry.webhooks.services import EndpointWithSecret, endpoint_create

_numbers = itertools.count(1)


def make_endpoint(
    shop: Shop,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    is_active: bool = True,
) -> EndpointWithSecret:
    """Create an endpoint of ``shop`` through the service; return it with its secret."""
    return endpoint_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        url=url or f"https://hooks-{next(_numbers)}.example.com/events",
        event_types=event_types or ["*"],
        description=f"{shop.slug} receiver",
        is_active=is_active,
    )


def webhook_endpoint(shop: Shop) -> WebhookEndpoint:
    return make_endpoint(shop).endpoint


def webhook_delivery(shop: Shop, *, status: str = DeliveryStatus.FAILED) -> WebhookDelivery:
    """A finished attempt (a 500 from the receiver) of an event of ``shop``."""
    event = OutboxEvent.objects.create(
        shop_id=shop.pk, type="channel.created", payload={"id": "1", "slug": shop.slug}
    )
    now = timezone.now()
    return WebhookDelivery.objects.create(
        shop=shop,
        endpoint=webhook_endpoint(shop),
        event=event,
        event_type=event.type,
        attempt=1,
        status=status,
        response_status_code=500 if status == DeliveryStatus.FAILED else None,
        response_time_ms=12 if status == DeliveryStatus.FAILED else None,
        error="The receiver answered 500." if status == DeliveryStatus.FAILED else "",
        next_attempt_at=None if status != DeliveryStatus.PENDING else now,
        attempted_at=now if status != DeliveryStatus.PENDING else None,
    )
