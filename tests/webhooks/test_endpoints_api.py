"""
The Admin API for webhook endpoints: the secret is shown once and stored
encrypted, URLs and subscriptions are validated (422, nothing saved), and
only holders of ``plugins.manage`` may see or change endpoints.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from merchantry.core.crypto import decrypt_text
from merchantry.core.models import AuditEvent
from merchantry.webhooks.models import WebhookDelivery, WebhookEndpoint
from merchantry.webhooks.services import MAX_ENDPOINTS_PER_SHOP
from tests.factories import MembershipFactory, builtin_role
from tests.webhooks.factories import make_endpoint, webhook_delivery

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/admin/webhooks/endpoints"
PROBLEM = "application/problem+json"
VALID = {
    "url": "https://erp.example.com/merchantry/events",
    "event_types": ["order.*", "channel.created"],
    "description": "ERP",
}


def _post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


def _patch(client: Client, path: str, body: Any) -> Any:
    return client.patch(path, json.dumps(body), content_type="application/json")


def _raw_row(endpoint_id: int) -> dict[str, Any]:
    """The endpoint's row exactly as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM webhooks_webhookendpoint WHERE id = %s", [endpoint_id])
        columns = [column[0] for column in cursor.description]
        return dict(zip(columns, cursor.fetchone(), strict=True))


# -- the secret -----------------------------------------------------------------------


def test_the_secret_is_shown_once_and_stored_encrypted(shop, admin_client) -> None:
    # when an endpoint is created
    response = _post(admin_client, ENDPOINTS, VALID)

    # then the answer carries the secret, this once
    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert created["secret_hint"] == secret[-4:]
    assert created["url"] == VALID["url"]
    assert created["event_types"] == ["channel.created", "order.*"]
    assert created["is_active"] is True

    # and no later answer contains it
    one = admin_client.get(f"{ENDPOINTS}/{created['id']}")
    listed = admin_client.get(ENDPOINTS)
    changed = _patch(admin_client, f"{ENDPOINTS}/{created['id']}", {"description": "x"})
    for later in (one, listed, changed):
        assert later.status_code == 200
        assert secret not in later.content.decode()
        assert "whsec_" not in later.content.decode()
    assert "secret" not in one.json()

    # and the database holds it encrypted only
    row = _raw_row(int(created["id"]))
    assert all(secret not in str(value) for value in row.values())
    assert decrypt_text(row["secret_encrypted"]) == secret

    # and the audit trail does not hold it either
    event = AuditEvent.objects.get(action="webhook_endpoint.create")
    assert event.changes == {
        "url": "https://erp.example.com/merchantry/events",
        "event_types": ["channel.created", "order.*"],
    }
    assert secret not in str(event.changes)


def test_rotating_returns_a_new_secret_once(shop, admin_client) -> None:
    created = make_endpoint(shop)
    path = f"{ENDPOINTS}/{created.endpoint.pk}/rotate-secret"

    immediate = _post(admin_client, path, {})
    overlapping = _post(admin_client, path, {"previous_secret_valid_hours": 24})

    assert immediate.status_code == overlapping.status_code == 200
    first, second = immediate.json()["secret"], overlapping.json()["secret"]
    assert len({created.secret, first, second}) == 3
    assert immediate.json()["previous_secret_expires_at"] is None
    assert overlapping.json()["previous_secret_expires_at"] is not None
    endpoint = WebhookEndpoint.objects.get()
    assert decrypt_text(endpoint.secret_encrypted) == second
    assert decrypt_text(endpoint.previous_secret_encrypted) == first
    assert second not in admin_client.get(f"{ENDPOINTS}/{endpoint.pk}").content.decode()
    assert AuditEvent.objects.filter(action="webhook_endpoint.rotate_secret").count() == 2


