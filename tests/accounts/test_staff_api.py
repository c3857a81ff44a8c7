"""Admin API: staff members, roles and (read-only) customers."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from merchantry.accounts.models import CustomerAddress, Membership, Role, User
from merchantry.core.models import AuditEvent
from tests.factories import CustomerFactory, MembershipFactory, UserFactory, builtin_role

pytestmark = pytest.mark.django_db

ADMIN = "/api/v1/admin"
PROBLEM = "application/problem+json"
BUILTIN_KEYS = ["owner", "admin", "catalog_manager", "fulfillment", "support", "read_only"]


def _problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    if code is not None:
        assert body["code"] == code
    return body


def _post(client: Client, path: str, data: object):
    return client.post(f"{ADMIN}{path}", data, content_type="application/json")


def _patch(client: Client, path: str, data: object):
    return client.patch(f"{ADMIN}{path}", data, content_type="application/json")


def _address(customer, **fields) -> CustomerAddress:
    values = {"line1": "1 Main St", "city": "Springfield", "country": "US", **fields}
    return CustomerAddress.objects.create(shop=customer.shop, customer=customer, **values)


def _custom_role(shop, key: str = "packer", permissions=("orders.view",)) -> Role:
    return Role.objects.create(shop=shop, key=key, name=key.title(), permissions=list(permissions))


# -- staff -----------------------------------------------------------------------


def test_adding_a_new_person_creates_their_account_and_shows_the_password_once(
    shop, admin_client
) -> None:
    response = _post(
        admin_client,
        "/staff",
        {"email": "New.Person@Example.COM", "role": "support", "full_name": "New Person"},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get(email__iexact="new.person@example.com")
    assert user.is_staff
    assert user.check_password(body["temporary_password"])
    assert body["email"] == user.email
    assert (body["role"], body["role_name"], body["full_name"]) == (
        "support",
        "Support",
        "New Person",
    )
    assert body["user_id"] == str(user.pk)
    membership = Membership.objects.get(pk=int(body["id"]))
    assert (membership.shop_id, membership.role.key) == (shop.pk, "support")
    event = AuditEvent.objects.get(action="membership.create")
    assert event.changes["user_created"] is True
    assert body["temporary_password"] not in json.dumps(event.changes)
    # Shown once: reading the member back never includes it.
    detail = admin_client.get(f"{ADMIN}/staff/{body['id']}").json()
    assert "temporary_password" not in detail


def test_adding_an_existing_account_keeps_its_password(shop, admin_client, other_shop) -> None:
    person = UserFactory(email="known@example.com")
    MembershipFactory(user=person, shop=other_shop)
    password_hash = person.password

    response = _post(admin_client, "/staff", {"email": "KNOWN@example.com", "role": "admin"})

    assert response.status_code == 201, response.content
    assert "temporary_password" not in response.json()
    person.refresh_from_db()
    assert person.password == password_hash
    assert Membership.objects.filter(user=person).count() == 2
    assert User.objects.count() == 1


def test_adding_someone_twice_is_a_conflict(shop, admin_client) -> None:
    MembershipFactory(user=UserFactory(email="twice@example.com"), shop=shop)

    response = _post(admin_client, "/staff", {"email": "twice@example.com", "role": "support"})

    _problem(response, 409, "already_member")
    assert Membership.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"email": "x@example.com", "role": "wizard"}, ["role"]),
        ({"email": "not-an-email", "role": "support"}, ["email"]),
        ({"email": "x@example.com", "role": "Owner!"}, None),
        ({"email": "x@example.com"}, None),
    ],
)
def test_invalid_staff_requests_write_nothing(shop, admin_client, payload, loc) -> None:
    response = _post(admin_client, "/staff", payload)

    body = _problem(response, 422)
    if loc is not None:
        assert body["errors"][0]["loc"] == loc
    assert not User.objects.exists()
    assert not Membership.objects.exists()


def test_a_custom_role_can_be_given(shop, admin_client) -> None:
    _custom_role(shop, "packer")

    response = _post(admin_client, "/staff", {"email": "p@example.com", "role": "packer"})

    assert response.status_code == 201, response.content
    assert response.json()["role"] == "packer"


def test_another_shops_custom_role_cannot_be_given(admin_client, other_shop) -> None:
    _custom_role(other_shop, "packer")

    response = _post(admin_client, "/staff", {"email": "p@example.com", "role": "packer"})

    _problem(response, 422)
    assert not Membership.objects.exists()


def test_list_get_change_role_and_remove_a_staff_member(shop, admin_client) -> None:
    member = MembershipFactory(shop=shop, role=builtin_role("support"))
    MembershipFactory(shop=shop)  # an owner, so the shop keeps one

    listed = admin_client.get(f"{ADMIN}/staff")
    got = admin_client.get(f"{ADMIN}/staff/{member.pk}")
    patched = _patch(admin_client, f"/staff/{member.pk}", {"role": "fulfillment"})
    removed = admin_client.delete(f"{ADMIN}/staff/{member.pk}")

    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 2
    assert got.json()["email"] == member.user.email
    assert patched.status_code == 200
    assert patched.json()["role"] == "fulfillment"
    assert removed.status_code == 204
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert User.objects.filter(pk=member.user_id).exists()
    change = AuditEvent.objects.get(action="membership.role_change")
    assert change.changes["role"] == {"from": "support", "to": "fulfillment"}
    assert AuditEvent.objects.filter(action="membership.remove").count() == 1


def test_unknown_staff_member_is_404(admin_client) -> None:
    _problem(admin_client.get(f"{ADMIN}/staff/98765"), 404)
    _problem(_patch(admin_client, "/staff/x1", {"role": "support"}), 404)
    _problem(admin_client.delete(f"{ADMIN}/staff/98765"), 404)


def test_last_owner_cannot_be_demoted_or_removed(shop) -> None:
    owner = MembershipFactory(shop=shop)
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(owner.user)

    demoted = _patch(client, f"/staff/{owner.pk}", {"role": "admin"})
    removed = client.delete(f"{ADMIN}/staff/{owner.pk}")

    _problem(demoted, 409, "last_owner")
    _problem(removed, 409, "last_owner")
    owner.refresh_from_db()
    assert owner.role.key == "owner"
    assert not AuditEvent.objects.filter(action__startswith="membership.").exists()


def test_an_api_key_cannot_touch_the_owner_role(shop, admin_client) -> None:
    owner = MembershipFactory(shop=shop)

    demoted = _patch(admin_client, f"/staff/{owner.pk}", {"role": "admin"})
    granted = _post(admin_client, "/staff", {"email": "o@example.com", "role": "owner"})

    _problem(demoted, 403, "permission_denied")
    _problem(granted, 403, "permission_denied")
    owner.refresh_from_db()
    assert owner.role.key == "owner"
    assert Membership.objects.count() == 1


# -- roles -----------------------------------------------------------------------


def test_roles_list_builtins_and_only_this_shops_custom_roles(
    shop, admin_client, other_shop
) -> None:
    mine = _custom_role(shop, "packer", ["orders.manage"])
    _custom_role(other_shop, "theirs")

    response = admin_client.get(f"{ADMIN}/roles")

    items = response.json()["items"]
    assert [item["key"] for item in items] == [*BUILTIN_KEYS, "packer"]
    packer = items[-1]
    assert packer == {
        "id": str(mine.pk),
        "key": "packer",
        "name": "Packer",
        "is_builtin": False,
        "permissions": ["orders.manage", "orders.view"],
    }
    assert items[0]["is_builtin"] is True
    assert "staff.manage" in items[0]["permissions"]


def test_create_a_custom_role(shop, admin_client) -> None:
    response = _post(
        admin_client,
        "/roles",
        {
            "key": "returns",
            "name": "Returns desk",
            "permissions": ["orders.view", "refunds.manage"],
        },
    )

    assert response.status_code == 201, response.content
    role = Role.objects.get(pk=int(response.json()["id"]))
    assert (role.shop_id, role.key, role.permissions) == (
        shop.pk,
        "returns",
        ["orders.view", "refunds.manage"],
    )
    assert AuditEvent.objects.filter(action="role.create", target_id=str(role.pk)).count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"key": "owner", "name": "Mine", "permissions": []},
        {"key": "packer", "name": "Again", "permissions": []},
        {"key": "x", "name": "Bad", "permissions": ["orders.fly"]},
        {"key": "Bad Key", "name": "Bad", "permissions": []},
        {"key": "x", "name": "", "permissions": []},
    ],
)
def test_invalid_roles_are_refused(shop, admin_client, payload) -> None:
    _custom_role(shop, "packer")

    response = _post(admin_client, "/roles", payload)

    _problem(response, 422)
    assert Role.objects.filter(shop=shop).count() == 1


def test_delete_a_custom_role(shop, admin_client) -> None:
    role = _custom_role(shop)

    response = admin_client.delete(f"{ADMIN}/roles/{role.pk}")

    assert response.status_code == 204
    assert not Role.objects.filter(pk=role.pk).exists()
    assert AuditEvent.objects.filter(action="role.delete").count() == 1


def test_builtin_roles_cannot_be_deleted(admin_client) -> None:
    role = builtin_role("support")

    response = admin_client.delete(f"{ADMIN}/roles/{role.pk}")

    _problem(response, 409, "builtin_role")
    assert Role.objects.filter(pk=role.pk).exists()


def test_a_role_someone_holds_cannot_be_deleted(shop, admin_client) -> None:
    role = _custom_role(shop)
    MembershipFactory(shop=shop, role=role)

    response = admin_client.delete(f"{ADMIN}/roles/{role.pk}")

    _problem(response, 409, "role_in_use")
    assert Role.objects.filter(pk=role.pk).exists()


# -- customers -------------------------------------------------------------------


def test_customers_list_filters_by_email(shop, admin_client, other_shop) -> None:
    alice = CustomerFactory(shop=shop, email="alice@example.com")
    CustomerFactory(shop=shop, email="bob@example.com")
    CustomerFactory(shop=other_shop, email="alice@globex.example")

    everyone = admin_client.get(f"{ADMIN}/customers")
    alices = admin_client.get(f"{ADMIN}/customers", {"q": "ALICE"})

    assert [c["email"] for c in everyone.json()["items"]] == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert [c["id"] for c in alices.json()["items"]] == [str(alice.pk)]
    assert "password" not in everyone.json()["items"][0]


def test_customer_detail_includes_addresses(shop, admin_client) -> None:
    customer = CustomerFactory(shop=shop)
    home = _address(customer, is_default_shipping=True)
    work = _address(customer, line1="2 Work Rd")

    response = admin_client.get(f"{ADMIN}/customers/{customer.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == customer.email
    assert [a["id"] for a in body["addresses"]] == [str(home.pk), str(work.pk)]
    assert body["addresses"][1]["line1"] == "2 Work Rd"


def test_unknown_customer_is_404(admin_client, other_shop) -> None:
    theirs = CustomerFactory(shop=other_shop)

    _problem(admin_client.get(f"{ADMIN}/customers/{theirs.pk}"), 404)
    _problem(admin_client.get(f"{ADMIN}/customers/nope"), 404)


def test_customers_page_with_a_cursor(shop, admin_client) -> None:
    customers = CustomerFactory.create_batch(5, shop=shop)

    first = admin_client.get(f"{ADMIN}/customers", {"limit": 2}).json()
    second = admin_client.get(
        f"{ADMIN}/customers", {"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    last = admin_client.get(f"{ADMIN}/customers", {"limit": 2, "cursor": second["next_cursor"]})

    ids = [c["id"] for page in (first, second, last.json()) for c in page["items"]]
    assert ids == [str(c.pk) for c in customers]
    assert last.json()["next_cursor"] is None


# -- query budgets ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/staff", "/roles", "/customers"])
def test_list_query_count_does_not_grow_with_the_page(
    shop, admin_client, django_assert_max_num_queries, path
) -> None:
    def make(n: int) -> None:
        for index in range(n):
            if path == "/staff":
                MembershipFactory(shop=shop, role=builtin_role("support"))
            elif path == "/roles":
                _custom_role(shop, f"role-{Role.objects.count()}-{index}")
            else:
                customer = CustomerFactory(shop=shop)
                _address(customer)

    make(3)
    with django_assert_max_num_queries(3):
        small = admin_client.get(f"{ADMIN}{path}")
    make(30)
    with django_assert_max_num_queries(3):
        large = admin_client.get(f"{ADMIN}{path}")

    assert len(small.json()["items"]) >= 3
    assert len(large.json()["items"]) >= 33


def test_customer_detail_query_count_does_not_grow_with_addresses(
    shop, admin_client, django_assert_max_num_queries
) -> None:
    few, many = CustomerFactory(shop=shop), CustomerFactory(shop=shop)
    for _ in range(3):
        _address(few)
    for index in range(30):
        _address(many, line1=f"{index} Long Rd")

    with django_assert_max_num_queries(4):
        small = admin_client.get(f"{ADMIN}/customers/{few.pk}")
    with django_assert_max_num_queries(4):
        large = admin_client.get(f"{ADMIN}/customers/{many.pk}")

    assert len(small.json()["addresses"]) == 3
    assert len(large.json()["addresses"]) == 30


# -- changing custom roles ----------------------------------------------------------


def test_changing_a_custom_role_changes_what_its_holders_may_do(shop) -> None:
    # given a packer role that can only view orders, held by a staff member
    role = _custom_role(shop)
    packer = MembershipFactory(shop=shop, role=role).user
    staff = Client(headers={"X-Shop": shop.slug})
    staff.force_login(packer)
    owner = Client(headers={"X-Shop": shop.slug})
    owner.force_login(MembershipFactory(shop=shop).user)
    assert staff.get(f"{ADMIN}/channels").status_code == 403

    # when an owner grants the role channels.view
    response = _patch(owner, f"/roles/{role.pk}", {"permissions": ["orders.view", "channels.view"]})

    # then the holder may list channels at once, and the change is audited
    assert response.status_code == 200, response.content
    assert "channels.view" in response.json()["permissions"]
    assert staff.get(f"{ADMIN}/channels").status_code == 200
    event = AuditEvent.objects.get(action="role.update")
    assert event.changes["to"]["permissions"] == ["channels.view", "orders.view"]


def test_builtin_roles_cannot_be_changed(admin_client) -> None:
    response = _patch(admin_client, f"/roles/{builtin_role('support').pk}", {"name": "Helpdesk"})
    _problem(response, 409, "builtin_role")
    assert builtin_role("support").name == "Support"


def test_a_role_cannot_be_given_more_than_the_editor_holds(shop) -> None:
    role = _custom_role(shop)
    manager = Role.objects.create(
        shop=shop, key="staffer", name="Staffer", permissions=["staff.manage", "orders.view"]
    )
    editor = Client(headers={"X-Shop": shop.slug})
    editor.force_login(MembershipFactory(shop=shop, role=manager).user)

    response = _patch(editor, f"/roles/{role.pk}", {"permissions": ["refunds.manage"]})

    _problem(response, 403)
    role.refresh_from_db()
    assert role.permissions == ["orders.view"]


@pytest.mark.parametrize(
    "payload",
    [{"name": None}, {"permissions": ["orders.fly"]}, {"name": "x" * 81}, {"permissions": None}],
)
def test_invalid_role_changes_are_refused(shop, admin_client, payload) -> None:
    role = _custom_role(shop)
    response = _patch(admin_client, f"/roles/{role.pk}", payload)
    assert response.status_code == 422
    role.refresh_from_db()
    assert (role.name, role.permissions) == ("Packer", ["orders.view"])
