"""
Plugins in a shop: install, configure, enable, disable and uninstall; the
settings and their secrets; health; replaying webhook events.

Every change takes the acting :class:`~merchantry.core.actors.Actor`, needs
``plugins.manage`` in the shop, and is audited in its transaction. Settings are
validated against the plugin's Pydantic model with field-level errors. Secret
fields (see :func:`~merchantry.plugins.spec.secret_fields`) are encrypted at
rest and write-only: no read returns them, and the audit trail names the
secret fields that changed, never their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from pydantic import BaseModel

from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.crypto import DecryptionFailed
from merchantry.core.errors import (
    Conflict,
    FieldError,
    MerchantryError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from merchantry.core.logging import get_logger
from merchantry.plugins import registry, tasks
from merchantry.plugins.configuration import (
    SECRET_MASK,
    encode_secrets,
    is_configured,
    plugin_settings,
    read_secrets,
    settings_masked,
    split_settings,
    usable_plugin_or_raise,
    validate_settings,
)
from merchantry.plugins.errors import PluginAlreadyInstalled, PluginNotConfigured, PluginUnavailable
from merchantry.plugins.models import (
    ERROR_MAX_LENGTH,
    InstallationStatus,
    PluginInstallation,
    WebhookEvent,
    WebhookEventStatus,
)
from merchantry.plugins.spec import secret_fields
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "SECRET_MASK",
    "PluginAlreadyInstalled",
    "PluginHealth",
    "PluginNotConfigured",
    "PluginUnavailable",
    "PluginView",
    "installation_health",
    "installation_record_outcome",
    "plugin_catalog",
    "plugin_configure",
    "plugin_detail",
    "plugin_disable",
    "plugin_enable",
    "plugin_health",
    "plugin_install",
    "plugin_settings",
    "plugin_uninstall",
    "plugin_view",
    "settings_masked",
    "webhook_event_list",
    "webhook_event_replay",
]

MISSING = "missing"
"""Availability of an installed plugin this server no longer has."""

logger = get_logger(__name__)


# -- views returned by reads ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PluginView:
    """A plugin as a shop sees it: what the server offers and what the shop installed."""

    id: str
    name: str
    version: str
    description: str
    availability: str
    """``ok``, ``incompatible``, ``broken`` (from the registry) or ``missing``."""
    reason: str
    providers: tuple[str, ...]
    handles_webhooks: bool
    settings_model: type[BaseModel] | None
    installation: PluginInstallation | None
    configured: bool | None = None
    """Whether the stored settings are valid (None when not installed)."""
    settings: dict[str, Any] | None = None
    """The installation's settings, secrets as :data:`SECRET_MASK` (detail views only)."""
    secrets_set: dict[str, bool] | None = None
    """For each secret field, whether it has a value (detail views only)."""


@dataclass(frozen=True, slots=True)
class PluginHealth:
    """One installation's health: the plugin's own check plus what the platform counted."""

    ok: bool
    detail: str
    status: str
    checks: dict[str, str] = field(default_factory=dict)
    last_webhook_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str = ""
    error_count: int = 0
    success_count: int = 0
    error_rate: float | None = None
    pending_events: int = 0
    failed_events: int = 0


# -- lookups --------------------------------------------------------------------------


def _valid_id(plugin_id: str) -> bool:
    return bool(plugin_id) and registry.PLUGIN_ID_RE.fullmatch(plugin_id) is not None


def _installation(shop: Shop, plugin_id: str, *, lock: bool = False) -> PluginInstallation:
    if not _valid_id(plugin_id):
        raise NotFound("This plugin is not installed in this shop.")
    rows = PluginInstallation.objects.for_shop(shop).filter(plugin_id=plugin_id)
    installation = (rows.select_for_update() if lock else rows).first()
    if installation is None:
        raise NotFound("This plugin is not installed in this shop.")
    return installation


# -- reads ----------------------------------------------------------------------------