# -- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "change", "loc"),
    [
        ("plain http", {"url": "http://erp.example.com/hooks"}, ["url"]),
        ("loopback", {"url": "https://127.0.0.1/hooks"}, ["url"]),
        ("loopback, short form", {"url": "https://127.1/hooks"}, ["url"]),
        ("loopback as a number", {"url": "https://2130706433/hooks"}, ["url"]),
        ("private network", {"url": "https://10.0.0.8/hooks"}, ["url"]),
        ("cloud metadata", {"url": "https://169.254.169.254/latest"}, ["url"]),
        ("IPv6 loopback", {"url": "https://[::1]/hooks"}, ["url"]),
        ("localhost", {"url": "https://localhost/hooks"}, ["url"]),
        ("a .internal name", {"url": "https://erp.internal/hooks"}, ["url"]),
        ("credentials", {"url": "https://user:pw@erp.example.com/"}, ["url"]),
        ("not a URL", {"url": "erp.example.com/hooks"}, ["url"]),
        ("another scheme", {"url": "ftp://erp.example.com/hooks"}, ["url"]),
        ("bad port", {"url": "https://erp.example.com:99999/"}, ["url"]),
        ("spaces", {"url": "https://erp.example.com/a b"}, ["url"]),
        ("oversized", {"url": "https://erp.example.com/" + "a" * 2000}, ["body", "payload", "url"]),
        ("no event types", {"event_types": []}, ["body", "payload", "event_types"]),
        ("capitals", {"event_types": ["Order.Placed"]}, ["body", "payload", "event_types", 0]),
        ("one word", {"event_types": ["order"]}, ["body", "payload", "event_types", 0]),
        ("inner star", {"event_types": ["order.*.x"]}, ["body", "payload", "event_types", 0]),
        ("spaces", {"event_types": ["order placed"]}, ["body", "payload", "event_types", 0]),
        ("too many", {"event_types": [f"a.b{n}" for n in range(51)]}, None),
        ("long description", {"description": "d" * 201}, None),
    ],
)
def test_bad_endpoints_are_422_and_nothing_is_saved(shop, admin_client, _case, change, loc) -> None:
    audit_before = AuditEvent.objects.count()

    response = _post(admin_client, ENDPOINTS, {**VALID, **change})

    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    if loc is not None:
        assert loc in [error["loc"] for error in response.json()["errors"]]
    assert WebhookEndpoint.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before


def test_a_bad_change_is_422_and_changes_nothing(shop, admin_client) -> None:
    endpoint = make_endpoint(shop, url="https://erp.example.com/a").endpoint

    for body in (
        {"url": "https://10.1.1.1/"},
        {"event_types": ["*", "Nope"]},
        {"url": None},
        {"is_active": "yes"},
    ):
        response = _patch(admin_client, f"{ENDPOINTS}/{endpoint.pk}", body)
        assert response.status_code == 422, body

    endpoint.refresh_from_db()
    assert endpoint.url == "https://erp.example.com/a"
    assert endpoint.event_types == ["*"]
    assert endpoint.is_active is True


def test_private_hosts_are_accepted_where_the_installation_allows_them(
    shop, admin_client, settings
) -> None:
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = ["10.1.2.3", "erp.internal"]

    allowed = [
        _post(admin_client, ENDPOINTS, {**VALID, "url": url})
        for url in ("http://10.1.2.3:8080/hooks", "https://erp.internal/hooks")
    ]
    refused = _post(admin_client, ENDPOINTS, {**VALID, "url": "http://10.1.2.4/hooks"})
    public_http = _post(admin_client, ENDPOINTS, {**VALID, "url": "http://erp.example.com/"})

    assert [r.status_code for r in allowed] == [201, 201]
    assert refused.status_code == public_http.status_code == 422
    assert WebhookEndpoint.objects.count() == 2


def test_a_shop_has_a_bounded_number_of_endpoints(shop, admin_client) -> None:
    for _ in range(MAX_ENDPOINTS_PER_SHOP):
        make_endpoint(shop)

    response = _post(admin_client, ENDPOINTS, VALID)

    assert response.status_code == 409
    assert response.json()["code"] == "endpoint_limit"
    assert WebhookEndpoint.objects.count() == MAX_ENDPOINTS_PER_SHOP


# -- changes and deletion ---------------------------------------------------------------


def test_an_endpoint_is_changed_and_audited(shop, admin_client) -> None:
    endpoint = make_endpoint(shop, url="https://erp.example.com/a?token=t0ps3cret").endpoint

    response = _patch(
        admin_client,
        f"{ENDPOINTS}/{endpoint.pk}",
        {"url": "https://erp.example.com/b", "event_types": ["order.*"], "is_active": False},
    )

    assert response.status_code == 200
    assert response.json()["url"] == "https://erp.example.com/b"
    assert response.json()["event_types"] == ["order.*"]
    assert response.json()["is_active"] is False
    change = AuditEvent.objects.get(action="webhook_endpoint.update").changes
    assert change["url"] == {"from": "https://erp.example.com/a", "to": "https://erp.example.com/b"}
    assert "t0ps3cret" not in str(change)


