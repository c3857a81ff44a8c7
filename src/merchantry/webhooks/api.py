"""Admin API for the shop's webhook endpoints and their delivery log."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.tenancy.context import request_context
from merchantry.tenancy.schemas import WithExtra, parse_id
from merchantry.webhooks import services
from merchantry.webhooks.models import WebhookDelivery, WebhookEndpoint
from merchantry.webhooks.schemas import (
    DeliveryFilters,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecretOut,
    SecretRotate,
)

__all__ = ["admin_router"]

admin_router = Router(tags=["webhooks"])


# -- endpoints -------------------------------------------------------------------


@admin_router.get("/webhooks/endpoints", response=Page[EndpointOut], summary="Webhook endpoints")
def endpoint_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[WebhookEndpoint]:
    ctx = request_context(request)
    return paginate(services.endpoint_list(actor=ctx.actor, shop=ctx.shop), page, order_by=["-pk"])


@admin_router.post(
    "/webhooks/endpoints",
    response={201: EndpointWithSecretOut},
    summary="Create a webhook endpoint (its secret is in this response only)",
)
def endpoint_create(request: HttpRequest, payload: EndpointCreate) -> Status[WithExtra]:
    ctx = request_context(request)
    created = services.endpoint_create(actor=ctx.actor, shop=ctx.shop, **payload.model_dump())
    return Status(201, WithExtra(created.endpoint, secret=created.secret))


@admin_router.get(
    "/webhooks/endpoints/{endpoint_id}", response=EndpointOut, summary="One webhook endpoint"
)
def endpoint_get(request: HttpRequest, endpoint_id: str) -> WebhookEndpoint:
    ctx = request_context(request)
    return services.endpoint_get(
        actor=ctx.actor, shop=ctx.shop, endpoint_id=parse_id(endpoint_id, what="webhook endpoint")
    )


@admin_router.patch(
    "/webhooks/endpoints/{endpoint_id}", response=EndpointOut, summary="Change a webhook endpoint"
)
def endpoint_patch(
    request: HttpRequest, endpoint_id: str, payload: EndpointPatch
) -> WebhookEndpoint:
    ctx = request_context(request)
    return services.endpoint_update(
        actor=ctx.actor,
        shop=ctx.shop,
        endpoint_id=parse_id(endpoint_id, what="webhook endpoint"),
        changes=payload.model_dump(exclude_unset=True),
    )


@admin_router.delete(
    "/webhooks/endpoints/{endpoint_id}",
    response={204: None},
    summary="Delete a webhook endpoint and its delivery log",
)
def endpoint_delete(request: HttpRequest, endpoint_id: str) -> Status[None]:
    ctx = request_context(request)
    services.endpoint_delete(
        actor=ctx.actor, shop=ctx.shop, endpoint_id=parse_id(endpoint_id, what="webhook endpoint")
    )
    return Status(204, None)


@admin_router.post(
    "/webhooks/endpoints/{endpoint_id}/rotate-secret",
    response=EndpointWithSecretOut,
    summary="Give a webhook endpoint a new secret (shown in this response only)",
)
def endpoint_rotate_secret(
    request: HttpRequest, endpoint_id: str, payload: SecretRotate
) -> WithExtra:
    ctx = request_context(request)
    rotated = services.endpoint_rotate_secret(
        actor=ctx.actor,
        shop=ctx.shop,
        endpoint_id=parse_id(endpoint_id, what="webhook endpoint"),
        previous_secret_valid_hours=payload.previous_secret_valid_hours,
    )
    return WithExtra(rotated.endpoint, secret=rotated.secret)


# -- deliveries ------------------------------------------------------------------


@admin_router.get(
    "/webhooks/deliveries",
    response=Page[DeliveryOut],
    summary="Webhook delivery attempts, newest first",
)
def delivery_list(
    request: HttpRequest, page: Query[PageParams], filters: Query[DeliveryFilters]
) -> CursorPage[WebhookDelivery]:
    ctx = request_context(request)
    endpoint_id = None
    if filters.endpoint_id is not None:
        endpoint_id = parse_id(filters.endpoint_id, what="webhook endpoint")
    deliveries = services.delivery_list(
        actor=ctx.actor,
        shop=ctx.shop,
        endpoint_id=endpoint_id,
        status=filters.status,
        event_type=filters.event_type,
    )
    return paginate(deliveries, page, order_by=["-pk"])


@admin_router.get(
    "/webhooks/deliveries/{delivery_id}", response=DeliveryOut, summary="One delivery attempt"
)
def delivery_get(request: HttpRequest, delivery_id: str) -> WebhookDelivery:
    ctx = request_context(request)
    return services.delivery_get(
        actor=ctx.actor, shop=ctx.shop, delivery_id=parse_id(delivery_id, what="webhook delivery")
    )


@admin_router.post(
    "/webhooks/deliveries/{delivery_id}/replay",
    response={202: DeliveryOut},
    summary="Send a delivery's event to its endpoint again",
)
def delivery_replay(request: HttpRequest, delivery_id: str) -> Status[WebhookDelivery]:
    ctx = request_context(request)
    replay = services.delivery_replay(
        actor=ctx.actor, shop=ctx.shop, delivery_id=parse_id(delivery_id, what="webhook delivery")
    )
    return Status(202, replay)