def _view(
    plugin_id: str,
    loaded: registry.LoadedPlugin | None,
    installation: PluginInstallation | None,
    *,
    detail: bool = False,
) -> PluginView:
    manifest = loaded.plugin.manifest if loaded is not None and loaded.plugin else None
    model = manifest.settings_model if manifest else None
    values, secrets_set = (
        settings_masked(installation, model)
        if detail and installation is not None
        else (None, None)
    )
    return PluginView(
        id=plugin_id,
        name=manifest.name if manifest else plugin_id,
        version=manifest.version if manifest else "",
        description=manifest.description if manifest else "",
        availability=loaded.status if loaded is not None else MISSING,
        reason=loaded.reason if loaded is not None else "Not available on this server.",
        providers=tuple(str(kind) for kind in manifest.providers) if manifest else (),
        handles_webhooks=bool(manifest and manifest.handles_webhooks),
        settings_model=model,
        installation=installation,
        configured=is_configured(installation, model) if installation is not None else None,
        settings=values,
        secrets_set=secrets_set,
    )


def plugin_view(installation: PluginInstallation) -> PluginView:
    """Return the detail view of an installation a service just handed out."""
    return _view(
        installation.plugin_id,
        registry.get_plugin(installation.plugin_id),
        installation,
        detail=True,
    )


def plugin_catalog(*, actor: Actor, shop: Shop) -> list[PluginView]:
    """Return every plugin on this server, and those the shop installed, by id."""
    actor.require(Perm.PLUGINS_MANAGE)
    installed = {i.plugin_id: i for i in PluginInstallation.objects.for_shop(shop)}
    found = registry.all_plugins()
    return [
        _view(plugin_id, found.get(plugin_id), installed.get(plugin_id))
        for plugin_id in sorted(set(found) | set(installed))
    ]


def plugin_detail(*, actor: Actor, shop: Shop, plugin_id: str) -> PluginView:
    """Return an installed plugin, with its installation; 404 when not installed."""
    actor.require(Perm.PLUGINS_MANAGE)
    return plugin_view(_installation(shop, plugin_id))


# -- lifecycle --------------------------------------------------------------------------


def plugin_install(*, actor: Actor, shop: Shop, plugin_id: str) -> PluginInstallation:
    """Install a usable plugin in the shop (not yet enabled)."""
    actor.require(Perm.PLUGINS_MANAGE)
    loaded = registry.get_plugin(plugin_id) if _valid_id(plugin_id) else None
    if loaded is None:
        raise NotFound("No such plugin.")
    if not loaded.usable or loaded.plugin is None:
        raise PluginUnavailable(f"This plugin cannot be installed: {loaded.reason}")
    manifest = loaded.plugin.manifest
    # Installing hands the plugin its permissions in the shop; nobody can
    # grant what they do not hold (as with API keys).
    missing = [code for code in manifest.permissions if not actor.has_perm(code)]
    if missing:
        raise PermissionDenied(
            f"This plugin needs permissions you do not hold: {', '.join(sorted(missing))}."
        )
    with transaction.atomic():
        if PluginInstallation.objects.for_shop(shop).filter(plugin_id=plugin_id).exists():
            raise PluginAlreadyInstalled("This plugin is already installed in this shop.")
        try:
            with transaction.atomic():
                installation = PluginInstallation.objects.create(shop=shop, plugin_id=plugin_id)
        except IntegrityError:
            raise PluginAlreadyInstalled("This plugin is already installed in this shop.") from None
        audit.record(
            actor,
            "plugin.install",
            installation,
            {"plugin_id": plugin_id, "version": manifest.version},
            shop_id=shop.pk,
        )
    return installation