def test_deleting_an_endpoint_deletes_its_delivery_log(shop, admin_client) -> None:
    delivery = webhook_delivery(shop)

    response = admin_client.delete(f"{ENDPOINTS}/{delivery.endpoint_id}")

    assert response.status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert AuditEvent.objects.filter(action="webhook_endpoint.delete").count() == 1


def test_replaying_a_pending_delivery_is_a_conflict(shop, admin_client) -> None:
    delivery = webhook_delivery(shop, status="pending")

    response = admin_client.post(f"/api/v1/admin/webhooks/deliveries/{delivery.pk}/replay")

    assert response.status_code == 409
    assert response.json()["code"] == "delivery_pending"
    assert WebhookDelivery.objects.count() == 1


def test_replaying_to_a_disabled_endpoint_is_a_conflict(shop, admin_client) -> None:
    delivery = webhook_delivery(shop)
    WebhookEndpoint.objects.update(is_active=False)

    response = admin_client.post(f"/api/v1/admin/webhooks/deliveries/{delivery.pk}/replay")

    assert response.status_code == 409
    assert response.json()["code"] == "endpoint_disabled"
    assert WebhookDelivery.objects.count() == 1


def test_the_delivery_list_runs_a_fixed_number_of_queries(
    shop, admin_client, django_assert_max_num_queries
) -> None:
    for _ in range(12):
        webhook_delivery(shop)
    admin_client.get("/api/v1/admin/shop")  # the key's first use is recorded now

    with django_assert_max_num_queries(6):
        response = admin_client.get("/api/v1/admin/webhooks/deliveries", {"limit": 10})

    assert response.status_code == 200
    assert len(response.json()["items"]) == 10
    assert response.json()["next_cursor"]


# -- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["support", "read_only", "catalog_manager", "fulfillment"])
def test_staff_without_plugins_manage_may_not_see_or_change_endpoints(shop, role) -> None:
    endpoint = make_endpoint(shop).endpoint
    member = MembershipFactory(shop=shop, role=builtin_role(role))
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(member.user)

    answers = [
        client.get(ENDPOINTS),
        client.get(f"{ENDPOINTS}/{endpoint.pk}"),
        client.get("/api/v1/admin/webhooks/deliveries"),
        _post(client, ENDPOINTS, VALID),
        _post(client, f"{ENDPOINTS}/{endpoint.pk}/rotate-secret", {}),
        client.delete(f"{ENDPOINTS}/{endpoint.pk}"),
    ]

    assert [a.status_code for a in answers] == [403] * 6
    assert WebhookEndpoint.objects.count() == 1
    assert WebhookEndpoint.objects.get().secret_encrypted == endpoint.secret_encrypted


def test_an_owner_may(shop) -> None:
    member = MembershipFactory(shop=shop, role=builtin_role("owner"))
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(member.user)

    assert _post(client, ENDPOINTS, VALID).status_code == 201


def test_endpoint_secrets_are_re_encrypted_by_key_rotation(shop, settings) -> None:
    from cryptography.fernet import Fernet

    from merchantry.core.crypto import derive_key, encrypted_fields, is_current, rotate_stored

    # given endpoint secrets stored under the current key
    created = make_endpoint(shop)
    endpoint = created.endpoint
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.save()
    current = list(settings.MERCHANTRY_ENCRYPTION_KEYS) or [derive_key(settings.SECRET_KEY)]

    # when a new key is put first and the stored values are rotated
    settings.MERCHANTRY_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *current]
    assert not is_current(endpoint.secret_encrypted)
    rotate_stored()

    # then both columns are under the new key, and still hold the secret
    assert {name for model, name in encrypted_fields() if model is WebhookEndpoint} == {
        "secret_encrypted",
        "previous_secret_encrypted",
    }
    endpoint.refresh_from_db()
    assert is_current(endpoint.secret_encrypted)
    assert is_current(endpoint.previous_secret_encrypted)
    assert decrypt_text(endpoint.secret_encrypted) == created.secret
