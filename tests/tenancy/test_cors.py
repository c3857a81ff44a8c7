"""Per-channel CORS: the Store API answers browsers on the origins channels allow."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.cors import VERSION_KEY, allowed_store_origins, normalize_origin
from merchantry.tenancy.models import Channel, ShopStatus
from merchantry.tenancy.services import channel_create, channel_delete, channel_update
from tests.factories import ChannelFactory, publishable_key

pytestmark = pytest.mark.django_db

SHOP_ORIGIN = "https://shop.example.com"
STORE_PATH = "/api/v1/store/customers/me"
ALLOW_ORIGIN = "Access-Control-Allow-Origin"


@pytest.fixture(autouse=True)
def _fresh_origins() -> None:
    # Tests roll their transactions back, so the services' on-commit
    # invalidation never runs for rows an earlier test made: start clean.
    cache.delete(VERSION_KEY)


@pytest.fixture
def web(shop) -> Channel:
    return ChannelFactory(shop=shop, slug="web", allowed_origins=[SHOP_ORIGIN])


def _preflight(client: Client, origin: str, path: str = STORE_PATH):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-publishable-key",
        },
    )


def test_preflight_from_a_channel_origin_is_allowed_without_a_key(web, client: Client) -> None:
    # when a browser on the channel's origin asks, with no key
    response = _preflight(client, SHOP_ORIGIN)

    # then it may call, sending the publishable key header
    assert response.status_code == 200
    assert response[ALLOW_ORIGIN] == SHOP_ORIGIN
    assert "x-publishable-key" in response["Access-Control-Allow-Headers"]
    assert "GET" in response["Access-Control-Allow-Methods"]


def test_store_request_from_a_channel_origin_gets_the_cors_headers(web, client: Client) -> None:
    # when the storefront calls the Store API from its origin
    response = client.get(
        STORE_PATH, headers={"Origin": SHOP_ORIGIN, "X-Publishable-Key": publishable_key(web)}
    )

    # then the browser may read the answer (here: no customer is signed in)
    assert response.status_code == 401
    assert response[ALLOW_ORIGIN] == SHOP_ORIGIN
    assert "retry-after" in response["Access-Control-Expose-Headers"]
    assert "ratelimit-remaining" in response["Access-Control-Expose-Headers"]


def test_unknown_origin_gets_no_cors_headers(web, client: Client) -> None:
    # when a page on an origin no channel allows calls
    preflight = _preflight(client, "https://evil.example")
    request = client.get(
        STORE_PATH,
        headers={"Origin": "https://evil.example", "X-Publishable-Key": publishable_key(web)},
    )

    # then the browser is not allowed to read anything
    assert not preflight.has_header(ALLOW_ORIGIN)
    assert not request.has_header(ALLOW_ORIGIN)


def test_admin_api_is_never_opened_to_other_origins(web, client: Client) -> None:
    # when a channel's origin asks to call the Admin API
    response = _preflight(client, SHOP_ORIGIN, path="/api/v1/admin/staff")

    # then it is not allowed
    assert not response.has_header(ALLOW_ORIGIN)


@pytest.mark.parametrize("_case", ["inactive channel", "suspended shop"])
def test_origins_of_inactive_channels_and_suspended_shops_are_refused(
    shop, client: Client, _case: str
) -> None:
    # given the only channel allowing the origin is inactive, or its shop suspended
    channel = ChannelFactory(shop=shop, allowed_origins=[SHOP_ORIGIN])
    if _case == "inactive channel":
        Channel.objects.filter(pk=channel.pk).update(is_active=False)
    else:
        type(shop).objects.filter(pk=shop.pk).update(status=ShopStatus.SUSPENDED)

    # when a browser on that origin asks
    response = _preflight(client, SHOP_ORIGIN)

    # then it is refused
    assert not response.has_header(ALLOW_ORIGIN)


def test_channel_changes_apply_at_once(
    shop, client: Client, django_capture_on_commit_callbacks
) -> None:
    # given a channel allowing one origin, already cached by a request
    with django_capture_on_commit_callbacks(execute=True):
        channel = channel_create(
            actor=SYSTEM_ACTOR, shop=shop, slug="web", name="Web", allowed_origins=[SHOP_ORIGIN]
        )
    assert _preflight(client, SHOP_ORIGIN)[ALLOW_ORIGIN] == SHOP_ORIGIN
    new_origin = "https://new.example.com"
    assert not _preflight(client, new_origin).has_header(ALLOW_ORIGIN)

    # when the channel moves to another origin
    with django_capture_on_commit_callbacks(execute=True):
        channel_update(
            actor=SYSTEM_ACTOR,
            shop=shop,
            channel_id=channel.pk,
            changes={"allowed_origins": [new_origin]},
        )

    # then the new origin works on the next request, and the old one no longer
    assert _preflight(client, new_origin)[ALLOW_ORIGIN] == new_origin
    assert not _preflight(client, SHOP_ORIGIN).has_header(ALLOW_ORIGIN)

    # and when the channel is deleted, its origin goes with it
    with django_capture_on_commit_callbacks(execute=True):
        channel_delete(actor=SYSTEM_ACTOR, shop=shop, channel_id=channel.pk)
    assert not _preflight(client, new_origin).has_header(ALLOW_ORIGIN)


def test_origins_are_cached_between_requests(web, django_assert_num_queries) -> None:
    # given the origins were read once
    assert allowed_store_origins() == {SHOP_ORIGIN}

    # when they are needed again, then the database is not asked
    with django_assert_num_queries(0):
        assert allowed_store_origins() == {SHOP_ORIGIN}


def test_rate_limited_store_response_still_carries_cors_headers(
    web, client: Client, settings
) -> None:
    # given a storefront that spent its address budget
    settings.MERCHANTRY_RATE_LIMITS = {"ip": "1/minute"}
    settings.MERCHANTRY_RATE_LIMIT_STORAGE = "memory://"
    settings.MERCHANTRY_RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    headers = {"Origin": SHOP_ORIGIN, "X-Publishable-Key": publishable_key(web)}
    client.get(STORE_PATH, headers=headers, REMOTE_ADDR="192.0.2.50")

    # when it calls again
    response = client.get(STORE_PATH, headers=headers, REMOTE_ADDR="192.0.2.50")

    # then the browser can read the 429 and when to retry
    assert response.status_code == 429
    assert response[ALLOW_ORIGIN] == SHOP_ORIGIN
    assert "retry-after" in response["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("https://Shop.Example.com", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://127.0.0.1:80/", "http://127.0.0.1"),
        ("https://shop.example.com/path", None),
        ("ftp://shop.example.com", None),
        ("null", None),
        ("https://shop.example.com:99999", None),
    ],
)
def test_normalize_origin(origin: str, expected: str | None) -> None:
    assert normalize_origin(origin) == expected
