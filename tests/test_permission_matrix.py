"""
Who may do what on the Admin API: every built-in role against representative
operations, the limits of secret keys, and the rules around the owner role.

Expected answers are derived from ``BUILTIN_ROLES``, so changing a role's
permissions changes what this table demands. Beside the table, every Admin API
operation of the OpenAPI schema (new ones as soon as they exist) is refused
with 403 to a staff role and a secret key that hold no permission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client

from merchantry.accounts.models import Membership, Role
from merchantry.catalog.models import Category, Collection, Product
from merchantry.inventory.models import StockLocation
from merchantry.shipping.models import Shipment, ShippingZone
from merchantry.tenancy.models import ApiKey, Channel, Domain, Shop
from merchantry.tenancy.permissions import BUILTIN_ROLES, Perm
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    UserFactory,
    builtin_role,
    secret_key,
)
from tests.test_api_bad_input import _PARAM as PARAM
from tests.test_api_bad_input import ADMIN_OPERATIONS, VALID_BODIES, VALID_UPLOADS
from tests.test_api_bad_input import _db_state as db_state
from tests.test_api_bad_input import _form as upload_form
from tests.test_api_bad_input import _send as send
from tests.test_api_bad_input import _with_channel as with_channel
from tests.test_tenant_wall import MULTIPART

pytestmark = pytest.mark.django_db

ADMIN = "/api/v1/admin"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    permission: Perm
    body: dict[str, Any] | None = None
    model: type[Model] | None = None
    """Rows of this model are added (POST) or removed (DELETE) when allowed."""

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


OPERATIONS = [
    Op("GET", "/shop", Perm.SHOP_VIEW),
    Op("PATCH", "/shop", Perm.SHOP_MANAGE, {"name": "Renamed"}),
    Op("GET", "/channels", Perm.CHANNELS_VIEW),
    Op("GET", "/channels/{channel}", Perm.CHANNELS_VIEW),
    Op("POST", "/channels", Perm.CHANNELS_MANAGE, {"slug": "new", "name": "New"}, Channel),
    Op("PATCH", "/channels/{channel}", Perm.CHANNELS_MANAGE, {"name": "Renamed"}),
    Op("DELETE", "/channels/{channel}", Perm.CHANNELS_MANAGE, None, Channel),
    Op("GET", "/domains", Perm.SHOP_VIEW),
    Op("POST", "/domains", Perm.SHOP_MANAGE, {"host": "new.example.com"}, Domain),
    Op("GET", "/api-keys", Perm.APIKEYS_MANAGE),
    Op(
        "POST",
        "/api-keys",
        Perm.APIKEYS_MANAGE,
        {"name": "k", "kind": "secret", "permissions": ["catalog.view"]},
        ApiKey,
    ),
    Op("GET", "/staff", Perm.STAFF_VIEW),
    Op(
        "POST",
        "/staff",
        Perm.STAFF_MANAGE,
        {"email": "n@example.com", "role": "support"},
        Membership,
    ),
    Op("GET", "/roles", Perm.STAFF_VIEW),
    Op(
        "POST",
        "/roles",
        Perm.STAFF_MANAGE,
        {"key": "desk", "name": "Desk", "permissions": ["catalog.view"]},
        Role,
    ),
    Op("GET", "/customers", Perm.CUSTOMERS_VIEW),
    Op("GET", "/customers/{customer}", Perm.CUSTOMERS_VIEW),
    Op("GET", "/plugins", Perm.PLUGINS_MANAGE),
    Op("GET", "/products", Perm.CATALOG_VIEW),
    Op("POST", "/products", Perm.CATALOG_MANAGE, {"title": "New"}, Product),
    Op("GET", "/categories", Perm.CATALOG_VIEW),
    Op("POST", "/categories", Perm.CATALOG_MANAGE, {"name": "New"}, Category),
    Op("GET", "/collections", Perm.CATALOG_VIEW),
    Op("POST", "/collections", Perm.CATALOG_MANAGE, {"title": "New"}, Collection),
    Op("GET", "/inventory/levels", Perm.INVENTORY_VIEW),
    Op("GET", "/inventory/channels/{channel}", Perm.INVENTORY_VIEW),
    Op("POST", "/inventory/locations", Perm.INVENTORY_MANAGE, {"name": "New"}, StockLocation),
    Op("GET", "/shipping/zones", Perm.SHIPPING_VIEW),
    Op(
        "POST",
        "/shipping/zones",
        Perm.SHIPPING_MANAGE,
        {"name": "New", "countries": ["US"]},
        ShippingZone,
    ),
    Op("GET", "/shipments", Perm.ORDERS_VIEW),
    Op(
        "POST",
        "/shipments",
        Perm.ORDERS_MANAGE,
        {"order_id": "o-1", "lines": [{"order_line_id": "l-1", "quantity": 1}]},
        Shipment,
    ),
]


def _problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    if code is not None:
        assert body["code"] == code
    return body


def _staff(shop: Shop, role: str | Role) -> tuple[Client, Membership]:
    role_obj = role if isinstance(role, Role) else builtin_role(role)
    membership = MembershipFactory(shop=shop, role=role_obj)
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(membership.user)
    return client, membership


def _call(client: Client, method: str, path: str, body: dict[str, Any] | None = None):
    if body is None:
        return client.generic(method, f"{ADMIN}{path}")
    return client.generic(
        method, f"{ADMIN}{path}", json.dumps(body), content_type="application/json"
    )


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_builtin_role_matrix(shop, channel, role, op) -> None:
    # given: a staff member with the role, and one of each object to name
    client, _ = _staff(shop, role)
    MembershipFactory(shop=shop)  # an owner besides, so no "last owner" rule interferes
    customer = CustomerFactory(shop=shop)
    path = op.path.format(channel=channel.pk, customer=customer.pk)
    allowed = op.permission in BUILTIN_ROLES[role][1]
    count = op.model.objects.count() if op.model else None

    # when
    response = _call(client, op.method, path, op.body)

    # then
    shop.refresh_from_db()
    if allowed:
        assert 200 <= response.status_code < 300, (role, str(op), response.content)
        if op.model is not None:
            delta = -1 if op.method == "DELETE" else 1
            assert op.model.objects.count() == count + delta
        if op.method == "PATCH" and op.path == "/shop":
            assert shop.name == "Renamed"
    else:
        _problem(response, 403, "permission_denied")
        if op.model is not None:
            assert op.model.objects.count() == count
        assert shop.name == "Acme"
        assert Channel.objects.get(pk=channel.pk).name == channel.name


def test_the_matrix_allows_and_denies_something_for_every_limited_role() -> None:
    for role, (_, permissions) in BUILTIN_ROLES.items():
        allowed = [op for op in OPERATIONS if op.permission in permissions]
        assert allowed, f"{role}: no operation in the table is allowed"
        if role not in ("owner", "admin"):
            assert len(allowed) < len(OPERATIONS), f"{role}: nothing in the table is denied"


# -- secret keys -------------------------------------------------------------------


def test_a_catalog_key_cannot_manage_staff_or_keys(shop) -> None:
    client = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['catalog.manage'])}"}
    )
    keys_before = ApiKey.objects.count()

    responses = [
        _call(client, "GET", "/staff"),
        _call(client, "POST", "/staff", {"email": "n@example.com", "role": "support"}),
        _call(client, "GET", "/api-keys"),
        _call(client, "POST", "/api-keys", {"name": "k", "kind": "secret"}),
        _call(client, "POST", "/roles", {"key": "r", "name": "R", "permissions": []}),
    ]

    for response in responses:
        _problem(response, 403, "permission_denied")
    assert not Membership.objects.exists()
    assert ApiKey.objects.count() == keys_before
    assert not Role.objects.filter(shop=shop).exists()


def test_a_key_cannot_mint_a_key_more_powerful_than_itself(shop) -> None:
    raw = secret_key(shop, permissions=["apikeys.manage", "catalog.manage"])
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    keys_before = ApiKey.objects.count()

    refunds = _call(
        client,
        "POST",
        "/api-keys",
        {"name": "k", "kind": "secret", "permissions": ["refunds.manage"]},
    )
    catalog = _call(
        client,
        "POST",
        "/api-keys",
        {"name": "k", "kind": "secret", "permissions": ["catalog.view"]},
    )

    body = _problem(refunds, 403, "permission_denied")
    assert "refunds.manage" in body["detail"]
    assert catalog.status_code == 201
    assert ApiKey.objects.count() == keys_before + 1


def test_a_custom_role_cannot_grant_more_than_it_holds(shop) -> None:
    role = Role.objects.create(
        shop=shop, key="hr", name="HR", permissions=["staff.manage", "apikeys.manage"]
    )
    client, _ = _staff(shop, role)

    new_role = _call(
        client, "POST", "/roles", {"key": "x", "name": "X", "permissions": ["orders.manage"]}
    )
    new_key = _call(
        client, "POST", "/api-keys", {"name": "k", "kind": "secret", "permissions": ["orders.view"]}
    )

    _problem(new_role, 403)
    _problem(new_key, 403)
    assert not Role.objects.filter(key="x").exists()


# -- the owner role ------------------------------------------------------------------


def test_an_admin_cannot_grant_or_take_the_owner_role(shop) -> None:
    client, _ = _staff(shop, "admin")
    owner = MembershipFactory(shop=shop)
    support = MembershipFactory(shop=shop, role=builtin_role("support"))

    invited = _call(client, "POST", "/staff", {"email": "o@example.com", "role": "owner"})
    promoted = _call(client, "PATCH", f"/staff/{support.pk}", {"role": "owner"})
    demoted = _call(client, "PATCH", f"/staff/{owner.pk}", {"role": "support"})
    removed = _call(client, "DELETE", f"/staff/{owner.pk}")

    for response in (invited, promoted, demoted, removed):
        _problem(response, 403, "permission_denied")
    assert Membership.objects.filter(shop=shop, role__key="owner").count() == 1
    support.refresh_from_db()
    assert support.role.key == "support"


def test_an_owner_can_grant_and_take_the_owner_role(shop) -> None:
    client, _ = _staff(shop, "owner")
    support = MembershipFactory(shop=shop, role=builtin_role("support"))

    invited = _call(client, "POST", "/staff", {"email": "o@example.com", "role": "owner"})
    promoted = _call(client, "PATCH", f"/staff/{support.pk}", {"role": "owner"})
    demoted = _call(client, "PATCH", f"/staff/{support.pk}", {"role": "admin"})
    removed = _call(client, "DELETE", f"/staff/{invited.json()['id']}")

    assert (invited.status_code, promoted.status_code) == (201, 200)
    assert (demoted.status_code, removed.status_code) == (200, 204)
    assert invited.json()["role"] == "owner"
    assert Membership.objects.filter(shop=shop, role__key="owner").count() == 1


def test_the_last_owner_cannot_be_demoted_or_removed(shop, other_shop) -> None:
    client, me = _staff(shop, "owner")
    MembershipFactory(shop=other_shop)  # owners elsewhere do not count

    demoted = _call(client, "PATCH", f"/staff/{me.pk}", {"role": "admin"})
    removed = _call(client, "DELETE", f"/staff/{me.pk}")

    _problem(demoted, 409, "last_owner")
    _problem(removed, 409, "last_owner")
    me.refresh_from_db()
    assert me.role.key == "owner"


def test_one_of_two_owners_may_step_down(shop) -> None:
    client, me = _staff(shop, "owner")
    MembershipFactory(shop=shop)

    response = _call(client, "PATCH", f"/staff/{me.pk}", {"role": "admin"})

    assert response.status_code == 200
    me.refresh_from_db()
    assert me.role.key == "admin"


def test_a_staff_account_that_is_not_staff_cannot_use_the_admin_api(shop) -> None:
    user = UserFactory(is_staff=False)
    MembershipFactory(user=user, shop=shop)
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(user)

    _problem(_call(client, "GET", "/shop"), 401)


# -- every operation, automatically ---------------------------------------------------


def _no_permission_clients(shop: Shop) -> dict[str, Client]:
    role = Role.objects.create(shop=shop, key="nothing", name="Nothing", permissions=[])
    staff, _ = _staff(shop, role)
    key = Client(headers={"Authorization": f"Bearer {secret_key(shop, permissions=[])}"})
    return {"staff with an empty role": staff, "secret key without permissions": key}


@pytest.mark.parametrize(
    ("method", "path"), ADMIN_OPERATIONS, ids=[f"{m} {p}" for m, p in ADMIN_OPERATIONS]
)
def test_every_operation_refuses_whoever_holds_no_permission(shop, channel, method, path) -> None:
    # given a staff member and a secret key of the shop that hold no permission
    # (new routes are covered the moment they exist: the list is the OpenAPI's)
    clients = _no_permission_clients(shop)
    url = PARAM.sub("1", path)
    body = with_channel(shop, VALID_BODIES.get((method, path), {}))
    before = db_state()

    for name, client in clients.items():
        # when either calls the operation, with a body it accepts
        key = (method, path)
        if key in VALID_UPLOADS:
            response = client.post(url, upload_form(shop, VALID_UPLOADS[key]))
        elif key in MULTIPART:
            response = client.post(url, MULTIPART[key]())
        else:
            response = send(client, method, url, body)

        # then it is refused as forbidden, and nothing changed
        assert response.status_code == 403, (name, response.status_code, response.content)
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "permission_denied", name
    assert db_state() == before
