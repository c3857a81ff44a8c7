"""
The plugin admin screens: the current shop's installations only, a settings
form generated from the plugin's model with write-only secrets, lifecycle
actions through the services, and the webhook events with replay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import AuditEvent
from merchantry.plugins import services
from merchantry.plugins.models import InstallationStatus, PluginInstallation, WebhookEvent
from merchantry.tenancy.admin_scope import SESSION_KEY
from merchantry.testing import registered_plugin
from tests.factories import MembershipFactory, UserFactory, builtin_role
from tests.plugins.sample_plugins import (
    API_KEY,
    WEBHOOK_SECRET,
    SampleState,
    installed,
    reset_sample_state,
    sample_plugin,
)

pytestmark = pytest.mark.django_db

INSTALLATIONS = "admin:plugins_plugininstallation_changelist"
EVENTS = "admin:plugins_webhookevent_changelist"


@pytest.fixture(autouse=True)
def sample() -> Iterator[None]:
    reset_sample_state()
    with registered_plugin(sample_plugin()), registered_plugin(sample_plugin("other")):
        yield


def staff(shop, role: str = "owner") -> Client:
    user = UserFactory()
    MembershipFactory(user=user, shop=shop, role=builtin_role(role))
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = shop.pk
    session.save()
    return client


def change_url(installation: PluginInstallation) -> str:
    return reverse("admin:plugins_plugininstallation_change", args=[installation.pk])


def test_the_list_shows_the_current_shops_installations_only(shop, other_shop) -> None:
    installed(shop, "sample")
    installed(other_shop, "other")

    response = staff(shop).get(reverse(INSTALLATIONS))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Sample (sample)" in body
    assert "(other)" not in body


def test_another_shops_installation_is_not_found(shop, other_shop) -> None:
    theirs = installed(other_shop, "other")

    response = staff(shop).get(change_url(theirs), follow=True)

    assert response.redirect_chain == [(reverse("admin:index"), 302)]
    assert "doesn\N{RIGHT SINGLE QUOTATION MARK}t exist" in response.content.decode()


def test_staff_without_plugins_manage_cannot_open_the_screens(shop) -> None:
    client = staff(shop, "support")

    assert client.get(reverse(INSTALLATIONS)).status_code == 403
    assert client.get(reverse(EVENTS)).status_code == 403


def test_adding_installs_a_plugin_through_the_service(shop) -> None:
    installed(shop, "other", enabled=False, configure=False)
    client = staff(shop)

    form = client.get(reverse("admin:plugins_plugininstallation_add"))
    response = client.post(reverse("admin:plugins_plugininstallation_add"), {"plugin_id": "sample"})

    assert 'value="sample"' in form.content.decode()
    assert 'value="other"' not in form.content.decode()  # already installed
    assert response.status_code == 302
    installation = PluginInstallation.objects.get(shop=shop, plugin_id="sample")
    assert installation.status == InstallationStatus.INSTALLED
    assert AuditEvent.objects.filter(action="plugin.install", shop_id=shop.pk).count() == 2


def test_the_settings_form_never_renders_a_secret(shop) -> None:
    installation = installed(shop)

    response = staff(shop).get(change_url(installation))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'type="password"' in body
    assert "Set: leave blank to keep it." in body
    assert '<option value="live" selected>' in body
    assert "Credentials accepted." in body  # the plugin's own health check
    for secret in (API_KEY, WEBHOOK_SECRET):
        assert secret not in body


def test_a_new_installation_shows_its_secrets_as_not_set(shop) -> None:
    installation = installed(shop, enabled=False, configure=False)

    body = staff(shop).get(change_url(installation)).content.decode()

    assert body.count("Not set.") == 2


def test_saving_the_settings_form_validates_and_keeps_blank_secrets(shop) -> None:
    installation = installed(shop)
    client = staff(shop)
    before = PluginInstallation.objects.values().get()

    invalid = client.post(
        change_url(installation),
        {"api_key": "sk_Q9z", "webhook_secret": "", "mode": "test", "max_parcels": "2"},
    )
    after_invalid = PluginInstallation.objects.values().get()
    valid = client.post(
        change_url(installation),
        {
            "api_key": "sk_live_from-admin-0004",
            "webhook_secret": "",
            "mode": "test",
            "max_parcels": "4",
        },
    )

    assert invalid.status_code == 200
    assert 'id="id_api_key_error"' in invalid.content.decode()
    assert "at least 8" in invalid.content.decode()
    assert "sk_Q9z" not in invalid.content.decode()
    assert after_invalid == before
    assert valid.status_code == 302, valid.content.decode()[:2000]
    installation.refresh_from_db()
    assert before["secrets"] != installation.secrets
    settings = services.plugin_settings(installation)
    assert settings.api_key.get_secret_value() == "sk_live_from-admin-0004"
    assert settings.webhook_secret == WEBHOOK_SECRET  # left blank: kept
    assert (settings.mode, settings.max_parcels) == ("test", 4)
    event = AuditEvent.objects.filter(action="plugin.configure").order_by("-id").first()
    assert event.changes["encrypted_fields_changed"] == ["api_key"]


def test_enable_and_disable_actions_go_through_the_services(shop, other_shop) -> None:
    ours = installed(shop)
    theirs = installed(other_shop)
    client = staff(shop)

    response = client.post(
        reverse(INSTALLATIONS),
        {"action": "disable_plugins", "_selected_action": [ours.pk, theirs.pk]},
    )

    assert response.status_code == 302
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.status == InstallationStatus.DISABLED
    assert theirs.status == InstallationStatus.ENABLED
    assert AuditEvent.objects.filter(action="plugin.disable").count() == 1


def test_enabling_an_unconfigured_plugin_says_why(shop) -> None:
    installation = installed(shop, enabled=False, configure=False)

    response = staff(shop).post(
        reverse(INSTALLATIONS),
        {"action": "enable_plugins", "_selected_action": [installation.pk]},
        follow=True,
    )

    assert "Configure the plugin before enabling it" in response.content.decode()
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.INSTALLED


def test_deleting_uninstalls(shop) -> None:
    installation = installed(shop)

    response = staff(shop).post(
        reverse("admin:plugins_plugininstallation_delete", args=[installation.pk]),
        {"post": "yes"},
    )

    assert response.status_code == 302
    assert not PluginInstallation.objects.exists()
    assert AuditEvent.objects.filter(action="plugin.uninstall", shop_id=shop.pk).count() == 1


def _failed_event(installation: PluginInstallation, event_id: str = "evt_f") -> WebhookEvent:
    return WebhookEvent.objects.create(
        shop_id=installation.shop_id,
        installation=installation,
        plugin_id=installation.plugin_id,
        provider_event_id=event_id,
        event_type="payment.updated",
        body=json.dumps({"id": event_id, "status": "paid"}).encode(),
        payload={"id": event_id, "status": "paid"},
        status="failed",
        attempts=8,
        last_error="RuntimeError: provider answered 500",
    )


def test_failed_events_are_listed_with_their_error_and_can_be_replayed(
    shop, other_shop, django_capture_on_commit_callbacks
) -> None:
    ours = _failed_event(installed(shop))
    theirs = _failed_event(installed(other_shop), "evt_theirs")
    client = staff(shop)

    listing = client.get(reverse(EVENTS)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse(EVENTS), {"action": "replay_events", "_selected_action": [ours.pk, theirs.pk]}
        )

    assert "RuntimeError: provider answered 500" in listing
    assert "evt_theirs" not in listing
    assert response.status_code == 302
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.status, ours.attempts) == ("processed", 1)
    assert SampleState.processed == ["evt_f"]
    assert theirs.status == "failed"
    assert AuditEvent.objects.filter(action="plugin.webhook_replay").count() == 1


def test_an_event_page_shows_its_body_and_safe_headers(shop) -> None:
    event = _failed_event(installed(shop))
    WebhookEvent.objects.filter(pk=event.pk).update(headers={"x-sample-signature": "t=1,v1=ab"})

    response = staff(shop).get(reverse("admin:plugins_webhookevent_change", args=[event.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "x-sample-signature" in body
    assert "evt_f" in body
    services.plugin_uninstall(actor=SYSTEM_ACTOR, shop=shop, plugin_id="sample")
    assert not WebhookEvent.objects.exists()
