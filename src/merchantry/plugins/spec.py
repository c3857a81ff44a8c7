"""
What a plugin is: its manifest and the object it exposes.

A plugin is a Python package whose ``merchantry.plugins`` entry point names a
:class:`Plugin` instance (built-ins under ``merchantry.integrations`` register
the same way). The manifest says who it is, which Merchantry versions it
works with, what settings it takes (a Pydantic model; secret fields marked),
which permissions it needs, which provider interfaces it implements, and what
it contributes (webhook handling, jobs, admin links).

This module is the stable contract; changing it breaks third-party plugins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from merchantry.plugins.models import PluginInstallation

__all__ = [
    "AdminLink",
    "HealthReport",
    "InboundWebhook",
    "Plugin",
    "PluginManifest",
    "ProviderKind",
    "ScheduledJob",
    "VerifiedWebhook",
    "WebhookRejected",
    "secret_fields",
]


class ProviderKind(StrEnum):
    """The provider interfaces a plugin can implement (see ``plugins.providers``)."""

    PAYMENT = "payment"
    SHIPPING_RATES = "shipping_rates"
    FULFILLMENT = "fulfillment"
    TAX = "tax"
    CATALOG_SOURCE = "catalog_source"
    SALES_CHANNEL = "sales_channel"
    PAGE_CONTENT = "page_content"


@dataclass(frozen=True, slots=True)
class AdminLink:
    """A link the admin shows for an installed plugin (e.g. its dashboard)."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A background job of the plugin that the scheduler enqueues every ``every``."""

    task: Any
    """A job made with :func:`merchantry.core.jobs.job` at module level."""
    every: timedelta


@dataclass(frozen=True, slots=True)
class PluginManifest:
    """Who a plugin is and what it contributes."""

    id: str
    """Stable identifier, ``[a-z][a-z0-9_]{1,49}``; used in URLs and the database."""
    name: str
    version: str
    requires_core: str
    """A PEP 440 specifier set for Merchantry's version, e.g. ``">=0.1,<1.0"``."""
    description: str = ""
    settings_model: type[BaseModel] | None = None
    """Per-shop settings; mark secret fields with ``json_schema_extra={"secret": True}``
    or type them ``pydantic.SecretStr``."""
    permissions: tuple[str, ...] = ()
    """Merchantry permission codes the plugin needs to act in a shop."""
    providers: tuple[ProviderKind, ...] = ()
    admin_links: tuple[AdminLink, ...] = ()
    handles_webhooks: bool = False
    """Whether the plugin receives webhooks at ``/webhooks/<id>/<token>/...``."""
    jobs: tuple[Any, ...] = ()
    """The background jobs (:func:`merchantry.core.jobs.job`) the plugin enqueues."""
    periodic_jobs: tuple[ScheduledJob, ...] = ()
    """Jobs the scheduler enqueues on a schedule while the plugin is usable. A
    periodic job runs once per period for the installation as a whole: it
    finds the shops where the plugin is enabled itself."""


def secret_fields(model: type[BaseModel] | None) -> frozenset[str]:
    """Return the names of the settings fields that hold secrets."""
    if model is None:
        return frozenset()
    names = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        annotation = getattr(info.annotation, "__name__", "")
        if extra.get("secret") or annotation in ("SecretStr", "SecretBytes"):
            names.add(name)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class InboundWebhook:
    """An HTTP request to a plugin's webhook URL, as received (raw body)."""

    path: str
    """What follows ``/webhooks/<plugin>/<token>/`` (may be empty)."""
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """What a plugin extracted from a webhook it verified."""

    event_id: str
    """The provider's event id: deliveries with the same id are processed once."""
    event_type: str = ""
    occurred_at: datetime | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


class WebhookRejected(Exception):
    """The webhook failed verification; ``status`` is 400 or 401."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A plugin's own view of one installation's health."""

    ok: bool
    detail: str = ""
    checks: Mapping[str, str] = field(default_factory=dict)


class Plugin:
    """
    Base class of a plugin object. Subclass it, set ``manifest``, and override
    what the plugin does; every method has a safe default.

    Methods receive the shop's installation and its decrypted settings
    (``settings`` is an instance of ``manifest.settings_model``); they never
    read the database of another shop.
    """

    manifest: ClassVar[PluginManifest]

    def provider(
        self, kind: ProviderKind, *, installation: PluginInstallation, settings: Any
    ) -> Any:
        """Return the implementation of provider ``kind`` for ``installation``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement {kind} providers.")

    def verify_webhook(
        self, webhook: InboundWebhook, *, installation: PluginInstallation, settings: Any
    ) -> VerifiedWebhook:
        """
        Check the webhook's signature against the raw body and return what it
        says, or raise :class:`WebhookRejected`. Use ``hmac.compare_digest``;
        enforce the provider's timestamp tolerance where it has one.
        """
        raise WebhookRejected("This plugin does not accept webhooks.", status=404)

    def process_webhook(
        self, event: VerifiedWebhook, *, installation: PluginInstallation, settings: Any
    ) -> None:
        """Act on a verified, stored webhook event (runs in a job; may be retried)."""

    def health(self, *, installation: PluginInstallation, settings: Any) -> HealthReport:
        """Return the installation's health (e.g. whether credentials work)."""
        return HealthReport(ok=True)
