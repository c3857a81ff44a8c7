"""
Per-shop plugin lifecycle through the services: install, configure, enable,
disable, uninstall; settings validation; permissions; audit; health.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from merchantry.core.actors import Actor
from merchantry.core.errors import NotFound, PermissionDenied, ValidationFailed
from merchantry.core.models import AuditEvent
from merchantry.plugins import services
from merchantry.plugins.models import InstallationStatus, PluginInstallation, WebhookEvent
from merchantry.plugins.services import (
    PluginAlreadyInstalled,
    PluginNotConfigured,
    PluginUnavailable,
)
from merchantry.testing import registered_plugin
from tests.plugins.sample_plugins import (
    API_KEY,
    VALID_SETTINGS,
    WEBHOOK_SECRET,
    SampleSettings,
    SampleState,
    installed,
    reset_sample_state,
    sample_plugin,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sample() -> Iterator[None]:
    reset_sample_state()
    with registered_plugin(sample_plugin()):
        yield
    reset_sample_state()


def manager(shop, *extra: str) -> Actor:
    """A staff member of ``shop`` who manages plugins (and may view orders)."""
    return Actor(
        kind="user",
        key="user:7",
        label="Ann",
        shop_id=shop.pk,
        permissions=frozenset({"plugins.manage", "orders.view", *extra}),
    )


def actions(shop) -> list[str]:
    return list(
        AuditEvent.objects.for_shop(shop.pk).order_by("id").values_list("action", flat=True)
    )


# -- install ----------------------------------------------------------------------------


def test_install_creates_an_installation_that_is_not_yet_enabled(shop) -> None:
    installation = services.plugin_install(actor=manager(shop), shop=shop, plugin_id="sample")

    assert installation.status == InstallationStatus.INSTALLED
    assert installation.settings == {}
    assert installation.secrets == ""
    assert len(installation.webhook_token) == 43
    assert PluginInstallation.objects.enabled_plugin_ids(shop.pk) == set()
    event = AuditEvent.objects.get(action="plugin.install")
    assert (event.shop_id, event.actor, event.changes) == (
        shop.pk,
        "user:7",
        {"plugin_id": "sample", "version": "1.2.0"},
    )


def test_installing_twice_is_a_conflict(shop) -> None:
    first = services.plugin_install(actor=manager(shop), shop=shop, plugin_id="sample")

    with pytest.raises(PluginAlreadyInstalled) as raised:
        services.plugin_install(actor=manager(shop), shop=shop, plugin_id="sample")

    assert raised.value.status == 409
    assert list(PluginInstallation.objects.values_list("pk", flat=True)) == [first.pk]
    assert actions(shop) == ["plugin.install"]


@pytest.mark.parametrize(
    ("requires_core", "status", "reason"),
    [
        ("<0.0.1", "incompatible", "needs Merchantry <0.0.1"),
        ("not a version", "broken", "is not a version specifier"),
    ],
)
def test_a_plugin_the_platform_refused_cannot_be_installed(
    shop, requires_core, status, reason
) -> None:
    # given a plugin refused at discovery
    with registered_plugin(sample_plugin("ancient", requires_core=requires_core), must_load=False):
        listed = {v.id: v for v in services.plugin_catalog(actor=manager(shop), shop=shop)}

        # when it is installed
        with pytest.raises(PluginUnavailable) as raised:
            services.plugin_install(actor=manager(shop), shop=shop, plugin_id="ancient")

    # then: 409 with the registry's reason, and nothing installed
    assert listed["ancient"].availability == status
    assert reason in listed["ancient"].reason
    assert raised.value.status == 409
    assert raised.value.code == "plugin_unavailable"
    assert reason in raised.value.detail
    assert not PluginInstallation.objects.exists()
    assert actions(shop) == []


@pytest.mark.parametrize("plugin_id", ["nope", "", "Sample", "x" * 300, "../sample"])
def test_an_unknown_plugin_is_not_found(shop, plugin_id) -> None:
    with pytest.raises(NotFound):
        services.plugin_install(actor=manager(shop), shop=shop, plugin_id=plugin_id)

    assert not PluginInstallation.objects.exists()


def test_nobody_installs_a_plugin_needing_permissions_they_lack(shop) -> None:
    actor = Actor(
        kind="user", key="user:8", shop_id=shop.pk, permissions=frozenset({"plugins.manage"})
    )

    with pytest.raises(PermissionDenied) as raised:
        services.plugin_install(actor=actor, shop=shop, plugin_id="sample")

    assert "orders.view" in raised.value.detail
    assert not PluginInstallation.objects.exists()


def test_every_operation_needs_plugins_manage(shop) -> None:
    installed(shop)
    before = list(PluginInstallation.objects.values())
    clerk = Actor(
        kind="user", key="user:9", shop_id=shop.pk, permissions=frozenset({"orders.view"})
    )
    calls = [
        lambda: services.plugin_catalog(actor=clerk, shop=shop),
        lambda: services.plugin_detail(actor=clerk, shop=shop, plugin_id="sample"),
        lambda: services.plugin_install(actor=clerk, shop=shop, plugin_id="sample"),
        lambda: services.plugin_configure(
            actor=clerk, shop=shop, plugin_id="sample", settings={"mode": "test"}
        ),
        lambda: services.plugin_enable(actor=clerk, shop=shop, plugin_id="sample"),
        lambda: services.plugin_disable(actor=clerk, shop=shop, plugin_id="sample"),
        lambda: services.plugin_uninstall(actor=clerk, shop=shop, plugin_id="sample"),
        lambda: services.plugin_health(actor=clerk, shop=shop, plugin_id="sample"),
        lambda: services.webhook_event_list(actor=clerk, shop=shop, plugin_id="sample"),
    ]

    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert list(PluginInstallation.objects.values()) == before


# -- configure --------------------------------------------------------------------------


def test_settings_are_validated_with_one_error_per_field(shop) -> None:
    services.plugin_install(actor=manager(shop), shop=shop, plugin_id="sample")
    before = PluginInstallation.objects.values().get()

    with pytest.raises(ValidationFailed) as raised:
        services.plugin_configure(
            actor=manager(shop),
            shop=shop,
            plugin_id="sample",
            settings={"api_key": "sk_Q9z", "mode": "staging", "max_parcels": 99},
        )

    errors = {(e.loc, e.code) for e in raised.value.errors}
    assert errors == {
        (("settings", "api_key"), "too_short"),
        (("settings", "webhook_secret"), "missing"),
        (("settings", "mode"), "literal_error"),
        (("settings", "max_parcels"), "less_than_equal"),
    }
    assert raised.value.status == 422
    assert "sk_Q9z" not in json.dumps([e.as_dict() for e in raised.value.errors])
    assert PluginInstallation.objects.values().get() == before
    assert actions(shop) == ["plugin.install"]


def test_an_unknown_setting_is_refused_by_name(shop) -> None:
    services.plugin_install(actor=manager(shop), shop=shop, plugin_id="sample")

    with pytest.raises(ValidationFailed) as raised:
        services.plugin_configure(
            actor=manager(shop),
            shop=shop,
            plugin_id="sample",
            settings={**VALID_SETTINGS, "colour": "red"},
        )

    assert [(e.loc, e.code) for e in raised.value.errors] == [(("settings", "colour"), "unknown")]
    assert PluginInstallation.objects.get().settings == {}


def test_valid_settings_store_plain_values_and_return_decrypted_secrets(shop) -> None:
    services.plugin_install(actor=manager(shop), shop=shop, plugin_id="sample")

    installation = services.plugin_configure(
        actor=manager(shop), shop=shop, plugin_id="sample", settings=VALID_SETTINGS
    )

    installation.refresh_from_db()
    assert installation.settings == {"mode": "live", "max_parcels": 2}
    settings = services.plugin_settings(installation)
    assert isinstance(settings, SampleSettings)
    assert settings.api_key.get_secret_value() == API_KEY
    assert settings.webhook_secret == WEBHOOK_SECRET
    assert settings.mode == "live"


@pytest.mark.parametrize("keep", [{}, {"api_key": "********", "webhook_secret": "********"}])
def test_a_secret_omitted_or_sent_masked_keeps_its_value(shop, keep) -> None:
    installed(shop)
    events_before = AuditEvent.objects.count()

    installation = services.plugin_configure(
        actor=manager(shop), shop=shop, plugin_id="sample", settings={"mode": "test", **keep}
    )

    settings = services.plugin_settings(installation)
    assert settings.api_key.get_secret_value() == API_KEY
    assert settings.webhook_secret == WEBHOOK_SECRET
    assert settings.mode == "test"
    assert settings.max_parcels == 2  # omitted plain settings keep their value too
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == events_before + 1
    assert event.changes == {
        "settings": {"mode": {"from": "live", "to": "test"}},
        "encrypted_fields_changed": [],
    }


def test_a_new_secret_is_audited_by_name_only(shop) -> None:
    installed(shop)

    services.plugin_configure(
        actor=manager(shop),
        shop=shop,
        plugin_id="sample",
        settings={"api_key": "sk_live_rotated-key-0002"},
    )

    event = AuditEvent.objects.filter(action="plugin.configure").order_by("-id").first()
    assert event.changes == {"settings": {}, "encrypted_fields_changed": ["api_key"]}
    every_change = json.dumps(list(AuditEvent.objects.values_list("changes", flat=True)))
    for secret in (API_KEY, WEBHOOK_SECRET, "sk_live_rotated-key-0002"):
        assert secret not in every_change


def test_nulling_a_required_secret_is_a_validation_error(shop) -> None:
    installed(shop)
    before = PluginInstallation.objects.values().get()

    with pytest.raises(ValidationFailed) as raised:
        services.plugin_configure(
            actor=manager(shop), shop=shop, plugin_id="sample", settings={"api_key": None}
        )

    assert [(e.loc, e.code) for e in raised.value.errors] == [(("settings", "api_key"), "missing")]
    assert PluginInstallation.objects.values().get() == before


def test_saving_the_same_settings_changes_and_audits_nothing(shop) -> None:
    installation = installed(shop)
    before = (PluginInstallation.objects.values().get(), AuditEvent.objects.count())

    services.plugin_configure(
        actor=manager(shop), shop=shop, plugin_id="sample", settings=VALID_SETTINGS
    )

    assert (PluginInstallation.objects.values().get(), AuditEvent.objects.count()) == before
    assert installation.pk == before[0]["id"]


# -- enable, disable, uninstall ------------------------------------------------------------


def test_a_plugin_cannot_be_enabled_before_its_required_settings_are_set(shop) -> None:
    services.plugin_install(actor=manager(shop), shop=shop, plugin_id="sample")

    with pytest.raises(PluginNotConfigured) as raised:
        services.plugin_enable(actor=manager(shop), shop=shop, plugin_id="sample")

    assert raised.value.status == 409
    assert {e.loc for e in raised.value.errors} == {
        ("settings", "api_key"),
        ("settings", "webhook_secret"),
    }
    assert PluginInstallation.objects.get().status == InstallationStatus.INSTALLED
    assert PluginInstallation.objects.enabled_plugin_ids(shop.pk) == set()


def test_the_lifecycle_is_audited_step_by_step(shop) -> None:
    actor = manager(shop)

    services.plugin_install(actor=actor, shop=shop, plugin_id="sample")
    services.plugin_configure(actor=actor, shop=shop, plugin_id="sample", settings=VALID_SETTINGS)
    services.plugin_enable(actor=actor, shop=shop, plugin_id="sample")
    services.plugin_enable(actor=actor, shop=shop, plugin_id="sample")  # already: no event
    services.plugin_disable(actor=actor, shop=shop, plugin_id="sample")
    services.plugin_uninstall(actor=actor, shop=shop, plugin_id="sample")

    assert actions(shop) == [
        "plugin.install",
        "plugin.configure",
        "plugin.enable",
        "plugin.disable",
        "plugin.uninstall",
    ]
    configure = AuditEvent.objects.get(action="plugin.configure")
    assert configure.changes == {
        "settings": {
            "max_parcels": {"from": None, "to": 2},
            "mode": {"from": None, "to": "live"},
        },
        "encrypted_fields_changed": ["api_key", "webhook_secret"],
    }
    assert AuditEvent.objects.get(action="plugin.disable").changes == {
        "status": {"from": "enabled", "to": "disabled"}
    }
    assert not PluginInstallation.objects.exists()


def test_enabled_plugin_ids_lists_the_shops_enabled_plugins_only(shop, other_shop) -> None:
    with registered_plugin(sample_plugin("other")):
        installed(shop, "sample")
        installed(shop, "other", enabled=False)
        installed(other_shop, "other")

        assert PluginInstallation.objects.enabled_plugin_ids(shop.pk) == {"sample"}
        assert PluginInstallation.objects.enabled_plugin_ids(other_shop.pk) == {"other"}
        services.plugin_disable(actor=manager(shop), shop=shop, plugin_id="sample")
        assert PluginInstallation.objects.enabled_plugin_ids(shop.pk) == set()


def test_uninstall_deletes_the_settings_secrets_and_events(shop) -> None:
    installation = installed(shop)
    WebhookEvent.objects.create(
        shop=shop, installation=installation, plugin_id="sample", provider_event_id="e1", body=b"{}"
    )

    services.plugin_uninstall(actor=manager(shop), shop=shop, plugin_id="sample")

    assert not PluginInstallation.objects.exists()
    assert not WebhookEvent.objects.exists()
    assert AuditEvent.objects.get(action="plugin.uninstall").changes == {
        "plugin_id": "sample",
        "status": "enabled",
    }


def test_another_shops_installation_is_not_found(shop, other_shop) -> None:
    installed(other_shop)
    before = PluginInstallation.objects.values().get()
    actor = manager(shop)
    calls = [
        lambda: services.plugin_detail(actor=actor, shop=shop, plugin_id="sample"),
        lambda: services.plugin_configure(
            actor=actor, shop=shop, plugin_id="sample", settings={"mode": "test"}
        ),
        lambda: services.plugin_enable(actor=actor, shop=shop, plugin_id="sample"),
        lambda: services.plugin_disable(actor=actor, shop=shop, plugin_id="sample"),
        lambda: services.plugin_uninstall(actor=actor, shop=shop, plugin_id="sample"),
        lambda: services.plugin_health(actor=actor, shop=shop, plugin_id="sample"),
    ]

    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert PluginInstallation.objects.values().get() == before


# -- health -----------------------------------------------------------------------------


def test_health_combines_the_plugins_check_with_counted_outcomes(shop) -> None:
    installation = installed(shop)
    services.installation_record_outcome(installation.pk)
    services.installation_record_outcome(installation.pk)
    services.installation_record_outcome(installation.pk)
    services.installation_record_outcome(installation.pk, error="TimeoutError: read timed out")
    WebhookEvent.objects.create(
        shop=shop,
        installation=installation,
        plugin_id="sample",
        provider_event_id="e1",
        body=b"{}",
        status="failed",
    )

    health = services.plugin_health(actor=manager(shop), shop=shop, plugin_id="sample")

    assert health.ok is True
    assert health.detail == "Credentials accepted."
    assert health.checks == {"api": "ok"}
    assert (health.success_count, health.error_count, health.error_rate) == (3, 1, 0.25)
    assert health.last_error == "TimeoutError: read timed out"
    assert (health.failed_events, health.pending_events) == (1, 0)


def test_a_crashing_health_check_is_unhealthy_and_says_no_secret(shop) -> None:
    installed(shop)
    SampleState.health_raises = True

    health = services.plugin_health(actor=manager(shop), shop=shop, plugin_id="sample")

    assert health.ok is False
    assert health.detail == "The plugin's health check failed (ConnectionError)."
    assert API_KEY not in repr(health)


def test_a_plugin_gone_from_the_server_is_unhealthy_but_can_be_uninstalled(shop) -> None:
    with registered_plugin(sample_plugin("fleeting")):
        installed(shop, "fleeting")

    health = services.plugin_health(actor=manager(shop), shop=shop, plugin_id="fleeting")
    listed = {v.id: v for v in services.plugin_catalog(actor=manager(shop), shop=shop)}
    with pytest.raises(PluginUnavailable):
        services.plugin_configure(
            actor=manager(shop), shop=shop, plugin_id="fleeting", settings={"mode": "test"}
        )
    services.plugin_uninstall(actor=manager(shop), shop=shop, plugin_id="fleeting")

    assert health.ok is False
    assert health.detail == "This plugin is not available on this server."
    assert listed["fleeting"].availability == "missing"
    assert not PluginInstallation.objects.filter(plugin_id="fleeting").exists()
