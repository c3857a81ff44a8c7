"""
The Store API read cache: a change is visible on the next request, and a warm
read costs no SQL beyond the publishable-key lookup.

The cache is invalidated after a commit, so these tests run in real
transactions (``transaction=True``) rather than the usual rolled-back ones.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from merchantry.catalog import cache as store_cache
from merchantry.catalog import services
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/store/products"


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.MERCHANTRY_STORE_CACHE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


def _get(client, url: str) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json(), len(queries)


def test_a_warm_read_costs_only_the_key_lookup(shop, channel, store_client) -> None:
    make_product(shop, title="Tee", channel=channel)
    store_client.get(URL)  # the key's first use is recorded; the answer is cached

    for url in (URL, f"{URL}/tee", "/api/v1/store/facets"):
        _get(store_client, url)
        assert _get(store_client, url)[1] == 1, url


def test_a_change_is_visible_on_the_next_request(shop, channel, store_client) -> None:
    product = make_product(shop, title="Tee", channel=channel, price="9.00")
    assert _get(store_client, URL)[0]["items"][0]["min_price"]["amount"] == "9.00"
    assert _get(store_client, f"{URL}/tee")[0]["title"] == "Tee"

    services.price_set(
        actor=SYSTEM_ACTOR,
        shop=shop,
        variant_id=product.variants.get().pk,
        channel_id=channel.pk,
        price=Decimal("7.50"),
    )
    services.product_update(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, changes={"title": "Tee 2"}
    )

    assert _get(store_client, URL)[0]["items"][0]["min_price"]["amount"] == "7.50"
    assert _get(store_client, f"{URL}/tee")[0]["title"] == "Tee 2"

    services.listing_unpublish(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, channel_id=channel.pk
    )
    assert _get(store_client, URL)[0]["items"] == []
    assert store_client.get(f"{URL}/tee").status_code == 404


def test_answers_are_cached_per_channel_and_per_query(shop, channel, store_client) -> None:
    from django.test import Client

    from tests.factories import ChannelFactory, publishable_key

    other = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    make_product(shop, title="Tee", channel=channel, price="9.00")
    make_product(shop, title="Mug", channel=other, price="4.00")
    eu_client = Client(headers={"X-Publishable-Key": publishable_key(other)})

    assert [p["handle"] for p in _get(store_client, URL)[0]["items"]] == ["tee"]
    assert [p["handle"] for p in _get(eu_client, URL)[0]["items"]] == ["mug"]
    assert _get(store_client, f"{URL}?q=mug")[0]["items"] == []


def test_another_shops_change_leaves_this_shops_cache_warm(
    shop, channel, store_client, other_shop, other_channel
) -> None:
    make_product(shop, title="Tee", channel=channel)
    store_client.get(URL)
    before = store_cache.version(shop.pk)

    make_product(other_shop, title="Theirs", channel=other_channel)

    assert store_cache.version(shop.pk) == before
    assert _get(store_client, URL)[1] == 1


def test_the_cache_is_off_without_a_shared_cache() -> None:
    from merchantry import settings as production

    assert (60 if production.CONFIG.redis_url else 0) == production.MERCHANTRY_STORE_CACHE_SECONDS


def test_a_publishable_key_is_looked_up_once_per_process_for_a_few_seconds(
    settings, shop, channel, store_client
) -> None:
    from merchantry.api import auth
    from merchantry.tenancy.models import ApiKey

    settings.MERCHANTRY_PUBLISHABLE_KEY_CACHE_SECONDS = 5
    auth._recent_keys.clear()
    make_product(shop, title="Tee", channel=channel)
    store_client.get(URL)
    # A warm read: neither the answer nor the key needs the database.
    assert _get(store_client, URL)[1] == 0

    ApiKey.objects.filter(channel=channel).update(revoked_at="2026-01-01T00:00:00Z")
    assert store_client.get(URL).status_code == 200  # still within the few seconds
    auth._recent_keys.clear()  # ...which have passed
    assert store_client.get(URL).status_code == 401


# -- the early answer (merchantry.api.store_cache) -------------------------------------

VARYING = {"Date", "X-Request-ID"}


def test_a_cached_answer_carries_the_same_headers_and_body(shop, channel, store_client) -> None:
    make_product(shop, title="Tee", channel=channel)
    origin = {"HTTP_ORIGIN": "https://shop.example.com"}
    for url in (f"{URL}?limit=5", f"{URL}/tee", "/api/v1/store/facets"):
        first = store_client.get(url, **origin)
        second = store_client.get(url, **origin)

        assert first.status_code == second.status_code == 200
        assert second.content == first.content
        assert {k: v for k, v in second.headers.items() if k not in VARYING} == {
            k: v for k, v in first.headers.items() if k not in VARYING
        }, url


def test_one_query_spelled_two_ways_is_one_entry(shop, channel, store_client) -> None:
    make_product(shop, title="Tee", channel=channel)
    _get(store_client, f"{URL}?limit=5&sort=-title")

    assert _get(store_client, f"{URL}?sort=-title&limit=5")[1] == 1  # the key only


def test_answers_that_differ_by_shopper_or_fail_are_never_cached(
    shop, channel, store_client
) -> None:
    from tests.accounts.test_customer_support import token_for
    from tests.factories import CustomerFactory

    customer = CustomerFactory(shop=shop, email="ada@example.com")
    # a customer's own page is not a catalog answer
    token = token_for(store_client, customer.email)
    me = store_client.get("/api/v1/store/customers/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200
    assert store_client.get("/api/v1/store/customers/me").status_code == 401

    # a product that is not for sale yet is a 404, and is found once published
    product = make_product(shop, title="Late", channel=None)
    assert store_client.get(f"{URL}/late").status_code == 404
    services.listing_publish(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, channel_id=channel.pk
    )
    services.price_set(
        actor=SYSTEM_ACTOR,
        shop=shop,
        variant_id=product.variants.get().pk,
        channel_id=channel.pk,
        price=Decimal("3.00"),
    )
    assert store_client.get(f"{URL}/late").status_code == 200


def test_a_bad_or_missing_key_is_never_answered_from_the_cache(shop, channel, store_client) -> None:
    from django.test import Client

    make_product(shop, title="Tee", channel=channel)
    _get(store_client, URL)

    assert Client().get(URL).status_code == 401
    assert Client(headers={"X-Publishable-Key": "mpk_unknown"}).get(URL).status_code == 401
