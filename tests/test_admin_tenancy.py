"""
The admin is tenant-aware: staff see and change only their current shop,
another shop's objects are "not found", permissions come from shop roles,
and the shop switcher only offers the staff member's own shops.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from merchantry.accounts.models import Customer, Membership, Role, User
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.audit import record
from merchantry.core.models import AuditEvent
from merchantry.tenancy.admin_scope import SESSION_KEY
from merchantry.tenancy.keys import hash_key
from merchantry.tenancy.models import ApiKey, Channel, Domain
from merchantry.tenancy.services import apikey_create
from tests.factories import (
    ChannelFactory,
    CustomerFactory,
    DomainFactory,
    MembershipFactory,
    ShopFactory,
    UserFactory,
    builtin_role,
)

pytestmark = pytest.mark.django_db


# -- fixtures -------------------------------------------------------------------------


def staff_client(user: User, shop=None) -> Client:
    """A browser signed in as ``user``, working in ``shop`` when given."""
    client = Client()
    client.force_login(user)
    if shop is not None:
        session = client.session
        session[SESSION_KEY] = shop.pk
        session.save()
    return client


def member(shop, role: str = "owner", email: str | None = None) -> User:
    user = UserFactory(**({"email": email} if email else {}))
    MembershipFactory(user=user, shop=shop, role=builtin_role(role))
    return user


@pytest.fixture
def two_shops(shop, other_shop):
    """One of each tenant-owned row in shop A (Acme) and shop B (Globex), labelled."""
    rows = {}
    for label, s in (("a", shop), ("b", other_shop)):
        rows[f"channel_{label}"] = ChannelFactory(shop=s, name=f"Channel-{label.upper()}-x1")
        rows[f"key_{label}"] = apikey_create(
            actor=SYSTEM_ACTOR, shop=s, kind="secret", name=f"Key-{label.upper()}-x1"
        ).api_key
        rows[f"member_{label}"] = MembershipFactory(
            shop=s, user=UserFactory(email=f"member-{label}-x1@example.com")
        )
        rows[f"customer_{label}"] = CustomerFactory(
            shop=s, email=f"customer-{label}-x1@example.com"
        )
        rows[f"domain_{label}"] = DomainFactory(shop=s, host=f"domain-{label}-x1.example.com")
    return rows


@pytest.fixture
def owner_a(shop) -> User:
    return member(shop, "owner", "owner-a@example.com")


# Each screen, the row in A and in B it must show or hide, and the text naming them.
SCREENS = [
    ("tenancy_channel", "channel", "Channel-{}-x1"),
    ("tenancy_apikey", "key", "Key-{}-x1"),
    ("accounts_membership", "member", "member-{}-x1@example.com"),
    ("accounts_customer", "customer", "customer-{}-x1@example.com"),
    ("tenancy_domain", "domain", "domain-{}-x1.example.com"),
]


# -- the tenant wall ------------------------------------------------------------------


@pytest.mark.parametrize(("route", "row", "label"), SCREENS)
def test_changelist_shows_only_the_current_shops_rows(
    two_shops, owner_a, shop, route, row, label
) -> None:
    # given an owner of shop A working in A
    client = staff_client(owner_a, shop)

    # when they open the list
    response = client.get(reverse(f"admin:{route}_changelist"))

    # then A's row is listed and B's is not
    body = response.content.decode()
    assert response.status_code == 200
    assert label.format("A").lower() in body.lower()
    assert label.format("B").lower() not in body.lower()


@pytest.mark.parametrize(("route", "row", "label"), SCREENS)
def test_another_shops_object_is_not_found(two_shops, owner_a, shop, route, row, label) -> None:
    # given an owner of shop A and an object of shop B
    client = staff_client(owner_a, shop)
    other = two_shops[f"{row}_b"]

    # when they open B's object by its URL
    response = client.get(reverse(f"admin:{route}_change", args=[other.pk]), follow=True)

    # then it is answered as missing, and nothing of B shows
    body = response.content.decode()
    assert response.redirect_chain == [(reverse("admin:index"), 302)]
    assert "doesn\N{RIGHT SINGLE QUOTATION MARK}t exist" in body
    assert label.format("B").lower() not in body.lower()


def test_posting_a_change_to_another_shops_channel_changes_nothing(
    two_shops, owner_a, shop
) -> None:
    # given an owner of A and B's channel
    client = staff_client(owner_a, shop)
    channel_b = two_shops["channel_b"]

    # when they post a change to it
    response = client.post(
        reverse("admin:tenancy_channel_change", args=[channel_b.pk]),
        {
            "name": "Hijacked",
            "slug": channel_b.slug,
            "kind": "web",
            "currency": "EUR",
            "default_country": "DE",
            "allowed_origins": "https://evil.example.com",
            "is_active": "on",
        },
    )

    # then the change is refused as not found and the channel is unchanged
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    channel_b.refresh_from_db()
    assert channel_b.name == "Channel-B-x1"
    assert channel_b.allowed_origins == []
    assert not AuditEvent.objects.filter(action="channel.update").exists()


def test_deleting_another_shops_channel_deletes_nothing(two_shops, owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    channel_b = two_shops["channel_b"]

    response = client.post(
        reverse("admin:tenancy_channel_delete", args=[channel_b.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert Channel.objects.filter(pk=channel_b.pk).exists()


def test_new_rows_belong_to_the_current_shop_whatever_is_posted(owner_a, shop, other_shop) -> None:
    # given an owner of A who posts B's id as the shop of a new channel
    client = staff_client(owner_a, shop)

    response = client.post(
        reverse("admin:tenancy_channel_add"),
        {
            "shop": other_shop.pk,
            "name": "Pop-up",
            "slug": "popup",
            "kind": "pos",
            "currency": "USD",
            "default_country": "US",
            "allowed_origins": "https://popup.example.com/\nhttps://popup.example.com",
            "is_active": "on",
        },
    )

    # then the channel is created in A, through the service (normalised, audited)
    assert response.status_code == 302
    channel = Channel.objects.get(slug="popup")
    assert channel.shop_id == shop.pk
    assert channel.allowed_origins == ["https://popup.example.com"]
    event = AuditEvent.objects.get(action="channel.create")
    assert event.shop_id == shop.pk
    assert event.actor == f"user:{owner_a.pk}"
    assert not Channel.objects.filter(shop=other_shop).exists()


def test_service_validation_errors_show_on_the_form(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)

    response = client.post(
        reverse("admin:tenancy_channel_add"),
        {
            "name": "Web",
            "slug": "web2",
            "kind": "web",
            "currency": "USD",
            "default_country": "US",
            "allowed_origins": "not an origin",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert "An origin is scheme://host[:port]" in response.content.decode()
    assert not Channel.objects.filter(slug="web2").exists()


# -- switching shops ------------------------------------------------------------------


def test_switching_to_a_shop_without_membership_is_404_and_keeps_the_current_shop(
    owner_a, shop, other_shop
) -> None:
    client = staff_client(owner_a, shop)

    response = client.post(reverse("admin-shop-switch"), {"shop": other_shop.pk})

    assert response.status_code == 404
    assert client.session[SESSION_KEY] == shop.pk


def test_switching_to_a_member_shop_changes_what_the_lists_show(
    two_shops, shop, other_shop
) -> None:
    # given a staff member of both shops, working in A
    user = member(shop, "owner")
    MembershipFactory(user=user, shop=other_shop, role=builtin_role("admin"))
    client = staff_client(user, shop)

    # when they switch to B from A's channel list
    response = client.post(
        reverse("admin-shop-switch"),
        {"shop": other_shop.pk, "next": reverse("admin:tenancy_channel_changelist")},
    )

    # then they land on the same list, now showing B's channels
    assert response.status_code == 302
    assert response.url == reverse("admin:tenancy_channel_changelist")
    assert client.session[SESSION_KEY] == other_shop.pk
    body = client.get(response.url).content.decode()
    assert "Channel-B-x1" in body
    assert "Channel-A-x1" not in body


def test_switching_from_an_object_page_goes_to_its_list(two_shops, shop, other_shop) -> None:
    user = member(shop, "owner")
    MembershipFactory(user=user, shop=other_shop)
    client = staff_client(user, shop)
    page = reverse("admin:tenancy_channel_change", args=[two_shops["channel_a"].pk])

    response = client.post(reverse("admin-shop-switch"), {"shop": other_shop.pk, "next": page})

    assert response.url == reverse("admin:tenancy_channel_changelist")


def test_switch_refuses_get_and_foreign_redirects(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)

    assert client.get(reverse("admin-shop-switch"), {"shop": shop.pk}).status_code == 405
    response = client.post(
        reverse("admin-shop-switch"), {"shop": shop.pk, "next": "https://evil.example.com/"}
    )
    assert response.url == reverse("admin:index")


def test_switch_needs_the_csrf_token(owner_a, shop, other_shop) -> None:
    MembershipFactory(user=owner_a, shop=other_shop)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner_a)

    response = client.post(reverse("admin-shop-switch"), {"shop": other_shop.pk})

    assert response.status_code == 403
    assert client.session.get(SESSION_KEY) != other_shop.pk


def test_session_shop_is_revalidated_on_every_request(two_shops, shop, other_shop) -> None:
    # given a staff member working in B, whose membership of B is then removed
    user = member(shop, "owner")
    membership_b = MembershipFactory(user=user, shop=other_shop)
    client = staff_client(user, other_shop)
    membership_b.delete()

    # when they open the channel list
    body = client.get(reverse("admin:tenancy_channel_changelist")).content.decode()

    # then they are back in their remaining shop, A
    assert "Channel-A-x1" in body
    assert "Channel-B-x1" not in body
    assert client.session[SESSION_KEY] == shop.pk


def test_switcher_lists_the_users_shops_with_the_current_one_marked(shop, other_shop) -> None:
    third = ShopFactory(name="Initech", slug="initech")
    user = member(shop, "owner")
    MembershipFactory(user=user, shop=third)
    client = staff_client(user, third)

    body = client.get(reverse("admin:index")).content.decode()

    assert 'data-shop="acme"' in body
    assert 'data-shop="initech" aria-current="true"' in body
    assert 'data-shop="globex"' not in body
    assert reverse("admin-shop-switch") in body


def test_superuser_sees_and_may_switch_to_every_shop(two_shops, shop, other_shop) -> None:
    root = User.objects.create_superuser(email="root@example.com", password="x" * 12)
    client = staff_client(root)

    shops_page = client.get(reverse("admin:tenancy_shop_changelist")).content.decode()
    switched = client.post(reverse("admin-shop-switch"), {"shop": other_shop.pk})
    channels = client.get(reverse("admin:tenancy_channel_changelist")).content.decode()

    assert "Acme" in shops_page
    assert "Globex" in shops_page
    assert 'data-shop="acme"' in shops_page
    assert 'data-shop="globex"' in shops_page
    assert switched.status_code == 302
    assert "Channel-B-x1" in channels
    assert "Channel-A-x1" not in channels


def test_staff_in_no_shop_see_a_notice_and_no_tenant_data(two_shops) -> None:
    loner = UserFactory(email="loner@example.com")
    client = staff_client(loner)

    index = client.get(reverse("admin:index"))
    channels = client.get(reverse("admin:tenancy_channel_changelist"))

    assert index.status_code == 200
    assert "You are not a member of any shop" in index.content.decode()
    assert "Channel-A-x1" not in index.content.decode()
    assert channels.status_code == 403


# -- permissions from shop roles --------------------------------------------------------


def test_read_only_staff_can_view_but_not_change_add_or_delete(two_shops, shop) -> None:
    viewer = member(shop, "read_only")
    client = staff_client(viewer, shop)
    channel = two_shops["channel_a"]
    change_url = reverse("admin:tenancy_channel_change", args=[channel.pk])

    listing = client.get(reverse("admin:tenancy_channel_changelist"))
    detail = client.get(change_url)
    change = client.post(change_url, {"name": "Renamed", "slug": channel.slug, "kind": "web"})
    add = client.get(reverse("admin:tenancy_channel_add"))
    delete = client.post(
        reverse("admin:tenancy_channel_delete", args=[channel.pk]), {"post": "yes"}
    )

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert change.status_code == 403
    assert add.status_code == 403
    assert delete.status_code == 403
    channel.refresh_from_db()
    assert channel.name == "Channel-A-x1"


def test_catalog_manager_cannot_open_staff_memberships(two_shops, shop) -> None:
    manager = member(shop, "catalog_manager")
    client = staff_client(manager, shop)

    listing = client.get(reverse("admin:accounts_membership_changelist"))
    index = client.get(reverse("admin:index")).content.decode()

    assert listing.status_code == 403
    assert reverse("admin:accounts_membership_changelist") not in index
    # but the channels their role may view are there
    assert reverse("admin:tenancy_channel_changelist") in index


@pytest.mark.parametrize(
    "route",
    [
        "admin:accounts_user_changelist",
        "admin:core_featureflag_changelist",
        "admin:core_periodicjobstate_changelist",
        "admin:django_tasks_database_dbtaskresult_changelist",
        "admin:otp_totp_totpdevice_changelist",
    ],
)
def test_platform_screens_are_for_superusers_only(owner_a, shop, route) -> None:
    client = staff_client(owner_a, shop)

    response = client.get(reverse(route))

    assert response.status_code == 403
    assert reverse(route) not in client.get(reverse("admin:index")).content.decode()


def test_staff_cannot_see_other_shops_in_the_shop_screen(owner_a, shop, other_shop) -> None:
    client = staff_client(owner_a, shop)

    listing = client.get(reverse("admin:tenancy_shop_changelist")).content.decode()
    other = client.get(reverse("admin:tenancy_shop_change", args=[other_shop.pk]))

    assert "Acme" in listing
    assert "Globex" not in listing
    assert other.status_code == 302
    assert client.get(reverse("admin:tenancy_shop_add")).status_code == 403


def test_shop_settings_change_through_the_service(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)

    response = client.post(
        reverse("admin:tenancy_shop_change", args=[shop.pk]),
        {
            "name": "Acme Corp",
            "default_currency": "usd",
            "default_country": "US",
            "timezone": "Europe/Paris",
            "status": "suspended",  # not on an owner's form: ignored
        },
    )

    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.name == "Acme Corp"
    assert shop.timezone == "Europe/Paris"
    assert shop.status == "active"
    assert AuditEvent.objects.filter(action="shop.update", shop_id=shop.pk).count() == 1


def test_audit_events_are_limited_to_the_current_shop(owner_a, shop, other_shop) -> None:
    record(SYSTEM_ACTOR, "probe.a-x1", shop_id=shop.pk)
    record(SYSTEM_ACTOR, "probe.b-x1", shop_id=other_shop.pk)
    record(SYSTEM_ACTOR, "probe.platform-x1")
    client = staff_client(owner_a, shop)

    body = client.get(reverse("admin:core_auditevent_changelist")).content.decode()

    assert "probe.a-x1" in body
    assert "probe.b-x1" not in body
    assert "probe.platform-x1" not in body


# -- API keys -------------------------------------------------------------------------


def test_api_key_is_shown_once_and_stored_hashed(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)

    response = client.post(
        reverse("admin:tenancy_apikey_add"),
        {"name": "ERP sync", "kind": "secret", "permissions": ["catalog.manage"]},
    )

    body = response.content.decode()
    key = ApiKey.objects.get(name="ERP sync")
    raw = body.split('id="shown-once-secret" type="text" readonly value="', 1)[1].split('"', 1)[0]
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert raw.startswith("msk_")
    assert key.shop_id == shop.pk
    assert key.key_hash == hash_key(raw)
    assert key.permissions == ["catalog.manage", "catalog.view"]
    assert key.created_by_id == owner_a.pk
    # and never again: not on the list, not on the key's page
    listing = client.get(reverse("admin:tenancy_apikey_changelist")).content.decode()
    detail = client.get(reverse("admin:tenancy_apikey_change", args=[key.pk])).content.decode()
    assert raw not in listing
    assert raw not in detail
    assert key.key_hash not in listing
    assert key.key_hash not in detail
    assert f"{key.prefix}…" in listing


def test_publishable_key_cannot_use_another_shops_channel(owner_a, shop, other_channel) -> None:
    client = staff_client(owner_a, shop)

    response = client.post(
        reverse("admin:tenancy_apikey_add"),
        {"name": "Storefront", "kind": "publishable", "channel": other_channel.pk},
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.filter(name="Storefront").exists()


def test_revoke_action_revokes_only_the_current_shops_keys(two_shops, owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    key_a, key_b = two_shops["key_a"], two_shops["key_b"]

    response = client.post(
        reverse("admin:tenancy_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key_a.pk, key_b.pk]},
    )

    assert response.status_code == 302
    key_a.refresh_from_db()
    key_b.refresh_from_db()
    assert key_a.revoked_at is not None
    assert key_b.revoked_at is None
    assert AuditEvent.objects.filter(action="apikey.revoke").count() == 1


# -- staff and roles -------------------------------------------------------------------


def test_adding_staff_creates_the_account_and_shows_its_password_once(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    role = builtin_role("support")

    response = client.post(
        reverse("admin:accounts_membership_add"),
        {"email": "new-hire@example.com", "full_name": "New Hire", "role": role.pk},
    )

    body = response.content.decode()
    password = body.split('readonly value="', 1)[1].split('"', 1)[0]
    user = User.objects.get(email="new-hire@example.com")
    assert response.status_code == 200
    assert user.check_password(password)
    assert user.is_staff
    assert Membership.objects.get(user=user).shop_id == shop.pk
    assert AuditEvent.objects.filter(action="membership.create", shop_id=shop.pk).count() == 1


def test_admin_cannot_grant_the_owner_role(two_shops, shop) -> None:
    admin_user = member(shop, "admin")
    client = staff_client(admin_user, shop)
    target = two_shops["member_a"]
    target.role = builtin_role("support")
    target.save()

    response = client.post(
        reverse("admin:accounts_membership_change", args=[target.pk]),
        {"role": builtin_role("owner").pk},
    )

    assert response.status_code == 200
    assert "Only an owner can grant or remove the owner role." in response.content.decode()
    target.refresh_from_db()
    assert target.role.key == "support"


def test_removing_the_last_owner_is_refused_with_a_message(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    own = Membership.objects.get(user=owner_a, shop=shop)

    response = client.post(
        reverse("admin:accounts_membership_delete", args=[own.pk]), {"post": "yes"}, follow=True
    )

    assert "A shop keeps at least one owner." in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_role_choices_exclude_other_shops_custom_roles(owner_a, shop, other_shop) -> None:
    Role.objects.create(shop=other_shop, key="globex-only", name="Globex-only role")
    Role.objects.create(shop=shop, key="acme-only", name="Acme-only role")
    client = staff_client(owner_a, shop)

    form = client.get(reverse("admin:accounts_membership_add")).content.decode()
    roles = client.get(reverse("admin:accounts_role_changelist")).content.decode()

    assert "Acme-only role" in form
    assert "Acme-only role" in roles
    assert "Globex-only role" not in form
    assert "Globex-only role" not in roles


def test_custom_role_is_created_with_chosen_permissions(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)

    response = client.post(
        reverse("admin:accounts_role_add"),
        {"key": "packer", "name": "Packer", "permissions": ["orders.view", "inventory.manage"]},
    )

    assert response.status_code == 302
    role = Role.objects.get(shop=shop, key="packer")
    assert role.permissions == ["inventory.manage", "orders.view"]
    assert AuditEvent.objects.filter(action="role.create", shop_id=shop.pk).count() == 1


def test_custom_role_permissions_can_be_changed(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    role = Role.objects.create(shop=shop, key="packer", name="Packer", permissions=["orders.view"])

    form = client.get(reverse("admin:accounts_role_change", args=[role.pk]))
    response = client.post(
        reverse("admin:accounts_role_change", args=[role.pk]),
        {"name": "Packers", "permissions": ["orders.view", "inventory.manage"]},
    )

    assert form.status_code == 200
    assert b'value="orders.view"' in form.content
    assert response.status_code == 302
    role.refresh_from_db()
    assert (role.name, role.permissions) == ("Packers", ["inventory.manage", "orders.view"])
    assert AuditEvent.objects.filter(action="role.update", shop_id=shop.pk).count() == 1


def test_built_in_roles_cannot_be_changed_in_the_admin(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    support = builtin_role("support")
    client.post(
        reverse("admin:accounts_role_change", args=[support.pk]),
        {"name": "Helpdesk", "permissions": ["orders.view"]},
    )
    support.refresh_from_db()
    assert support.name == "Support"


def test_built_in_roles_cannot_be_deleted(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    support = builtin_role("support")

    response = client.post(
        reverse("admin:accounts_role_delete", args=[support.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Role.objects.filter(pk=support.pk).exists()


def test_customers_are_read_only_and_hide_the_password(two_shops, owner_a, shop) -> None:
    client = staff_client(owner_a, shop)
    customer = two_shops["customer_a"]

    detail = client.get(reverse("admin:accounts_customer_change", args=[customer.pk]))
    change = client.post(
        reverse("admin:accounts_customer_change", args=[customer.pk]), {"email": "x@example.com"}
    )

    assert detail.status_code == 200
    assert customer.password not in detail.content.decode()
    assert change.status_code == 403
    assert Customer.objects.get(pk=customer.pk).email == "customer-a-x1@example.com"


def test_domains_are_added_through_the_service(owner_a, shop) -> None:
    client = staff_client(owner_a, shop)

    response = client.post(
        reverse("admin:tenancy_domain_add"), {"host": "Shop.Acme.Example.com.", "is_primary": "on"}
    )

    assert response.status_code == 302
    domain = Domain.objects.get(shop=shop)
    assert domain.host == "shop.acme.example.com"
    assert AuditEvent.objects.filter(action="domain.add", shop_id=shop.pk).count() == 1


# -- the documented roles --------------------------------------------------------------


def test_authentication_docs_table_matches_the_builtin_roles() -> None:
    # The roles table in docs/authentication.md is what staff read to pick a
    # role; it must say exactly what the code grants.
    from pathlib import Path

    from merchantry.tenancy.permissions import BUILTIN_ROLES, Perm

    text = (Path(__file__).resolve().parent.parent / "docs" / "authentication.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `") and "✓" in line]
    header = next(line for line in text.splitlines() if line.startswith("| Permission |"))
    names = [cell.strip() for cell in header.strip("|").split("|")[1:]]
    keys = {name: key for key, (name, _) in BUILTIN_ROLES.items()}
    documented = {keys[name]: set() for name in names}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        code = cells[0].strip("`")
        for name, mark in zip(names, cells[1:], strict=True):
            if mark == "✓":
                documented[keys[name]].add(code)

    assert {line.split("`")[1] for line in rows} == {p.value for p in Perm}
    assert documented == {key: set(perms) for key, (_, perms) in BUILTIN_ROLES.items()}


def test_superuser_creates_a_shop_with_its_domain(db) -> None:
    root = User.objects.create_superuser(email="root@example.com", password="x" * 12)
    client = staff_client(root)

    response = client.post(
        reverse("admin:tenancy_shop_add"),
        {
            "name": "Initech",
            "slug": "initech",
            "default_currency": "usd",
            "default_country": "us",
            "timezone": "UTC",
            "domain": "initech.example.com",
        },
    )

    assert response.status_code == 302
    created = Domain.objects.select_related("shop").get(host="initech.example.com")
    assert created.shop.slug == "initech"
    assert created.shop.default_currency == "USD"
    assert AuditEvent.objects.filter(action="shop.create", shop_id=created.shop_id).count() == 1


def test_a_new_admin_session_starts_in_the_shop_of_the_host(shop, other_shop) -> None:
    # given a member of two shops, one of which owns the admin's host name
    from tests.factories import DomainFactory

    user = member(shop)
    MembershipFactory(user=user, shop=other_shop, role=builtin_role("owner"))
    DomainFactory(shop=other_shop, host="testserver")
    client = staff_client(user)

    # when they open the admin without having chosen a shop
    response = client.get("/admin/")

    # then they work in the host's shop, not the first by name
    assert response.status_code == 200
    assert client.session[SESSION_KEY] == other_shop.pk


def test_the_host_shop_is_not_chosen_for_someone_who_does_not_work_there(shop, other_shop):
    from tests.factories import DomainFactory

    user = member(shop)
    DomainFactory(shop=other_shop, host="testserver")
    client = staff_client(user)

    client.get("/admin/")

    assert client.session[SESSION_KEY] == shop.pk
