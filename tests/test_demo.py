"""The demo seed: shop, channel, owner and keys, made once and never shown twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from merchantry.accounts.models import Membership, User
from merchantry.accounts.services import superuser_ensure
from merchantry.catalog.models import Product
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.demo import DEMO_PRODUCTS, DEMO_SECRET_KEY_NAME, DEMO_STAFF_EMAIL, seed_demo
from merchantry.tenancy.cors import VERSION_KEY
from merchantry.tenancy.models import ApiKey, Channel, Shop
from merchantry.tenancy.permissions import ALL
from merchantry.tenancy.services import apikey_authenticate, apikey_revoke
from tests.conftest import run_merchantry, subprocess_env

KEY_RE = re.compile(r"\b(m[ps]k_[A-Za-z0-9_-]{43})\b")


def _keys(text: str) -> dict[str, str]:
    return {raw[:3]: raw for raw in KEY_RE.findall(text)}


@pytest.mark.django_db
def test_first_seed_makes_the_demo_shop_its_owner_and_two_working_keys(media_root) -> None:
    # when the demo is seeded on a fresh installation
    output = "\n".join(seed_demo())

    # then the shop and its web channel exist, for browsers on the local server
    shop = Shop.objects.get(slug="demo")
    assert (shop.name, shop.default_currency, shop.default_country) == ("Demo Shop", "USD", "US")
    channel = Channel.objects.get(shop=shop)
    assert (channel.slug, channel.kind, channel.currency) == ("web", "web", "USD")
    assert channel.allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
    # and the demo staff account is a platform superuser and the shop's owner
    user = User.objects.get(email=DEMO_STAFF_EMAIL)
    assert user.is_superuser
    assert Membership.objects.select_related("role").get(user=user, shop=shop).role.key == "owner"
    # and one publishable and one all-powerful secret key were printed, and work
    keys = _keys(output)
    assert set(keys) == {"mpk", "msk"}
    assert "shown only this once" in output
    publishable = apikey_authenticate(keys["mpk"], kind="publishable")
    assert publishable is not None
    assert publishable.channel == channel
    secret = apikey_authenticate(keys["msk"], kind="secret")
    assert secret is not None
    assert set(secret.permissions) == set(ALL)
    admin = Client(headers={"Authorization": f"Bearer {keys['msk']}"})
    assert admin.get("/api/v1/admin/staff").status_code == 200
    # and the channel sells a catalog, with images, through the Store API
    store = Client(headers={"X-Publishable-Key": keys["mpk"]})
    page = store.get("/api/v1/store/products", {"limit": 100}).json()
    on_sale = Product.objects.filter(
        shop=shop, status="active", channel_listings__is_published=True
    ).count()
    assert Product.objects.filter(shop=shop).count() == DEMO_PRODUCTS
    assert len(page["items"]) == on_sale > DEMO_PRODUCTS // 2
    assert all(item["min_price"]["currency"] == "USD" for item in page["items"])
    assert page["items"][0]["thumbnail_url"]


@pytest.mark.django_db
def test_second_seed_changes_nothing_and_shows_no_key() -> None:
    # given a seeded demo
    seed_demo()
    before = [model.objects.count() for model in (User, Shop, Channel, Membership, ApiKey)]

    # when it is seeded again
    output = "\n".join(seed_demo())

    # then nothing new exists, no key is shown, and it says how to mint new ones
    assert [model.objects.count() for model in (User, Shop, Channel, Membership, ApiKey)] == before
    assert before == [1, 1, 1, 1, 2]
    assert _keys(output) == {}
    assert "already exist" in output
    assert "merchantry apikey create --shop demo --kind publishable --channel web" in output
    assert "merchantry apikey create --shop demo --kind secret --permissions all" in output


@pytest.mark.django_db
def test_a_revoked_demo_key_is_minted_again() -> None:
    # given the demo's secret key was revoked
    first = _keys("\n".join(seed_demo()))
    shop = Shop.objects.get(slug="demo")
    old = ApiKey.objects.get(shop=shop, name=DEMO_SECRET_KEY_NAME)
    apikey_revoke(actor=SYSTEM_ACTOR, shop=shop, key_id=old.pk)

    # when the demo is seeded again
    again = _keys("\n".join(seed_demo()))

    # then only a new secret key is made and shown
    assert set(again) == {"msk"}
    assert again["msk"] != first["msk"]
    assert apikey_authenticate(again["msk"], kind="secret") is not None
    assert ApiKey.objects.filter(shop=shop).live().count() == 2


@pytest.mark.django_db
def test_an_existing_demo_account_becomes_owner_of_the_new_demo_shop() -> None:
    # given an installation seeded before the demo shop existed
    superuser_ensure(email=DEMO_STAFF_EMAIL, full_name="Demo Admin")

    # when the demo is seeded
    output = "\n".join(seed_demo())

    # then the account keeps its password and owns the shop
    assert "already exists" in output
    assert re.search(r"^\s+password\s", output, re.MULTILINE) is None
    membership = Membership.objects.select_related("role", "shop").get(user__email=DEMO_STAFF_EMAIL)
    assert (membership.shop.slug, membership.role.key) == ("demo", "owner")


@pytest.mark.django_db
def test_the_local_server_origin_may_call_the_demo_store_api(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    # given the demo was seeded (its changes committed)
    cache.delete(VERSION_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()

    # when a page served by `make run` asks to call the Store API
    response = client.options(
        "/api/v1/store/customers/me",
        headers={"Origin": "http://localhost:8000", "Access-Control-Request-Method": "GET"},
    )

    # then it may
    assert response["Access-Control-Allow-Origin"] == "http://localhost:8000"


@pytest.mark.slow
def test_merchantry_demo_command_shows_keys_only_the_first_time(tmp_path: Path) -> None:
    # given a migrated, empty installation
    env = subprocess_env(MERCHANTRY_DATA_DIR=str(tmp_path / "data"), LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)
    migrated = run_merchantry("migrate", "--noinput", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    # when `merchantry demo` runs twice, as `make run` does on each start
    first = run_merchantry("demo", env=env, cwd=tmp_path)
    second = run_merchantry("demo", env=env, cwd=tmp_path)

    # then the keys and password appear the first time only
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert set(_keys(first.stdout)) == {"mpk", "msk"}
    assert re.search(r"^\s+password\s+\S+$", first.stdout, re.MULTILINE)
    assert _keys(second.stdout) == {}
    assert re.search(r"^\s+password\s", second.stdout, re.MULTILINE) is None
    assert "Traceback" not in first.stderr + second.stderr
