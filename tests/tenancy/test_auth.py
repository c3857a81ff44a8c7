"""Keys select exactly one shop; revoked, foreign and wrong-kind keys are refused."""

from __future__ import annotations

import pytest
from django.test import Client

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.keys import hash_key
from merchantry.tenancy.models import ApiKey
from merchantry.tenancy.services import apikey_create, apikey_revoke
from tests.factories import publishable_key, secret_key

pytestmark = pytest.mark.django_db


def test_keys_are_stored_hashed_and_recognisable(shop, channel) -> None:
    created = apikey_create(actor=SYSTEM_ACTOR, shop=shop, kind="secret", name="ERP")
    public = publishable_key(channel)

    row = ApiKey.objects.get(pk=created.api_key.pk)
    assert created.raw.startswith("msk_")
    assert public.startswith("mpk_")
    assert row.key_hash == hash_key(created.raw)
    stored = " ".join(str(v) for v in ApiKey.objects.values_list(flat=False).get(pk=row.pk))
    assert created.raw not in stored
    assert row.prefix == created.raw[:12]


def test_publishable_key_cannot_call_the_admin_api(channel) -> None:
    key = publishable_key(channel)
    as_bearer = Client(headers={"Authorization": f"Bearer {key}"}).get("/api/v1/admin/")
    as_header = Client(headers={"X-Publishable-Key": key}).get("/api/v1/admin/")
    assert as_bearer.status_code in (401, 404)
    assert as_header.status_code in (401, 404)


def test_revoked_key_is_refused(shop, channel) -> None:
    created = apikey_create(
        actor=SYSTEM_ACTOR, shop=shop, kind="publishable", name="x", channel=channel
    )
    apikey_revoke(actor=SYSTEM_ACTOR, shop=shop, key_id=created.api_key.pk)
    from merchantry.tenancy.services import apikey_authenticate

    assert apikey_authenticate(created.raw, kind="publishable") is None


def test_secret_key_cannot_grant_more_than_its_creator_holds(shop) -> None:
    from merchantry.core.actors import Actor
    from merchantry.core.errors import PermissionDenied

    limited = Actor(
        kind="user",
        key="user:1",
        shop_id=shop.pk,
        permissions=frozenset({"apikeys.manage", "catalog.view"}),
    )
    with pytest.raises(PermissionDenied):
        apikey_create(
            actor=limited, shop=shop, kind="secret", name="x", permissions=["refunds.manage"]
        )
    assert not ApiKey.objects.exists()


def test_suspended_shop_keys_do_not_authenticate(shop) -> None:
    from merchantry.tenancy.services import apikey_authenticate

    raw = secret_key(shop)
    shop.status = "suspended"
    shop.save()
    assert apikey_authenticate(raw, kind="secret") is None


def test_a_fresh_key_costs_one_query_and_records_use_once_a_minute(
    shop, django_assert_num_queries
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from merchantry.tenancy.services import apikey_authenticate

    raw = secret_key(shop)

    # the first use records last_used_at (lookup + UPDATE)
    with django_assert_num_queries(2):
        first = apikey_authenticate(raw, kind="secret")
    # within the minute, only the lookup
    with django_assert_num_queries(1):
        again = apikey_authenticate(raw, kind="secret")
    assert first.last_used_at is not None
    assert again.last_used_at == ApiKey.objects.get(pk=first.pk).last_used_at

    # a minute later, it is recorded again
    ApiKey.objects.filter(pk=first.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    with django_assert_num_queries(2):
        apikey_authenticate(raw, kind="secret")
    assert ApiKey.objects.get(pk=first.pk).last_used_at > timezone.now() - timedelta(seconds=5)
