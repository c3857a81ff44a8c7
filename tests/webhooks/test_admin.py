"""The webhook screens of the admin: one shop at a time, writes through the services."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from merchantry.accounts.models import User
from merchantry.core.crypto import decrypt_text
from merchantry.core.models import AuditEvent
from merchantry.tenancy.admin_scope import SESSION_KEY
from merchantry.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.factories import MembershipFactory, UserFactory, builtin_role
from tests.webhooks.factories import make_endpoint, webhook_delivery

pytestmark = pytest.mark.django_db


def staff_client(shop, role: str = "owner") -> tuple[Client, User]:
    user = UserFactory()
    MembershipFactory(user=user, shop=shop, role=builtin_role(role))
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = shop.pk
    session.save()
    return client, user


def test_the_endpoint_list_shows_the_current_shop_only(shop, other_shop) -> None:
    make_endpoint(shop, url="https://acme-erp.example.com/hooks")
    make_endpoint(other_shop, url="https://globex-erp.example.com/hooks")
    client, _ = staff_client(shop)

    response = client.get(reverse("admin:webhooks_webhookendpoint_changelist"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "acme-erp.example.com" in body
    assert "globex-erp.example.com" not in body


def test_creating_an_endpoint_shows_its_secret_once(shop) -> None:
    client, user = staff_client(shop)

    response = client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        {
            "url": "https://erp.example.com/hooks",
            "description": "ERP",
            "event_types": "order.*\nchannel.created\n",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get()
    secret = decrypt_text(endpoint.secret_encrypted)
    assert secret in response.content.decode()
    assert endpoint.shop_id == shop.pk
    assert endpoint.event_types == ["channel.created", "order.*"]
    assert AuditEvent.objects.get(action="webhook_endpoint.create").actor == f"user:{user.pk}"
    page = client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
    assert secret not in page.content.decode()
    assert f"whsec_…{secret[-4:]}" in page.content.decode()


def test_a_refused_url_shows_on_the_form_and_saves_nothing(shop) -> None:
    client, _ = staff_client(shop)

    response = client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        {"url": "https://169.254.169.254/latest", "event_types": "*", "is_active": "on"},
    )

    assert response.status_code == 200
    assert "not private or local addresses" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_another_shops_endpoint_cannot_be_changed(shop, other_shop) -> None:
    theirs = make_endpoint(other_shop, url="https://globex.example.com/hooks").endpoint
    client, _ = staff_client(shop)

    response = client.post(
        reverse("admin:webhooks_webhookendpoint_change", args=[theirs.pk]),
        {"url": "https://attacker.example.com/", "event_types": "*", "is_active": "on"},
    )

    assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.url == "https://globex.example.com/hooks"


def test_rotating_from_the_admin_shows_the_new_secret_once(shop) -> None:
    created = make_endpoint(shop)
    client, _ = staff_client(shop)

    response = client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "rotate_secret", "_selected_action": [created.endpoint.pk]},
    )

    assert response.status_code == 200
    new_secret = decrypt_text(WebhookEndpoint.objects.get().secret_encrypted)
    assert new_secret != created.secret
    assert new_secret in response.content.decode()


def test_failed_deliveries_are_replayed_from_the_admin(shop, other_shop) -> None:
    ours = webhook_delivery(shop)
    theirs = webhook_delivery(other_shop)
    client, _ = staff_client(shop)

    listed = client.get(reverse("admin:webhooks_webhookdelivery_changelist"))
    response = client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "replay", "_selected_action": [ours.pk, theirs.pk]},
    )

    assert listed.status_code == 200
    assert response.status_code == 302
    replay = WebhookDelivery.objects.get(endpoint=ours.endpoint, attempt=2)
    assert replay.is_replay is True
    assert replay.status == DeliveryStatus.PENDING
    assert not WebhookDelivery.objects.filter(endpoint=theirs.endpoint, attempt=2).exists()


def test_staff_without_plugins_manage_do_not_see_the_screens(shop) -> None:
    make_endpoint(shop)
    client, _ = staff_client(shop, role="support")

    endpoints = client.get(reverse("admin:webhooks_webhookendpoint_changelist"))
    deliveries = client.get(reverse("admin:webhooks_webhookdelivery_changelist"))

    assert endpoints.status_code == deliveries.status_code == 403
