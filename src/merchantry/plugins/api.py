"""Admin API for plugins: per-shop installation, settings, health and webhook events."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from merchantry.core.ids import parse_id
from merchantry.core.pagination import CursorPage, Page, paginate
from merchantry.plugins import services
from merchantry.plugins.models import WebhookEvent
from merchantry.plugins.schemas import (
    HealthOut,
    PluginDetailOut,
    PluginOut,
    PluginSettingsPatch,
    WebhookEventOut,
    WebhookEventParams,
)
from merchantry.plugins.services import PluginHealth, PluginView
from merchantry.tenancy.context import request_context

__all__ = ["admin_router"]

admin_router = Router(tags=["plugins"])


@admin_router.get(
    "/plugins", response=Page[PluginOut], summary="Plugins on this server, and this shop's"
)
def plugin_list(request: HttpRequest) -> CursorPage[PluginView]:
    ctx = request_context(request)
    return CursorPage(
        items=services.plugin_catalog(actor=ctx.actor, shop=ctx.shop), next_cursor=None
    )


@admin_router.get(
    "/plugins/{plugin_id}",
    response=PluginDetailOut,
    summary="An installed plugin and its settings (secrets masked)",
)
def plugin_get(request: HttpRequest, plugin_id: str) -> PluginView:
    ctx = request_context(request)
    return services.plugin_detail(actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id)


@admin_router.post(
    "/plugins/{plugin_id}/install",
    response={201: PluginDetailOut},
    summary="Install a plugin in this shop (not yet enabled)",
)
def plugin_install(request: HttpRequest, plugin_id: str) -> Status[PluginView]:
    ctx = request_context(request)
    installation = services.plugin_install(actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id)
    return Status(201, services.plugin_view(installation))


@admin_router.patch(
    "/plugins/{plugin_id}/settings",
    response=PluginDetailOut,
    summary="Change a plugin's settings (validated; secrets write-only)",
)
def plugin_configure(
    request: HttpRequest, plugin_id: str, payload: PluginSettingsPatch
) -> PluginView:
    ctx = request_context(request)
    installation = services.plugin_configure(
        actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id, settings=payload.settings
    )
    return services.plugin_view(installation)


@admin_router.post(
    "/plugins/{plugin_id}/enable",
    response=PluginDetailOut,
    summary="Enable a plugin (its settings must be complete)",
)
def plugin_enable(request: HttpRequest, plugin_id: str) -> PluginView:
    ctx = request_context(request)
    installation = services.plugin_enable(actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id)
    return services.plugin_view(installation)


@admin_router.post("/plugins/{plugin_id}/disable", response=PluginDetailOut, summary="Disable")
def plugin_disable(request: HttpRequest, plugin_id: str) -> PluginView:
    ctx = request_context(request)
    installation = services.plugin_disable(actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id)
    return services.plugin_view(installation)


@admin_router.delete(
    "/plugins/{plugin_id}",
    response={204: None},
    summary="Uninstall a plugin: its settings, secrets and webhook events are deleted",
)
def plugin_uninstall(request: HttpRequest, plugin_id: str) -> Status[None]:
    ctx = request_context(request)
    services.plugin_uninstall(actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id)
    return Status(204, None)


@admin_router.get(
    "/plugins/{plugin_id}/health",
    response=HealthOut,
    summary="The plugin's health check, last webhook and error rate in this shop",
)
def plugin_health(request: HttpRequest, plugin_id: str) -> PluginHealth:
    ctx = request_context(request)
    return services.plugin_health(actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id)


@admin_router.get(
    "/plugins/{plugin_id}/webhook-events",
    response=Page[WebhookEventOut],
    summary="Webhooks received for the plugin in this shop, newest first",
)
def webhook_event_list(
    request: HttpRequest, plugin_id: str, params: Query[WebhookEventParams]
) -> CursorPage[WebhookEvent]:
    ctx = request_context(request)
    events = services.webhook_event_list(
        actor=ctx.actor, shop=ctx.shop, plugin_id=plugin_id, status=params.status
    )
    return paginate(events, params, order_by=("-received_at",))


@admin_router.post(
    "/plugins/{plugin_id}/webhook-events/{event_id}/replay",
    response={202: WebhookEventOut},
    summary="Process a webhook event again (e.g. one that failed)",
)
def webhook_event_replay(request: HttpRequest, plugin_id: str, event_id: str) -> Status[object]:
    ctx = request_context(request)
    event = services.webhook_event_replay(
        actor=ctx.actor,
        shop=ctx.shop,
        plugin_id=plugin_id,
        event_id=parse_id(event_id, what="webhook event"),
    )
    return Status(202, event)
