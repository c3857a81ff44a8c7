"""
A plugin for the platform's own tests, and factories for installations and events.

:class:`SamplePlugin` signs its webhooks like most providers (``X-Sample-Signature:
t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` keyed with ``webhook_secret``),
and its processing keeps a resource state that only moves forward in time, as a
real plugin must when a provider delivers out of order. Test modules reset its
state with the :func:`reset_sample_state` helper.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.plugins import services
from merchantry.plugins.models import InstallationStatus, PluginInstallation, WebhookEvent
from merchantry.plugins.spec import (
    HealthReport,
    InboundWebhook,
    Plugin,
    PluginManifest,
    VerifiedWebhook,
    WebhookRejected,
)
from merchantry.tenancy.models import Shop

SIGNATURE_HEADER = "X-Sample-Signature"
TOLERANCE_SECONDS = 300
API_KEY = "sk_live_SAMPLE-api-key-0001"
WEBHOOK_SECRET = "whsec_SAMPLE-signing-secret-0001"


class SampleSettings(BaseModel):
    """Two secrets (one SecretStr, one marked), and plain settings."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=8, json_schema_extra={"secret": True})
    webhook_secret: str = Field(min_length=8, json_schema_extra={"secret": True})
    mode: Literal["test", "live"] = "test"
    max_parcels: int = Field(default=3, ge=1, le=10)


class SampleState:
    """What the sample "provider" did; reset between tests."""

    resource: dict[int, tuple[datetime, str]] = {}
    """Per installation: the (timestamp, status) of the provider's resource."""
    processed: list[str] = []
    fail: dict[str, int] = {}
    """Event id -> failures still to produce (-1: always)."""
    health_raises: bool = False


def reset_sample_state() -> None:
    SampleState.resource = {}
    SampleState.processed = []
    SampleState.fail = {}
    SampleState.health_raises = False


class SamplePlugin(Plugin):
    manifest = PluginManifest(
        id="sample",
        name="Sample",
        version="1.2.0",
        requires_core=">=0.1",
        description="A plugin for tests.",
        settings_model=SampleSettings,
        permissions=("orders.view",),
        handles_webhooks=True,
    )

    def verify_webhook(
        self, webhook: InboundWebhook, *, installation: Any, settings: Any
    ) -> VerifiedWebhook:
        header = webhook.headers.get(SIGNATURE_HEADER, "")
        parts = dict(part.partition("=")[::2] for part in header.split(",") if "=" in part)
        if not parts.get("t", "").isdigit() or not parts.get("v1"):
            raise WebhookRejected("missing or malformed signature", status=401)
        timestamp = int(parts["t"])
        if abs(webhook.received_at.timestamp() - timestamp) > TOLERANCE_SECONDS:
            raise WebhookRejected("signature too old", status=401)
        expected = hmac.new(
            settings.webhook_secret.encode(),
            f"{timestamp}.".encode() + webhook.body,
            hashlib.sha256,
        ).hexdigest()
        if not hmac.compare_digest(expected, parts["v1"]):
            raise WebhookRejected("bad signature", status=401)
        try:
            payload = json.loads(webhook.body)
        except ValueError:
            raise WebhookRejected("not JSON", status=400) from None
        return VerifiedWebhook(
            event_id=str(payload.get("id", "")),
            event_type=str(payload.get("type", "")),
            occurred_at=datetime.fromtimestamp(payload["created"], UTC)
            if "created" in payload
            else None,
            payload=payload,
        )

    def process_webhook(self, event: VerifiedWebhook, *, installation: Any, settings: Any) -> None:
        remaining = SampleState.fail.get(event.event_id, 0)
        if remaining:
            SampleState.fail[event.event_id] = remaining - 1 if remaining > 0 else -1
            # As a careless SDK might: the error quotes the credential it sent.
            raise RuntimeError(
                f"provider answered 500 for key {settings.api_key.get_secret_value()}"
            )
        SampleState.processed.append(event.event_id)
        # Out-of-order delivery: apply a status only if it is newer than the
        # one already applied.
        current = SampleState.resource.get(installation.pk)
        if current is None or (event.occurred_at and event.occurred_at > current[0]):
            SampleState.resource[installation.pk] = (event.occurred_at, event.payload["status"])

    def health(self, *, installation: Any, settings: Any) -> HealthReport:
        if SampleState.health_raises:
            raise ConnectionError(f"cannot reach the provider with {settings.api_key}")
        return HealthReport(ok=True, detail="Credentials accepted.", checks={"api": "ok"})


def sample_plugin(plugin_id: str = "sample", *, requires_core: str = ">=0.1") -> SamplePlugin:
    """Return a SamplePlugin under another id or core requirement."""
    plugin = SamplePlugin()
    plugin.manifest = replace(  # type: ignore[misc]
        SamplePlugin.manifest, id=plugin_id, name=plugin_id.title(), requires_core=requires_core
    )
    return plugin


VALID_SETTINGS = {
    "api_key": API_KEY,
    "webhook_secret": WEBHOOK_SECRET,
    "mode": "live",
    "max_parcels": 2,
}


# -- factories ---------------------------------------------------------------------------


def installed(
    shop: Shop, plugin_id: str = "sample", *, enabled: bool = True, configure: bool = True
) -> PluginInstallation:
    """Install ``plugin_id`` in ``shop`` through the services (the plugin must be registered)."""
    services.plugin_install(actor=SYSTEM_ACTOR, shop=shop, plugin_id=plugin_id)
    if configure:
        services.plugin_configure(
            actor=SYSTEM_ACTOR, shop=shop, plugin_id=plugin_id, settings=VALID_SETTINGS
        )
    if enabled:
        services.plugin_enable(actor=SYSTEM_ACTOR, shop=shop, plugin_id=plugin_id)
    return PluginInstallation.objects.get(shop=shop, plugin_id=plugin_id)


def wall_plugin_id(shop: Shop) -> str:
    """The plugin the tenant-wall tests install in ``shop``: one id per shop, since
    plugin routes name a plugin, and a plugin installed in both shops is each shop's own."""
    return "wall_" + shop.slug.replace("-", "_")


def wall_installation(shop: Shop) -> PluginInstallation:
    """An enabled installation of the shop's wall plugin (rows only; no registry needed)."""
    installation, _ = PluginInstallation.objects.get_or_create(
        shop=shop,
        plugin_id=wall_plugin_id(shop),
        defaults={"status": InstallationStatus.ENABLED, "settings": {"mode": "test"}},
    )
    return installation


def wall_event(shop: Shop) -> WebhookEvent:
    """A failed webhook event of the shop's wall installation."""
    installation = wall_installation(shop)
    number = WebhookEvent.objects.count() + 1
    return WebhookEvent.objects.create(
        shop=shop,
        installation=installation,
        plugin_id=installation.plugin_id,
        provider_event_id=f"evt_wall_{number}",
        event_type="payment.updated",
        body=b'{"id": "evt_wall"}',
        status="failed",
        attempts=8,
        last_error="RuntimeError: boom",
    )


def wall_path_values(obj: Any) -> tuple[Any, ...]:
    """The path parameters naming ``obj`` in the plugin routes."""
    if isinstance(obj, WebhookEvent):
        return (obj.plugin_id, obj.pk)
    return (obj.plugin_id,)


def signed(
    payload: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Return the body and the signature header for ``payload``."""
    body = json.dumps(payload).encode()
    when = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{when}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {SIGNATURE_HEADER: f"t={when},v1={digest}"}