def plugin_configure(
    *, actor: Actor, shop: Shop, plugin_id: str, settings: Mapping[str, Any]
) -> PluginInstallation:
    """
    Change an installation's settings, validated against the plugin's model.

    Given fields replace the stored ones; omitted fields keep their values. A
    secret omitted or sent as :data:`SECRET_MASK` keeps its value, and null
    removes it. Raises :class:`ValidationFailed` with one error per field
    (``loc`` = ``["settings", name, ...]``).
    """
    actor.require(Perm.PLUGINS_MANAGE)
    with transaction.atomic():
        installation = _installation(shop, plugin_id, lock=True)
        model = usable_plugin_or_raise(plugin_id).manifest.settings_model
        if model is None:
            if settings:
                raise ValidationFailed(
                    errors=[
                        FieldError(("settings", name), "This plugin has no settings.", "unknown")
                        for name in sorted(settings)
                    ]
                )
            return installation
        unknown = sorted(set(settings) - set(model.model_fields))
        if unknown:
            raise ValidationFailed(
                errors=[
                    FieldError(("settings", name), "This plugin has no such setting.", "unknown")
                    for name in unknown
                ]
            )
        secret_names = secret_fields(model)
        old_plain = {
            k: v
            for k, v in installation.settings.items()
            if k in model.model_fields and k not in secret_names
        }
        try:
            old_secrets = {k: v for k, v in read_secrets(installation).items() if k in secret_names}
        except DecryptionFailed:
            # The key that encrypted them is gone: start from none, so the
            # form asks for each required secret again instead of failing forever.
            logger.error("plugin_secrets_unreadable", plugin=plugin_id, shop=shop.pk)
            old_secrets = {}
        merged: dict[str, Any] = {**old_plain, **old_secrets}
        for name, value in settings.items():
            if name in secret_names and value == SECRET_MASK:
                continue
            if name in secret_names and value is None:
                merged.pop(name, None)
                continue
            merged[name] = value
        new_plain, new_secrets = split_settings(validate_settings(model, merged), secret_names)
        changes = {
            name: {"from": old_plain.get(name), "to": new_plain.get(name)}
            for name in sorted(set(old_plain) | set(new_plain))
            if old_plain.get(name) != new_plain.get(name)
        }
        changed_secrets = sorted(
            name
            for name in set(old_secrets) | set(new_secrets)
            if old_secrets.get(name) != new_secrets.get(name)
        )
        if not changes and not changed_secrets:
            return installation  # nothing changed, nothing to audit
        installation.settings = new_plain
        installation.secrets = encode_secrets(new_secrets)
        installation.save(update_fields=["settings", "secrets", "updated_at"])
        audit.record(
            actor,
            "plugin.configure",
            installation,
            {"settings": changes, "encrypted_fields_changed": changed_secrets},
            shop_id=shop.pk,
        )
    return installation


def _set_status(
    actor: Actor, installation: PluginInstallation, status: InstallationStatus, action: str
) -> PluginInstallation:
    before = installation.status
    if before == status:
        return installation  # nothing changed, nothing to audit
    installation.status = status
    installation.save(update_fields=["status", "updated_at"])
    audit.record(
        actor,
        action,
        installation,
        {"status": {"from": before, "to": str(status)}},
        shop_id=installation.shop_id,
    )
    return installation


def plugin_enable(*, actor: Actor, shop: Shop, plugin_id: str) -> PluginInstallation:
    """Switch an installed plugin on; its settings must be complete and valid."""
    actor.require(Perm.PLUGINS_MANAGE)
    with transaction.atomic():
        installation = _installation(shop, plugin_id, lock=True)
        usable_plugin_or_raise(plugin_id)
        if not installation.is_enabled:
            try:
                plugin_settings(installation)
            except PluginNotConfigured as exc:
                raise PluginNotConfigured(
                    "Configure the plugin before enabling it; see errors.", errors=exc.errors
                ) from None
        return _set_status(actor, installation, InstallationStatus.ENABLED, "plugin.enable")


def plugin_disable(*, actor: Actor, shop: Shop, plugin_id: str) -> PluginInstallation:
    """Switch a plugin off in the shop; its settings and events are kept."""
    actor.require(Perm.PLUGINS_MANAGE)
    with transaction.atomic():
        installation = _installation(shop, plugin_id, lock=True)
        return _set_status(actor, installation, InstallationStatus.DISABLED, "plugin.disable")


def plugin_uninstall(*, actor: Actor, shop: Shop, plugin_id: str) -> None:
    """Remove a plugin from the shop, with its settings, secrets and webhook events."""
    actor.require(Perm.PLUGINS_MANAGE)
    with transaction.atomic():
        installation = _installation(shop, plugin_id, lock=True)
        audit.record(
            actor,
            "plugin.uninstall",
            installation,
            {"plugin_id": plugin_id, "status": installation.status},
            shop_id=shop.pk,
        )
        installation.delete()


# -- health and outcomes --------------------------------------------------------------


def installation_record_outcome(installation_id: int, *, error: str | None = None) -> None:
    """
    Count one call of the plugin for this installation (a webhook processed, a
    hook run): a success, or a failure described by ``error`` (no secrets).
    """
    rows = PluginInstallation.objects.filter(pk=installation_id)
    if error is None:
        rows.update(success_count=F("success_count") + 1)
    else:
        rows.update(
            error_count=F("error_count") + 1,
            last_error_at=timezone.now(),
            last_error=error[:ERROR_MAX_LENGTH],
        )


