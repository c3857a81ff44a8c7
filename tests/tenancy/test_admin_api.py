"""Admin API: the shop, its channels, domains and API keys."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from merchantry.core.errors import BadRequest
from merchantry.core.models import AuditEvent
from merchantry.core.pagination import InvalidCursor, paginate
from merchantry.tenancy.keys import hash_key
from merchantry.tenancy.models import ApiKey, Channel, Domain, Shop
from merchantry.tenancy.services import apikey_authenticate
from tests.factories import (
    ChannelFactory,
    DomainFactory,
    MembershipFactory,
    UserFactory,
    builtin_role,
    publishable_key,
    secret_key,
)

pytestmark = pytest.mark.django_db

ADMIN = "/api/v1/admin"
PROBLEM = "application/problem+json"


def _problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body


def _post(client: Client, path: str, data: object) -> object:
    return client.post(f"{ADMIN}{path}", data, content_type="application/json")


def _patch(client: Client, path: str, data: object) -> object:
    return client.patch(f"{ADMIN}{path}", data, content_type="application/json")


def _staff_client(shop: Shop, role: str = "owner") -> tuple[Client, object]:
    user = UserFactory()
    MembershipFactory(user=user, shop=shop, role=builtin_role(role))
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(user)
    return client, user


def _walk(client: Client, path: str, limit: int) -> tuple[list[str], int]:
    """Follow next_cursor to the end; return every id seen and the page count."""
    ids: list[str] = []
    url, pages = f"{ADMIN}{path}?limit={limit}", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        pages += 1
        url = (
            f"{ADMIN}{path}?limit={limit}&cursor={body['next_cursor']}"
            if body["next_cursor"]
            else ""
        )
    return ids, pages


# -- shop ------------------------------------------------------------------------


def test_get_shop_returns_the_callers_shop(shop, admin_client) -> None:
    response = admin_client.get(f"{ADMIN}/shop")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(shop.pk)
    assert body["slug"] == "acme"
    assert body["name"] == "Acme"
    assert body["default_currency"] == "USD"
    assert body["status"] == "active"


def test_patch_shop_changes_the_given_fields_and_audits(shop, admin_client) -> None:
    response = _patch(
        admin_client,
        "/shop",
        {"name": "Acme Ltd", "default_currency": "eur", "settings": {"theme": "dark"}},
    )

    assert response.status_code == 200, response.content
    assert response.json()["default_currency"] == "EUR"
    shop.refresh_from_db()
    assert (shop.name, shop.default_currency, shop.default_country) == ("Acme Ltd", "EUR", "US")
    assert shop.settings == {"theme": "dark"}
    event = AuditEvent.objects.get(action="shop.update")
    assert event.shop_id == shop.pk
    assert event.changes["name"] == {"from": "Acme", "to": "Acme Ltd"}


def test_patch_shop_ignores_status(shop, admin_client) -> None:
    response = _patch(admin_client, "/shop", {"status": "suspended"})

    assert response.status_code == 200
    shop.refresh_from_db()
    assert shop.status == "active"


def test_patch_shop_with_an_unknown_currency_is_422_and_changes_nothing(shop, admin_client) -> None:
    response = _patch(admin_client, "/shop", {"name": "Renamed", "default_currency": "ZZZ"})

    body = _problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["default_currency"]
    shop.refresh_from_db()
    assert (shop.name, shop.default_currency) == ("Acme", "USD")
    assert not AuditEvent.objects.filter(action="shop.update").exists()


def test_patch_shop_refuses_null(shop, admin_client) -> None:
    response = _patch(admin_client, "/shop", {"name": None})

    _problem(response, 422)
    shop.refresh_from_db()
    assert shop.name == "Acme"


# -- channels --------------------------------------------------------------------


def test_create_channel_defaults_to_the_shops_currency_and_audits(shop, admin_client) -> None:
    response = _post(
        admin_client,
        "/channels",
        {
            "slug": "fb",
            "name": "Facebook shop",
            "kind": "facebook",
            "allowed_origins": ["https://Shop.Example.com/", "https://shop.example.com"],
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    channel = Channel.objects.get(pk=int(body["id"]))
    assert channel.shop_id == shop.pk
    assert body["kind"] == "facebook"
    assert (body["currency"], body["default_country"]) == ("USD", "US")
    assert body["allowed_origins"] == ["https://shop.example.com"]
    assert AuditEvent.objects.filter(action="channel.create", target_id=body["id"]).count() == 1


def test_create_channel_with_a_taken_slug_is_422(shop, admin_client, channel) -> None:
    response = _post(admin_client, "/channels", {"slug": "web", "name": "Another"})

    body = _problem(response, 422)
    assert body["errors"][0]["code"] == "unique"
    assert Channel.objects.count() == 1


def test_the_same_channel_slug_may_exist_in_two_shops(admin_client, other_channel) -> None:
    response = _post(admin_client, "/channels", {"slug": "web", "name": "Web"})

    assert response.status_code == 201


def test_get_patch_and_delete_a_channel(shop, admin_client, channel) -> None:
    key = publishable_key(channel)

    got = admin_client.get(f"{ADMIN}/channels/{channel.pk}")
    patched = _patch(admin_client, f"/channels/{channel.pk}", {"name": "Web 2", "is_active": False})
    deleted = admin_client.delete(f"{ADMIN}/channels/{channel.pk}")

    assert got.status_code == 200
    assert got.json()["slug"] == "web"
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["is_active"]) == ("Web 2", False)
    assert deleted.status_code == 204
    assert not Channel.objects.filter(pk=channel.pk).exists()
    assert apikey_authenticate(key, kind="publishable") is None
    assert list(
        AuditEvent.objects.filter(
            target_type="tenancy.channel", target_id=str(channel.pk)
        ).values_list("action", flat=True)
    ) == ["channel.delete", "channel.update"]


@pytest.mark.parametrize("channel_id", ["999999", "abc", "1.5", "-1", "9" * 40, "%20"])
def test_unknown_or_malformed_channel_id_is_404(admin_client, channel, channel_id) -> None:
    response = admin_client.get(f"{ADMIN}/channels/{channel_id}")

    _problem(response, 404, "not_found")


def test_channel_list_pages_through_every_channel_once(shop, admin_client) -> None:
    channels = ChannelFactory.create_batch(7, shop=shop)

    ids, pages = _walk(admin_client, "/channels", limit=3)

    assert ids == [str(c.pk) for c in channels]
    assert pages == 3


def test_list_limit_defaults_to_50_and_is_bounded(shop, admin_client) -> None:
    ChannelFactory.create_batch(51, shop=shop)

    default = admin_client.get(f"{ADMIN}/channels")
    too_small = admin_client.get(f"{ADMIN}/channels?limit=0")
    too_big = admin_client.get(f"{ADMIN}/channels?limit=101")
    not_a_number = admin_client.get(f"{ADMIN}/channels?limit=ten")

    assert len(default.json()["items"]) == 50
    assert default.json()["next_cursor"] is not None
    for response in (too_small, too_big, not_a_number):
        _problem(response, 422, "validation_error")


def _b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        "@@@",
        _b64([1, 2]),
        _b64({"v": 1, "k": ["abc"]}),
        _b64({"v": 1, "k": [10**30]}),
        _b64({"v": 1, "k": [1, 2]}),
        _b64({"v": 1, "k": [None]}),
        _b64({"v": 2, "k": [1]}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "x" * 600,
    ],
)
def test_malformed_cursor_is_a_400_problem(shop, admin_client, cursor) -> None:
    ChannelFactory.create_batch(2, shop=shop)

    response = admin_client.get(f"{ADMIN}/channels", {"cursor": cursor})

    assert response.status_code in (400, 422)
    assert response["Content-Type"] == PROBLEM


def test_a_cursor_is_opaque_but_survives_a_deleted_row(shop, admin_client) -> None:
    first, second, third = ChannelFactory.create_batch(3, shop=shop)
    page = admin_client.get(f"{ADMIN}/channels?limit=1").json()
    Channel.objects.filter(pk=first.pk).delete()

    rest = admin_client.get(f"{ADMIN}/channels", {"limit": 5, "cursor": page["next_cursor"]})

    assert [item["id"] for item in rest.json()["items"]] == [str(second.pk), str(third.pk)]


@pytest.mark.parametrize("path", ["/channels", "/domains", "/api-keys"])
def test_list_query_count_does_not_grow_with_the_page(
    shop, admin_client, django_assert_max_num_queries, path
) -> None:
    def make(n: int) -> None:
        for _ in range(n):
            if path == "/channels":
                ChannelFactory(shop=shop)
            elif path == "/domains":
                DomainFactory(shop=shop, is_primary=False)
            else:
                secret_key(shop, permissions=["catalog.view"])

    make(3)
    with django_assert_max_num_queries(3):
        small = admin_client.get(f"{ADMIN}{path}")
    make(27)
    with django_assert_max_num_queries(3):
        large = admin_client.get(f"{ADMIN}{path}")

    assert len(small.json()["items"]) >= 3
    assert len(large.json()["items"]) >= 30


# -- domains ---------------------------------------------------------------------


def test_first_domain_is_primary_and_a_new_primary_takes_over(shop, admin_client) -> None:
    first = _post(admin_client, "/domains", {"host": "Shop.Example.com"})
    second = _post(admin_client, "/domains", {"host": "www.example.com"})
    third = _post(admin_client, "/domains", {"host": "acme.example.org", "is_primary": True})

    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert first.json()["host"] == "shop.example.com"
    assert first.json()["is_primary"] is True
    assert second.json()["is_primary"] is False
    primary = Domain.objects.for_shop(shop).get(is_primary=True)
    assert primary.host == "acme.example.org"
    listed = admin_client.get(f"{ADMIN}/domains").json()["items"]
    assert sorted(d["host"] for d in listed) == [
        "acme.example.org",
        "shop.example.com",
        "www.example.com",
    ]
    assert AuditEvent.objects.filter(action="domain.add", shop_id=shop.pk).count() == 3


def test_removing_the_primary_domain_promotes_another(shop, admin_client) -> None:
    primary = _post(admin_client, "/domains", {"host": "a.example.com"}).json()
    _post(admin_client, "/domains", {"host": "b.example.com"})

    response = admin_client.delete(f"{ADMIN}/domains/{primary['id']}")

    assert response.status_code == 204
    assert list(Domain.objects.for_shop(shop).values_list("host", "is_primary")) == [
        ("b.example.com", True)
    ]
    assert AuditEvent.objects.filter(action="domain.remove").count() == 1


def test_a_host_of_another_shop_is_refused_without_naming_it(admin_client, other_shop) -> None:
    DomainFactory(shop=other_shop, host="taken.example.com")

    response = _post(admin_client, "/domains", {"host": "TAKEN.example.com"})

    body = _problem(response, 422)
    assert "globex" not in response.content.decode().lower()
    assert body["errors"][0]["code"] == "unique"
    assert Domain.objects.count() == 1


@pytest.mark.parametrize("host", ["not a host", "-bad.example.com", "[::1]", "a..b", "x" * 254])
def test_invalid_host_is_422(shop, admin_client, host) -> None:
    response = _post(admin_client, "/domains", {"host": host})

    _problem(response, 422)
    assert not Domain.objects.exists()


# -- API keys --------------------------------------------------------------------


def test_create_secret_key_shows_the_key_once(shop, admin_client) -> None:
    response = _post(
        admin_client,
        "/api-keys",
        {"name": "ERP", "kind": "secret", "permissions": ["orders.manage"]},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    raw = body["key"]
    row = ApiKey.objects.get(pk=int(body["id"]))
    assert raw.startswith("msk_")
    assert body["prefix"] == raw[:12] == row.prefix
    assert row.key_hash == hash_key(raw)
    assert body["permissions"] == ["orders.manage", "orders.view"]
    assert body["channel_id"] is None
    assert row.created_by_id is None
    listed = admin_client.get(f"{ADMIN}/api-keys")
    detail = admin_client.get(f"{ADMIN}/api-keys/{body['id']}")
    for response in (listed, detail):
        assert response.status_code == 200
        assert raw not in response.content.decode()
        assert raw[12:] not in response.content.decode()
    assert "key" not in detail.json()
    assert set(detail.json()) == {
        "id",
        "name",
        "kind",
        "prefix",
        "channel_id",
        "permissions",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    event = AuditEvent.objects.get(action="apikey.create", target_id=body["id"])
    assert raw not in json.dumps(event.changes)
    # The new key works.
    assert (
        Client(headers={"Authorization": f"Bearer {raw}"}).get(f"{ADMIN}/shop").status_code == 403
    )


def test_create_publishable_key_for_a_channel(shop, admin_client, channel) -> None:
    response = _post(
        admin_client,
        "/api-keys",
        {"name": "Storefront", "kind": "publishable", "channel_id": str(channel.pk)},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"].startswith("mpk_")
    assert body["channel_id"] == str(channel.pk)
    assert body["permissions"] == []
    assert apikey_authenticate(body["key"], kind="publishable").channel_id == channel.pk


def test_staff_created_key_remembers_its_creator(shop) -> None:
    client, user = _staff_client(shop)

    response = _post(client, "/api-keys", {"name": "CI", "kind": "secret"})

    assert response.status_code == 201, response.content
    assert ApiKey.objects.get(pk=int(response.json()["id"])).created_by_id == user.pk


@pytest.mark.parametrize(
    ("payload", "status", "loc"),
    [
        ({"name": "x", "kind": "publishable"}, 422, "channel"),
        (
            {
                "name": "x",
                "kind": "publishable",
                "channel_id": "CHANNEL",
                "permissions": ["catalog.view"],
            },
            422,
            "permissions",
        ),
        ({"name": "x", "kind": "secret", "channel_id": "CHANNEL"}, 422, "channel"),
        ({"name": "x", "kind": "publishable", "channel_id": "999999"}, 404, None),
        ({"name": "x", "kind": "publishable", "channel_id": "abc"}, 404, None),
        ({"name": "x", "kind": "publishable", "channel_id": ""}, 422, None),
        ({"name": "x", "kind": "publishable", "channel_id": "OTHER"}, 404, None),
        ({"name": "x", "kind": "secret", "permissions": ["orders.fly"]}, 422, None),
        ({"name": "x", "kind": "root"}, 422, None),
        ({"name": " ", "kind": "secret"}, 422, None),
    ],
)
def test_invalid_key_requests_write_nothing(
    shop, admin_client, channel, other_channel, payload, status, loc
) -> None:
    payload = dict(payload)
    if payload.get("channel_id") == "CHANNEL":
        payload["channel_id"] = str(channel.pk)
    if payload.get("channel_id") == "OTHER":
        payload["channel_id"] = str(other_channel.pk)
    keys_before = ApiKey.objects.count()

    response = _post(admin_client, "/api-keys", payload)

    body = _problem(response, status)
    if loc is not None:
        assert body["errors"][0]["loc"] == [loc]
    assert ApiKey.objects.count() == keys_before


def test_revoke_stops_the_key_and_is_idempotent(shop, admin_client) -> None:
    created = _post(admin_client, "/api-keys", {"name": "tmp", "kind": "secret"}).json()
    victim = Client(headers={"Authorization": f"Bearer {created['key']}"})
    assert victim.get(f"{ADMIN}/shop").status_code == 403  # authenticated, no permissions

    first = admin_client.post(f"{ADMIN}/api-keys/{created['id']}/revoke")
    second = admin_client.post(f"{ADMIN}/api-keys/{created['id']}/revoke")

    assert first.status_code == 200
    assert first.json()["revoked_at"] is not None
    assert second.json()["revoked_at"] == first.json()["revoked_at"]
    _problem(victim.get(f"{ADMIN}/shop"), 401, "not_authenticated")
    assert AuditEvent.objects.filter(action="apikey.revoke", target_id=created["id"]).count() == 1


def test_unknown_key_id_is_404(admin_client) -> None:
    _problem(admin_client.get(f"{ADMIN}/api-keys/424242"), 404)
    _problem(admin_client.post(f"{ADMIN}/api-keys/nope/revoke"), 404)


# -- authentication --------------------------------------------------------------


def test_publishable_key_as_bearer_is_401(channel) -> None:
    client = Client(headers={"Authorization": f"Bearer {publishable_key(channel)}"})

    response = client.get(f"{ADMIN}/shop")

    _problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_publishable_key_header_does_not_open_the_admin_api(channel) -> None:
    client = Client(headers={"X-Publishable-Key": publishable_key(channel)})

    _problem(client.get(f"{ADMIN}/channels"), 401)


def test_revoked_secret_key_is_401(shop, admin_client) -> None:
    raw = secret_key(shop)
    ApiKey.objects.filter(key_hash=hash_key(raw)).update(revoked_at="2024-01-01T00:00:00Z")

    response = Client(headers={"Authorization": f"Bearer {raw}"}).get(f"{ADMIN}/shop")

    _problem(response, 401)


def test_staff_session_without_x_shop_picks_the_only_shop(shop) -> None:
    client = Client()
    client.force_login(MembershipFactory(shop=shop, role=builtin_role("read_only")).user)

    response = client.get(f"{ADMIN}/shop")

    assert response.status_code == 200
    assert response.json()["slug"] == "acme"


def test_openapi_documents_the_auth_schemes() -> None:
    response = Client().get("/api/v1/openapi.json")

    schemes = response.json()["components"]["securitySchemes"]
    assert schemes["SecretKeyAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["StaffSessionAuth"]["in"] == "cookie"
    assert schemes["PublishableKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Publishable-Key",
    }
    operation = response.json()["paths"]["/api/v1/admin/channels"]["get"]
    assert {"SecretKeyAuth": []} in operation["security"]
    assert {"StaffSessionAuth": []} in operation["security"]


# -- the pagination helper ---------------------------------------------------------


@pytest.mark.parametrize("order_by", [("pk",), ("-pk",), ("name",), ("-name",), ("kind", "-name")])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_paginate_visits_every_row_once_in_order(shop, order_by, limit) -> None:
    # given: ties on the ordering columns, which only the pk can break
    for index, name in enumerate(["b", "a", "b", "c", "a", "b", "a"]):
        ChannelFactory(shop=shop, name=name, kind=["web", "pos"][index % 2])
    queryset = Channel.objects.for_shop(shop)
    expected = list(queryset.order_by(*order_by, "pk" if order_by[-1][0] != "-" else "-pk"))

    # when: walking the pages with each cursor handed out
    seen, cursor, pages = [], None, 0
    while True:
        page = paginate(queryset, limit=limit, cursor=cursor, order_by=order_by)
        seen += page.items
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    # then
    assert [c.pk for c in seen] == [c.pk for c in expected]
    assert pages == max(1, -(-len(expected) // limit))


def test_paginate_refuses_a_nullable_ordering_and_a_bad_limit(shop) -> None:
    with pytest.raises(ValueError, match="nullable"):
        paginate(ApiKey.objects.all(), order_by=("last_used_at",))
    with pytest.raises(BadRequest):
        paginate(Channel.objects.all(), limit=0)


def test_paginate_refuses_a_cursor_with_a_nul_character(shop) -> None:
    ChannelFactory(shop=shop)
    cursor = _b64({"v": 1, "k": ["a\x00b", 1]})

    with pytest.raises(InvalidCursor):
        paginate(Channel.objects.all(), cursor=cursor, order_by=("name",))
