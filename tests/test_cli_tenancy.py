"""
`merchantry shop|channel|staff|apikey`: the tenancy commands, in real processes
against a migrated data folder, and in-process where the test database helps.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import sqlite3
from collections.abc import Callable
from subprocess import CompletedProcess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from merchantry.accounts.models import Membership, User
from merchantry.core.models import AuditEvent
from merchantry.tenancy.models import ApiKey, Channel, Shop
from merchantry.tenancy.permissions import ALL
from merchantry.tenancy.services import apikey_authenticate
from tests.conftest import run_merchantry, subprocess_env
from tests.factories import PASSWORD, UserFactory

SECRET_KEY_RE = re.compile(r"msk_[A-Za-z0-9_-]{43}")
PUBLISHABLE_KEY_RE = re.compile(r"mpk_[A-Za-z0-9_-]{43}")

Merchantry = Callable[..., CompletedProcess[str]]


# -- real processes -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Merchantry:
    """Run `merchantry ...` against a data folder migrated once for this module."""
    folder = tmp_path_factory.mktemp("cli")
    env = subprocess_env(MERCHANTRY_DATA_DIR=str(folder / "data"), LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)

    def merchantry(*args: str) -> CompletedProcess[str]:
        return run_merchantry(*args, env=env, cwd=folder)

    migrated = merchantry("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    for args in (
        ("shop", "create", "store1", "--name", "Store One", "--currency", "USD", "--country", "US"),
        ("channel", "create", "--shop", "store1", "web", "--origin", "https://store1.example"),
    ):
        result = merchantry(*args)
        assert result.returncode == 0, result.stderr
    merchantry.database = folder / "data" / "merchantry.sqlite3"  # type: ignore[attr-defined]
    return merchantry


def _rows(cli: Merchantry, sql: str, *params: object) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(cli.database)) as db:  # type: ignore[attr-defined]
        return db.execute(sql, params).fetchall()


def _counts(cli: Merchantry) -> tuple[int, ...]:
    tables = ("tenancy_shop", "tenancy_channel", "tenancy_apikey", "accounts_user")
    return tuple(_rows(cli, f"SELECT COUNT(*) FROM {table}")[0][0] for table in tables)  # noqa: S608


@pytest.mark.slow
def test_shop_create_and_list(cli: Merchantry) -> None:
    # when a shop is created with a time zone and a domain
    created = cli(
        "shop", "create", "acme", "--name", "Acme", "--currency", "eur", "--country", "fr",
        "--timezone", "Europe/Paris", "--domain", "Shop.Acme.example",
    )  # fmt: skip
    listed = cli("shop", "list")

    # then it says so, and the list shows it with its domain
    assert created.returncode == 0, created.stderr
    assert created.stdout == "Created shop acme (Acme, EUR, FR, Europe/Paris).\n"
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("acme "))
    assert row.split() == [
        "acme",
        "Acme",
        "EUR",
        "FR",
        "Europe/Paris",
        "active",
        "shop.acme.example",
    ]


@pytest.mark.slow
def test_apikey_create_prints_only_the_key_and_list_never_shows_it(cli: Merchantry) -> None:
    # when a secret and a publishable key are created
    secret = cli(
        "apikey", "create", "--shop", "store1", "--kind", "secret",
        "--permissions", "catalog.view,orders.manage", "--name", "ERP sync",
    )  # fmt: skip
    publishable = cli(
        "apikey", "create", "--shop", "store1", "--kind", "publishable",
        "--channel", "web", "--name", "Storefront",
    )  # fmt: skip

    # then standard output holds the key and nothing else; the notes go to stderr
    assert secret.returncode == 0, secret.stderr
    assert SECRET_KEY_RE.fullmatch(secret.stdout.removesuffix("\n"))
    assert "shown only this once" in secret.stderr
    assert publishable.returncode == 0, publishable.stderr
    assert PUBLISHABLE_KEY_RE.fullmatch(publishable.stdout.removesuffix("\n"))
    raw = secret.stdout.strip()
    # and the key is stored as its hash, with the permissions asked for
    stored = _rows(
        cli,
        "SELECT permissions, revoked_at FROM tenancy_apikey WHERE key_hash = ?",
        hashlib.sha256(raw.encode()).hexdigest(),
    )
    assert stored == [('["catalog.view", "orders.manage", "orders.view"]', None)]

    # when the keys are listed
    listed = cli("apikey", "list", "--shop", "store1")

    # then only their prefixes show
    assert listed.returncode == 0
    assert raw not in listed.stdout
    assert publishable.stdout.strip() not in listed.stdout
    assert f"{raw[:12]}…" in listed.stdout
    assert "ERP sync" in listed.stdout

    # when the secret key is revoked by its prefix
    revoked = cli("apikey", "revoke", "--shop", "store1", raw[:12])

    # then it is revoked
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == f"Revoked key 'ERP sync' ({raw[:12]}…) of shop store1.\n"
    assert _rows(
        cli,
        "SELECT revoked_at IS NOT NULL FROM tenancy_apikey WHERE key_hash = ?",
        hashlib.sha256(raw.encode()).hexdigest(),
    ) == [(1,)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("_case", "args", "message"),
    [
        (
            "unknown shop",
            ("channel", "list", "--shop", "nope"),
            "No shop with the slug 'nope'; `merchantry shop list` shows them.",
        ),
        (
            "invalid currency",
            ("shop", "create", "bad", "--name", "Bad", "--currency", "XYZ", "--country", "US"),
            "--currency: 'XYZ' is not an ISO 4217 currency code.",
        ),
        (
            "duplicate slug",
            ("shop", "create", "store1", "--name", "Again", "--currency", "USD", "--country", "US"),
            "SLUG: Shop with this Slug already exists.",
        ),
        (
            "unknown permission",
            ("apikey", "create", "--shop", "store1", "--kind", "secret",
             "--permissions", "catalog.view,catalog.fly", "--name", "x"),
            "--permissions: Unknown permissions: catalog.fly.",
        ),
        (
            "publishable without channel",
            ("apikey", "create", "--shop", "store1", "--kind", "publishable", "--name", "x"),
            "--channel: A publishable key belongs to a channel.",
        ),
        (
            "duplicate channel",
            ("channel", "create", "--shop", "store1", "web"),
            "CHANNEL_SLUG: This value is already in use.",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_one_readable_line_and_a_non_zero_exit(
    cli: Merchantry, _case: str, args: tuple[str, ...], message: str
) -> None:
    # given what exists
    before = _counts(cli)

    # when a command gets bad input
    result = cli(*args)

    # then it exits non-zero with one line saying why, and changes nothing
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"CommandError: {message}\n"
    assert _counts(cli) == before


@pytest.mark.slow
def test_staff_create_in_a_real_process_shows_the_password_once(cli: Merchantry) -> None:
    # when a new person is made an owner
    created = cli("staff", "create", "--shop", "store1", "--email", "ana@example.com",
                  "--role", "owner", "--name", "Ana")  # fmt: skip

    # then the one-time password is shown, saying it is shown once
    assert created.returncode == 0, created.stderr
    assert "shown only this once" in created.stdout
    assert re.search(r"^    password  \S{16}$", created.stdout, re.MULTILINE)
    assert _rows(
        cli,
        "SELECT r.key FROM accounts_membership m JOIN accounts_user u ON u.id = m.user_id "
        "JOIN accounts_role r ON r.id = m.role_id WHERE u.email = ?",
        "ana@example.com",
    ) == [("owner",)]


# -- in-process ---------------------------------------------------------------------


def _call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_created_secret_key_works_against_the_admin_api(shop) -> None:
    # when a secret key is created from the command line
    out, err = _call(
        "apikey", "create", "--shop", shop.slug, "--kind", "secret",
        "--permissions", "staff.view", "--name", "Reporting",
    )  # fmt: skip

    # then stdout is the key alone, and the key calls the Admin API
    raw = out.removesuffix("\n")
    assert SECRET_KEY_RE.fullmatch(raw)
    assert raw not in err
    response = Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/admin/staff")
    assert response.status_code == 200
    key = ApiKey.objects.get(shop=shop)
    assert key.permissions == ["staff.view"]
    assert key.name == "Reporting"
    # and the system actor created it, on the record
    event = AuditEvent.objects.get(action="apikey.create", shop_id=shop.pk)
    assert event.actor == "system"


@pytest.mark.django_db
def test_permissions_all_grants_every_permission(shop) -> None:
    _call("apikey", "create", "--shop", shop.slug, "--kind", "secret",
          "--permissions", "all", "--name", "Everything")  # fmt: skip
    assert ApiKey.objects.get(shop=shop).permissions == sorted(ALL)


@pytest.mark.django_db
def test_created_publishable_key_authenticates_for_its_channel(shop, channel) -> None:
    out, _ = _call("apikey", "create", "--shop", shop.slug, "--kind", "publishable",
                   "--channel", channel.slug, "--name", "Storefront")  # fmt: skip
    api_key = apikey_authenticate(out.strip(), kind="publishable")
    assert api_key is not None
    assert api_key.channel == channel


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "args", "message"),
    [
        ("secret key without permissions", ("--kind", "secret", "--name", "x"),
         "A secret key needs --permissions: codes separated by commas "
         "(e.g. catalog.view,orders.manage), or all."),
        ("unknown channel", ("--kind", "publishable", "--channel", "pos", "--name", "x"),
         "No channel 'pos' in shop acme; `merchantry channel list --shop acme` shows them."),
        ("publishable with permissions",
         ("--kind", "publishable", "--channel", "web", "--permissions", "all", "--name", "x"),
         "--permissions: Publishable keys carry no permissions."),
        ("blank name", ("--kind", "secret", "--permissions", "all", "--name", " "),
         "--name: Give the key a name that says what uses it."),
    ],
)  # fmt: skip
def test_apikey_create_refuses_bad_input(shop, channel, _case, args, message) -> None:
    with pytest.raises(CommandError) as excinfo:
        _call("apikey", "create", "--shop", shop.slug, *args)
    assert str(excinfo.value) == message
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_apikey_revoke_by_id_stops_the_key(shop) -> None:
    # given a working key
    raw, _ = _call("apikey", "create", "--shop", shop.slug, "--kind", "secret",
                   "--permissions", "staff.view", "--name", "Old")  # fmt: skip
    key = ApiKey.objects.get(shop=shop)

    # when it is revoked by id, twice
    first, _ = _call("apikey", "revoke", "--shop", shop.slug, str(key.pk))
    second, _ = _call("apikey", "revoke", "--shop", shop.slug, str(key.pk))

    # then it no longer authenticates, and the second revocation says so
    assert first == f"Revoked key 'Old' ({key.prefix}…) of shop acme.\n"
    assert second == f"Key 'Old' ({key.prefix}…) was already revoked.\n"
    client = Client(headers={"Authorization": f"Bearer {raw.strip()}"})
    assert client.get("/api/v1/admin/staff").status_code == 401
    assert AuditEvent.objects.filter(action="apikey.revoke").count() == 1


@pytest.mark.django_db
def test_apikey_revoke_cannot_reach_another_shops_key(shop, other_shop) -> None:
    # given a key of another shop
    _call("apikey", "create", "--shop", other_shop.slug, "--kind", "secret",
          "--permissions", "all", "--name", "Theirs")  # fmt: skip
    theirs = ApiKey.objects.get(shop=other_shop)

    # when it is named from this shop, by id or by prefix
    for value in (str(theirs.pk), theirs.prefix):
        with pytest.raises(CommandError) as excinfo:
            _call("apikey", "revoke", "--shop", shop.slug, value)

        # then it is not found, and stays live
        assert str(excinfo.value).startswith(f"No API key {value!r} in shop acme;")
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.django_db
def test_channel_create_defaults_and_list(shop) -> None:
    # when a channel is created with only a slug and origins
    origins = ("--origin", "https://Popup.Example.com", "--origin", "http://localhost:3000")
    out, _ = _call("channel", "create", "--shop", shop.slug, "pop-up", *origins)

    # then it takes the shop's currency and country and a name from its slug
    channel = Channel.objects.get(shop=shop, slug="pop-up")
    assert (channel.name, channel.kind, channel.currency, channel.default_country) == (
        "Pop Up",
        "web",
        "USD",
        "US",
    )
    assert channel.allowed_origins == ["http://localhost:3000", "https://popup.example.com"]
    assert out == (
        "Created channel pop-up (Pop Up, web, USD) in shop acme; allowed origins: "
        "http://localhost:3000, https://popup.example.com.\n"
    )
    listed, _ = _call("channel", "list", "--shop", shop.slug)
    assert listed.splitlines()[1].split() == [
        "pop-up", "Pop", "Up", "web", "USD", "US", "yes",
        "http://localhost:3000,https://popup.example.com",
    ]  # fmt: skip


@pytest.mark.django_db
def test_staff_create_new_account_password_signs_in(shop, client: Client) -> None:
    # when a new person is added as an owner
    out, _ = _call("staff", "create", "--shop", shop.slug, "--email", "ana@example.com",
                   "--role", "owner", "--name", "Ana")  # fmt: skip

    # then the printed password signs them in, and they own the shop
    password = re.search(r"^    password  (\S+)$", out, re.MULTILINE).group(1)
    assert "shown only this once" in out
    assert client.login(username="ana@example.com", password=password)
    membership = Membership.objects.select_related("role").get(shop=shop)
    assert (membership.user.email, membership.role.key) == ("ana@example.com", "owner")


@pytest.mark.django_db
def test_staff_create_adds_an_existing_account_without_touching_its_password(shop) -> None:
    # given someone who already has an account
    user = UserFactory(email="bo@example.com")

    # when they are given a role in the shop
    out, _ = _call("staff", "create", "--shop", shop.slug, "--email", "bo@example.com",
                   "--role", "support")  # fmt: skip

    # then the account is added, and its password is neither shown nor changed
    assert out == (
        "Added the existing account bo@example.com to shop acme with the role support; "
        "its password is unchanged.\n"
    )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert Membership.objects.get(shop=shop).user == user
    listed, _ = _call("staff", "list", "--shop", shop.slug)
    assert "bo@example.com" in listed
    assert "support" in listed


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "args", "message"),
    [
        ("unknown role", ("--email", "cy@example.com", "--role", "wizard"),
         "--role: No role 'wizard' in this shop."),
        ("bad email", ("--email", "not-an-email", "--role", "owner"),
         "--email: Enter a valid email address."),
    ],
)  # fmt: skip
def test_staff_create_refuses_bad_input(shop, _case, args, message) -> None:
    with pytest.raises(CommandError) as excinfo:
        _call("staff", "create", "--shop", shop.slug, *args)
    assert str(excinfo.value) == message
    assert not User.objects.exists()
    assert not Membership.objects.exists()


@pytest.mark.django_db
def test_shop_create_in_process_is_audited_and_rejects_a_bad_time_zone() -> None:
    out, _ = _call("shop", "create", "north", "--name", "North", "--currency", "CAD",
                   "--country", "CA", "--timezone", "America/Toronto")  # fmt: skip
    assert out == "Created shop north (North, CAD, CA, America/Toronto).\n"
    assert AuditEvent.objects.filter(action="shop.create", actor="system").count() == 1

    with pytest.raises(CommandError) as excinfo:
        _call("shop", "create", "south", "--name", "South", "--currency", "USD",
              "--country", "US", "--timezone", "Mars/Olympus")  # fmt: skip
    assert str(excinfo.value) == "--timezone: 'Mars/Olympus' is not a known time zone."
    assert list(Shop.objects.values_list("slug", flat=True)) == ["north"]
