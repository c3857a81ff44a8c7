"""
Admin API DTOs for plugins, their per-shop settings, health and webhook events.

Secret settings never appear in a response: a secret that is set reads as the
fixed mask ``********`` (``secrets`` says which are set), and sending the mask
back leaves the secret as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from merchantry.core.pagination import PageParams
from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.plugins.models import WebhookEvent, WebhookEventStatus
from merchantry.plugins.services import PluginView
from merchantry.plugins.spec import secret_fields
from merchantry.tenancy.schemas import JsonObject

__all__ = [
    "HealthOut",
    "InstallationOut",
    "PluginDetailOut",
    "PluginOut",
    "PluginSettingsPatch",
    "WebhookEventOut",
    "WebhookEventParams",
]


class InstallationOut(Schema):
    """This shop's installation of a plugin."""

    status: str = Field(..., description="installed, enabled or disabled")
    configured: bool = Field(..., description="Whether the settings are complete and valid.")
    webhook_url: str | None = Field(
        None, description="Where the provider sends webhooks (plugins that receive them)."
    )
    installed_at: datetime
    updated_at: datetime
    last_webhook_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    error_count: int
    success_count: int


def _installation(view: PluginView, context: Any) -> dict[str, Any] | None:
    installation = view.installation
    if installation is None:
        return None
    webhook_url = None
    if view.handles_webhooks:
        request = (context or {}).get("request")
        path = installation.webhook_path
        webhook_url = request.build_absolute_uri(path) if request is not None else path
    return {
        "status": installation.status,
        "configured": bool(view.configured),
        "webhook_url": webhook_url,
        "installed_at": installation.installed_at,
        "updated_at": installation.updated_at,
        "last_webhook_at": installation.last_webhook_at,
        "last_error_at": installation.last_error_at,
        "last_error": installation.last_error,
        "error_count": installation.error_count,
        "success_count": installation.success_count,
    }


class PluginOut(Schema):
    """A plugin this server offers, and whether this shop installed it."""

    id: str = Field(..., description="The plugin's id, e.g. `stripe`.")
    name: str
    version: str
    description: str
    availability: str = Field(
        ...,
        description="ok; incompatible (with this Merchantry version) or broken (fails to "
        "load): see reason; missing (installed, but no longer on this server).",
    )
    reason: str
    providers: list[str]
    handles_webhooks: bool
    installation: InstallationOut | None

    @staticmethod
    def resolve_installation(obj: PluginView, context: Any) -> dict[str, Any] | None:
        return _installation(obj, context)


class PluginDetailOut(PluginOut):
    """An installed plugin with its settings (secrets masked) and their schema."""

    settings: dict[str, Any] = Field(
        ..., description="Current values; a secret that is set reads `********`, unset null."
    )
    secrets: dict[str, bool] = Field(..., description="For each secret setting: is it set?")
    settings_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema of the settings (secret fields are writeOnly)."
    )

    @staticmethod
    def resolve_settings(obj: PluginView) -> dict[str, Any]:
        return obj.settings or {}

    @staticmethod
    def resolve_secrets(obj: PluginView) -> dict[str, bool]:
        return obj.secrets_set or {}

    @staticmethod
    def resolve_settings_schema(obj: PluginView) -> dict[str, Any] | None:
        if obj.settings_model is None:
            return None
        try:
            schema = obj.settings_model.model_json_schema()
        except Exception:  # a type JSON Schema cannot describe; the form still works
            return None
        secret_names = secret_fields(obj.settings_model)
        for name, prop in schema.get("properties", {}).items():
            if name in secret_names:
                prop.pop("default", None)
                prop["writeOnly"] = True
        return schema


class PluginSettingsPatch(InputSchema):
    settings: JsonObject = Field(
        ...,
        description="Settings to change; omitted ones keep their value. A secret sent as "
        "`********` (or omitted) keeps its value; null removes it.",
    )


class HealthOut(Schema):
    ok: bool
    detail: str
    status: str
    checks: dict[str, str]
    last_webhook_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    error_count: int
    success_count: int
    error_rate: float | None = Field(..., description="Failed share of calls; null before any.")
    pending_events: int
    failed_events: int


class WebhookEventOut(ObjectOut):
    plugin_id: str
    provider_event_id: str
    event_type: str
    status: WebhookEventStatus
    attempts: int
    received_at: datetime
    occurred_at: datetime | None
    next_attempt_at: datetime | None = Field(
        None, description="When the next attempt is due (pending events only)."
    )
    processed_at: datetime | None
    last_error: str

    @staticmethod
    def resolve_next_attempt_at(obj: WebhookEvent) -> datetime | None:
        return obj.next_attempt_at if obj.status == WebhookEventStatus.PENDING else None


class WebhookEventParams(PageParams):
    status: WebhookEventStatus | None = Field(None, description="Only events in this status.")
