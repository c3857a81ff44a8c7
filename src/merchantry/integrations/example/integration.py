"""The example plugin object: manifest, settings, and what it does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from merchantry.core.logging import get_logger
from merchantry.integrations.example import tasks, webhooks
from merchantry.integrations.example.shipping import FlatRateShipping
from merchantry.plugins.hookspecs import HookEvent, hookimpl
from merchantry.plugins.spec import (
    HealthReport,
    InboundWebhook,
    Plugin,
    PluginManifest,
    ProviderKind,
    ScheduledJob,
    VerifiedWebhook,
)

if TYPE_CHECKING:
    from merchantry.plugins.models import PluginInstallation

__all__ = ["ExamplePlugin", "ExampleSettings"]

logger = get_logger(__name__)


class ExampleSettings(BaseModel):
    """A shop's settings for the example plugin."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(
        min_length=8,
        description="Your Example account's API key; it also signs Example's webhooks.",
        json_schema_extra={"secret": True},
    )
    flat_rate: Decimal = Field(
        default=Decimal("4.99"),
        ge=0,
        max_digits=10,
        decimal_places=3,
        description="Price of one parcel, in the currency of the checkout.",
    )


class ExamplePlugin(Plugin):
    """Flat-rate shipping, signed webhooks and a health check."""

    manifest = PluginManifest(
        id="example",
        name="Example",
        version="1.0.0",
        requires_core=">=0.1,<1.0",
        description="A worked example: flat-rate shipping and signed webhooks.",
        settings_model=ExampleSettings,
        permissions=("orders.view",),
        providers=(ProviderKind.SHIPPING_RATES,),
        handles_webhooks=True,
        jobs=(tasks.count_enabled_shops,),
        periodic_jobs=(ScheduledJob(task=tasks.count_enabled_shops, every=timedelta(hours=1)),),
    )

    def provider(
        self, kind: ProviderKind, *, installation: PluginInstallation, settings: Any
    ) -> Any:
        """Return the flat-rate shipping provider configured by ``settings``."""
        if kind == ProviderKind.SHIPPING_RATES:
            return FlatRateShipping(rate_per_parcel=settings.flat_rate)
        return super().provider(kind, installation=installation, settings=settings)

    def verify_webhook(
        self, webhook: InboundWebhook, *, installation: PluginInstallation, settings: Any
    ) -> VerifiedWebhook:
        """Check the HMAC-SHA256 signature and its timestamp; return the event."""
        return webhooks.verify(webhook, secret=settings.api_key.get_secret_value())

    def process_webhook(
        self, event: VerifiedWebhook, *, installation: PluginInstallation, settings: Any
    ) -> None:
        """Record that the event arrived (a real plugin would update orders)."""
        logger.info("example_webhook_processed", event_id=event.event_id, type=event.event_type)

    def health(self, *, installation: PluginInstallation, settings: Any) -> HealthReport:
        """Report whether the settings can work (a real plugin would call its API)."""
        key = settings.api_key.get_secret_value() if settings is not None else ""
        if not key.startswith("ex_"):
            return HealthReport(
                ok=False,
                detail="The API key does not look like an Example key (ex_...).",
                checks={"credentials": "invalid"},
            )
        return HealthReport(ok=True, detail="Ready.", checks={"credentials": "ok"})

    @hookimpl
    def merchantry_on_event(self, event: HookEvent) -> None:
        """Log placed orders (a real plugin would send them somewhere)."""
        if event.type == "order.placed":
            logger.info("example_order_placed", event_id=event.id, shop_id=event.shop_id)
