"""The plugins Admin API: catalog, lifecycle, settings with masked secrets, health, events."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client

from merchantry.core.models import AuditEvent
from merchantry.plugins.models import InstallationStatus, PluginInstallation, WebhookEvent
from merchantry.plugins.services import plugin_settings
from merchantry.testing import registered_plugin
from tests.factories import secret_key
from tests.plugins.sample_plugins import (
    API_KEY,
    VALID_SETTINGS,
    WEBHOOK_SECRET,
    installed,
    reset_sample_state,
    sample_plugin,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/admin/plugins"
PROBLEM = "application/problem+json"
SECRETS = (API_KEY, WEBHOOK_SECRET)
LIFECYCLE = ["plugin.install", "plugin.configure", "plugin.enable", "plugin.disable"]
LIFECYCLE += ["plugin.uninstall"]


@pytest.fixture(autouse=True)
def sample() -> Iterator[None]:
    reset_sample_state()
    with registered_plugin(sample_plugin()):
        yield


def patch(client: Client, path: str, body) -> object:
    return client.patch(path, json.dumps(body), content_type="application/json")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    return body


def test_the_catalog_lists_server_plugins_and_this_shops_installations(
    admin_client, shop, other_shop
) -> None:
    installed(other_shop)
    with registered_plugin(sample_plugin("ancient", requires_core="<0.0.1"), must_load=False):
        response = admin_client.get(BASE)

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    plugins = {item["id"]: item for item in body["items"]}
    assert plugins["sample"] == {
        "id": "sample",
        "name": "Sample",
        "version": "1.2.0",
        "description": "A plugin for tests.",
        "availability": "ok",
        "reason": "",
        "providers": [],
        "handles_webhooks": True,
        "installation": None,  # installed in the other shop only
    }
    assert plugins["ancient"]["availability"] == "incompatible"
    assert "needs Merchantry <0.0.1" in plugins["ancient"]["reason"]


def test_the_lifecycle_over_the_api_never_shows_a_secret(admin_client, shop) -> None:
    responses = []

    # install
    created = admin_client.post(f"{BASE}/sample/install")
    responses.append(created)
    assert created.status_code == 201
    assert created.json()["installation"]["status"] == "installed"
    assert created.json()["installation"]["configured"] is False
    assert created.json()["settings"] == {  # nothing set yet: the defaults
        "api_key": None,
        "webhook_secret": None,
        "mode": "test",
        "max_parcels": 3,
    }
    assert created.json()["secrets"] == {"api_key": False, "webhook_secret": False}

    # enabling before configuring is refused, with what is missing
    early = admin_client.post(f"{BASE}/sample/enable")
    body = problem(early, 409, "plugin_not_configured")
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("settings", "api_key"),
        ("settings", "webhook_secret"),
    }

    # configure
    configured = patch(admin_client, f"{BASE}/sample/settings", {"settings": VALID_SETTINGS})
    responses.append(configured)
    assert configured.status_code == 200
    assert configured.json()["settings"] == {
        "api_key": "********",
        "webhook_secret": "********",
        "mode": "live",
        "max_parcels": 2,
    }
    assert configured.json()["secrets"] == {"api_key": True, "webhook_secret": True}

    # enable, read, health, disable
    enabled = admin_client.post(f"{BASE}/sample/enable")
    responses += [enabled, admin_client.get(f"{BASE}/sample"), admin_client.get(BASE)]
    responses.append(admin_client.get(f"{BASE}/sample/health"))
    disabled = admin_client.post(f"{BASE}/sample/disable")
    responses.append(disabled)
    assert enabled.json()["installation"]["status"] == "enabled"
    assert disabled.json()["installation"]["status"] == "disabled"

    # uninstall
    removed = admin_client.delete(f"{BASE}/sample")
    assert removed.status_code == 204
    problem(admin_client.get(f"{BASE}/sample"), 404, "not_found")

    for response in responses:
        assert response.status_code in (200, 201), response.content
        for secret in SECRETS:
            assert secret not in response.content.decode()
    assert list(
        AuditEvent.objects.for_shop(shop.pk)
        .filter(action__startswith="plugin.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "plugin.install",
        "plugin.configure",
        "plugin.enable",
        "plugin.disable",
        "plugin.uninstall",
    ]


def test_the_detail_has_the_webhook_url_and_a_write_only_schema(admin_client, shop) -> None:
    installation = installed(shop)

    body = admin_client.get(f"{BASE}/sample").json()

    assert body["installation"]["webhook_url"] == (
        f"http://testserver/webhooks/sample/{installation.webhook_token}/"
    )
    assert body["installation"]["configured"] is True
    properties = body["settings_schema"]["properties"]
    assert properties["api_key"]["writeOnly"] is True
    assert properties["webhook_secret"]["writeOnly"] is True
    assert "writeOnly" not in properties["mode"]
    assert sorted(body["settings_schema"]["required"]) == ["api_key", "webhook_secret"]


def test_invalid_settings_are_422_with_field_errors_and_change_nothing(admin_client, shop) -> None:
    installed(shop)
    before = PluginInstallation.objects.values().get()

    response = patch(
        admin_client,
        f"{BASE}/sample/settings",
        {"settings": {"api_key": "sk_Q9z", "max_parcels": "many", "colour": "red"}},
    )

    body = problem(response, 422, "validation_error")
    assert sorted((tuple(e["loc"]), e["code"]) for e in body["errors"]) == [
        (("settings", "colour"), "unknown")
    ]
    response = patch(
        admin_client,
        f"{BASE}/sample/settings",
        {"settings": {"api_key": "sk_Q9z", "max_parcels": "many"}},
    )
    body = problem(response, 422, "validation_error")
    assert sorted((tuple(e["loc"]), e["code"]) for e in body["errors"]) == [
        (("settings", "api_key"), "too_short"),
        (("settings", "max_parcels"), "int_parsing"),
    ]
    assert "sk_Q9z" not in response.content.decode()
    assert PluginInstallation.objects.values().get() == before


def test_the_mask_sent_back_keeps_the_secrets(admin_client, shop) -> None:
    installation = installed(shop)
    current = admin_client.get(f"{BASE}/sample").json()["settings"]

    response = patch(
        admin_client, f"{BASE}/sample/settings", {"settings": {**current, "max_parcels": 5}}
    )

    assert response.status_code == 200
    installation.refresh_from_db()
    settings = plugin_settings(installation)
    assert settings.api_key.get_secret_value() == API_KEY
    assert settings.max_parcels == 5


def test_installing_twice_or_a_refused_plugin_is_409(admin_client, shop) -> None:
    installed(shop)

    again = admin_client.post(f"{BASE}/sample/install")
    with registered_plugin(sample_plugin("ancient", requires_core="<0.0.1"), must_load=False):
        refused = admin_client.post(f"{BASE}/ancient/install")

    problem(again, 409, "plugin_already_installed")
    body = problem(refused, 409, "plugin_unavailable")
    assert "needs Merchantry <0.0.1" in body["detail"]
    assert list(PluginInstallation.objects.values_list("plugin_id", flat=True)) == ["sample"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sample"),
        ("PATCH", "/sample/settings"),
        ("POST", "/sample/enable"),
        ("POST", "/sample/disable"),
        ("DELETE", "/sample"),
        ("GET", "/sample/health"),
        ("GET", "/sample/webhook-events"),
        ("POST", "/sample/webhook-events/1/replay"),
        ("POST", "/nope/install"),
        ("GET", "/" + "x" * 500),
    ],
)
def test_a_plugin_not_installed_here_is_404(admin_client, other_shop, method, path) -> None:
    installed(other_shop)
    before = list(PluginInstallation.objects.values())

    response = admin_client.generic(
        method,
        BASE + path,
        json.dumps({"settings": {"mode": "test"}}),
        content_type="application/json",
    )

    problem(response, 404, "not_found")
    assert list(PluginInstallation.objects.values()) == before


def _event(installation, number: int, status: str = "processed") -> WebhookEvent:
    return WebhookEvent.objects.create(
        shop_id=installation.shop_id,
        installation=installation,
        plugin_id=installation.plugin_id,
        provider_event_id=f"evt_{number}",
        event_type="payment.updated",
        body=b"{}",
        status=status,
    )


def test_webhook_events_are_paginated_newest_first_and_filtered(admin_client, shop) -> None:
    installation = installed(shop)
    events = [_event(installation, n, "failed" if n == 2 else "processed") for n in range(1, 4)]

    first = admin_client.get(f"{BASE}/sample/webhook-events", {"limit": 2}).json()
    second = admin_client.get(
        f"{BASE}/sample/webhook-events", {"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    failed = admin_client.get(f"{BASE}/sample/webhook-events", {"status": "failed"}).json()
    bad = admin_client.get(f"{BASE}/sample/webhook-events", {"status": "exploded"})

    assert [e["provider_event_id"] for e in first["items"]] == ["evt_3", "evt_2"]
    assert [e["provider_event_id"] for e in second["items"]] == ["evt_1"]
    assert second["next_cursor"] is None
    assert [e["id"] for e in failed["items"]] == [str(events[1].pk)]
    assert failed["items"][0]["next_attempt_at"] is None
    assert bad.status_code == 422


def test_another_shops_event_cannot_be_replayed_through_our_installation(
    admin_client, shop, other_shop
) -> None:
    ours = installed(shop)
    theirs = installed(other_shop)
    their_event = _event(theirs, 1, "failed")
    _event(ours, 2, "failed")

    response = admin_client.post(f"{BASE}/sample/webhook-events/{their_event.pk}/replay")

    problem(response, 404, "not_found")
    their_event.refresh_from_db()
    assert (their_event.status, their_event.attempts) == ("failed", 0)
    assert not AuditEvent.objects.filter(action="plugin.webhook_replay").exists()


def test_an_event_being_processed_cannot_be_replayed(admin_client, shop) -> None:
    event = _event(installed(shop), 1, "processing")

    response = admin_client.post(f"{BASE}/sample/webhook-events/{event.pk}/replay")

    problem(response, 409, "webhook_event_processing")
    event.refresh_from_db()
    assert event.status == "processing"


def test_health_over_the_api(admin_client, shop) -> None:
    installed(shop)

    body = admin_client.get(f"{BASE}/sample/health").json()

    assert body == {
        "ok": True,
        "detail": "Credentials accepted.",
        "status": InstallationStatus.ENABLED,
        "checks": {"api": "ok"},
        "last_webhook_at": None,
        "last_error_at": None,
        "last_error": "",
        "error_count": 0,
        "success_count": 0,
        "error_rate": None,
        "pending_events": 0,
        "failed_events": 0,
    }


def test_a_key_without_plugins_manage_is_refused(shop) -> None:
    client = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['orders.manage'])}"}
    )

    responses = [client.get(BASE), client.post(f"{BASE}/sample/install")]

    for response in responses:
        problem(response, 403, "permission_denied")
    assert not PluginInstallation.objects.exists()


def test_events_of_a_disabled_plugin_cannot_be_replayed(admin_client, shop) -> None:
    event = _event(installed(shop), 1, "failed")
    admin_client.post(f"{BASE}/sample/disable")

    response = admin_client.post(f"{BASE}/sample/webhook-events/{event.pk}/replay")

    problem(response, 409, "plugin_disabled")
    event.refresh_from_db()
    assert event.status == "failed"