def installation_health(
    installation: PluginInstallation, *, run_check: bool = True
) -> PluginHealth:
    """
    Return the installation's health. With ``run_check``, the plugin's own
    ``health()`` runs too; its exception makes the answer unhealthy, nothing more.
    """
    ok, detail, checks = True, "", {}
    try:
        plugin = usable_plugin_or_raise(installation.plugin_id)
        settings = plugin_settings(installation)
    except MerchantryError as exc:
        ok, detail = False, exc.detail
    else:
        if run_check:
            try:
                report = plugin.health(installation=installation, settings=settings)
            except Exception as exc:  # a plugin's failure is its health, not ours
                logger.warning(
                    "plugin_health_check_failed",
                    plugin=installation.plugin_id,
                    installation=installation.pk,
                    error_type=type(exc).__name__,
                )
                ok, detail = False, f"The plugin's health check failed ({type(exc).__name__})."
            else:
                ok, detail = bool(report.ok), report.detail
                checks = {str(k): str(v) for k, v in report.checks.items()}
    counts = WebhookEvent.objects.filter(installation=installation).aggregate(
        pending=Count(
            "pk",
            filter=Q(status__in=[WebhookEventStatus.PENDING, WebhookEventStatus.PROCESSING]),
        ),
        failed=Count("pk", filter=Q(status=WebhookEventStatus.FAILED)),
    )
    return PluginHealth(
        ok=ok,
        detail=detail or ("Healthy." if ok else "Unhealthy."),
        status=installation.status,
        checks=checks,
        last_webhook_at=installation.last_webhook_at,
        last_error_at=installation.last_error_at,
        last_error=installation.last_error,
        error_count=installation.error_count,
        success_count=installation.success_count,
        error_rate=installation.error_rate,
        pending_events=counts["pending"],
        failed_events=counts["failed"],
    )


def plugin_health(*, actor: Actor, shop: Shop, plugin_id: str) -> PluginHealth:
    """Return the health of the shop's installation of ``plugin_id``."""
    actor.require(Perm.PLUGINS_MANAGE)
    return installation_health(_installation(shop, plugin_id))


# -- webhook events -------------------------------------------------------------------


def webhook_event_list(
    *, actor: Actor, shop: Shop, plugin_id: str, status: str | None = None
) -> QuerySet[WebhookEvent]:
    """Return the installation's webhook events, newest first."""
    actor.require(Perm.PLUGINS_MANAGE)
    installation = _installation(shop, plugin_id)
    events = WebhookEvent.objects.for_shop(shop).filter(installation=installation)
    return events.filter(status=status) if status else events


def webhook_event_replay(
    *, actor: Actor, shop: Shop, plugin_id: str, event_id: int
) -> WebhookEvent:
    """Process a stored event again from its first attempt (e.g. after a fix)."""
    actor.require(Perm.PLUGINS_MANAGE)
    with transaction.atomic():
        installation = _installation(shop, plugin_id)
        event = (
            WebhookEvent.objects.for_shop(shop)
            .select_for_update()
            .filter(installation=installation, pk=event_id)
            .first()
        )
        if event is None:
            raise NotFound("No such webhook event.")
        if not installation.is_enabled:
            raise Conflict("Enable the plugin before replaying its events.", code="plugin_disabled")
        if event.status == WebhookEventStatus.PROCESSING:
            raise Conflict(
                "This event is being processed; replay it once that has finished.",
                code="webhook_event_processing",
            )
        before = event.status
        event.status = WebhookEventStatus.PENDING
        event.attempts = 0
        event.next_attempt_at = timezone.now()
        event.processed_at = None
        event.last_error = ""
        event.save(
            update_fields=["status", "attempts", "next_attempt_at", "processed_at", "last_error"]
        )
        audit.record(
            actor,
            "plugin.webhook_replay",
            event,
            {"status": {"from": before, "to": event.status}, "plugin_id": plugin_id},
            shop_id=shop.pk,
        )
        tasks.process_webhook_event.enqueue_on_commit(event.pk)
    return event
