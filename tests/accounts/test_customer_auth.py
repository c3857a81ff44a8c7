"""Registration, sign-in, sign-out and customer tokens on the Store API."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from merchantry.accounts.customers import CUSTOMER_TOKEN_TTL, customer_get_or_create_guest
from merchantry.accounts.models import Customer, CustomerToken
from merchantry.tenancy.keys import hash_key
from tests.accounts.test_customer_support import (  # noqa: F401 (fixtures)
    fixture_customer,
    fixture_fresh_throttle_counters,
    fixture_other_store_client,
    get,
    post,
    sign_in,
    snapshot,
    token_for,
)
from tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

INVALID_CREDENTIALS = {
    "status": 401,
    "code": "invalid_credentials",
    "title": "Authentication required",
    "detail": "Invalid email or password.",
}


def _problem(response) -> dict:
    body = response.json()
    return {key: body[key] for key in ("status", "code", "title", "detail")}


# -- registration ---------------------------------------------------------------------


def test_register_creates_a_signed_in_customer(shop, store_client) -> None:
    # when
    response = post(
        store_client,
        "/customers",
        {"email": "Grace@Example.COM", "password": PASSWORD, "full_name": "Grace Hopper"},
    )

    # then
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    customer = Customer.objects.get()
    assert customer.shop == shop
    assert customer.email == "Grace@example.com"
    assert customer.is_registered is True
    assert customer.check_password(PASSWORD)
    assert customer.last_login is not None
    assert body["customer"] == {
        "id": str(customer.pk),
        "email": "Grace@example.com",
        "full_name": "Grace Hopper",
        "phone": "",
        "accepts_marketing": False,
        "is_registered": True,
        "email_verified": False,
        "email_verified_at": None,
        "created_at": body["customer"]["created_at"],
    }
    assert body["token"].startswith("mct_")
    row = CustomerToken.objects.get()
    assert row.key_hash == hash_key(body["token"])
    assert row.shop == shop
    assert PASSWORD not in response.content.decode()


def test_register_turns_the_guest_with_that_email_into_the_account(shop, store_client) -> None:
    # given
    guest = customer_get_or_create_guest(shop=shop, email="guest@example.com")
    guest.accepts_marketing = True
    guest.save()

    # when
    response = post(
        store_client, "/customers", {"email": "GUEST@example.com", "password": PASSWORD}
    )

    # then
    assert response.status_code == 201
    assert response.json()["customer"]["id"] == str(guest.pk)
    guest.refresh_from_db()
    assert guest.is_registered is True
    assert guest.accepts_marketing is True  # not sent, so kept
    assert Customer.objects.count() == 1


def test_register_with_a_registered_email_is_a_conflict(shop, store_client, customer) -> None:
    # given
    before = snapshot()

    # when
    response = post(
        store_client, "/customers", {"email": "ADA@example.com", "password": "Other-Pass-77"}
    )

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert snapshot() == before
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


def test_register_refuses_a_weak_password_and_writes_nothing(shop, store_client) -> None:
    response = post(store_client, "/customers", {"email": "x@example.com", "password": "12345"})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert {tuple(e["loc"]) for e in body["errors"]} == {("password",)}
    assert "12345" not in response.content.decode()
    assert not Customer.objects.exists()


def test_same_email_in_two_shops_is_two_customers(
    shop, other_shop, store_client, other_store_client
) -> None:
    # when
    first = post(store_client, "/customers", {"email": "ada@example.com", "password": PASSWORD})
    second = post(other_store_client, "/customers", {"email": "ada@example.com", "password": NEWER})

    # then
    assert first.status_code == second.status_code == 201
    assert first.json()["customer"]["id"] != second.json()["customer"]["id"]
    assert Customer.objects.get(shop=shop).check_password(PASSWORD)
    assert Customer.objects.get(shop=other_shop).check_password(NEWER)


NEWER = "Another-Horse-88"


def test_a_token_of_one_shop_is_refused_with_another_shops_key(
    store_client, other_store_client, customer
) -> None:
    # given
    token = token_for(store_client, customer.email)

    # when
    response = get(other_store_client, "/customers/me", token=token)

    # then
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert customer.email not in response.content.decode()
    assert get(store_client, "/customers/me", token=token).status_code == 200


def test_guest_service_returns_the_existing_customer(shop, customer) -> None:
    guest = customer_get_or_create_guest(shop=shop, email="new@example.com")
    again = customer_get_or_create_guest(shop=shop, email=" NEW@example.com ")
    existing = customer_get_or_create_guest(shop=shop, email="ada@example.com")

    assert guest.pk == again.pk
    assert guest.is_registered is False
    assert guest.password == ""
    assert existing.pk == customer.pk
    assert Customer.objects.count() == 2


# -- sign-in and sign-out ----------------------------------------------------------------


def test_sign_in_returns_a_token_for_this_shop(shop, store_client, customer) -> None:
    # when
    response = sign_in(store_client, "ADA@example.com")

    # then
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["customer"]["id"] == str(customer.pk)
    token = CustomerToken.objects.get(key_hash=hash_key(body["token"]))
    assert token.customer == customer
    assert token.shop == shop
    expected_expiry = timezone.now() + CUSTOMER_TOKEN_TTL
    assert abs(token.expires_at - expected_expiry) < timedelta(seconds=30)
    customer.refresh_from_db()
    assert customer.last_login is not None


def test_sign_out_revokes_the_token(store_client, customer) -> None:
    # given
    token = token_for(store_client, customer.email)
    kept = token_for(store_client, customer.email)

    # when
    response = post(store_client, "/auth/sign-out", token=token)

    # then
    assert response.status_code == 204
    assert get(store_client, "/customers/me", token=token).status_code == 401
    assert get(store_client, "/customers/me", token=kept).status_code == 200
    assert CustomerToken.objects.get(key_hash=hash_key(token)).revoked_at is not None


def test_sign_out_without_a_token_is_401(store_client) -> None:
    response = post(store_client, "/auth/sign-out")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


def test_expired_token_is_refused(store_client, customer) -> None:
    # given
    token = token_for(store_client, customer.email)
    CustomerToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    # when
    response = get(store_client, "/customers/me", token=token)

    # then
    assert response.status_code == 401


def test_token_use_is_recorded_at_most_once_a_minute(store_client, customer) -> None:
    # given
    token = token_for(store_client, customer.email)
    get(store_client, "/customers/me", token=token)
    first_use = CustomerToken.objects.get().last_used_at

    # when
    get(store_client, "/customers/me", token=token)

    # then
    assert first_use is not None
    assert CustomerToken.objects.get().last_used_at == first_use


def test_deactivated_customer_tokens_stop_working(store_client, customer) -> None:
    token = token_for(store_client, customer.email)
    Customer.objects.filter(pk=customer.pk).update(is_active=False)

    assert get(store_client, "/customers/me", token=token).status_code == 401


@pytest.mark.parametrize(
    ("_case", "email", "password"),
    [
        ("unknown email", "nobody@example.com", PASSWORD),
        ("wrong password", "ada@example.com", "Wrong-Password-1"),
        ("guest without a password", "guest@example.com", PASSWORD),
        ("deactivated account", "gone@example.com", PASSWORD),
    ],
)
def test_sign_in_failures_look_the_same(
    shop, store_client, customer, _case, email, password
) -> None:
    # given
    customer_get_or_create_guest(shop=shop, email="guest@example.com")
    CustomerFactory(shop=shop, email="gone@example.com", is_active=False)
    before = snapshot()

    # when
    response = sign_in(store_client, email, password)

    # then
    assert response.status_code == 401
    assert _problem(response) == INVALID_CREDENTIALS
    assert set(response.json()) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "request_id",
        "instance",
    }
    assert response["WWW-Authenticate"] == "Bearer"
    assert snapshot() == before


def test_sign_in_takes_as_long_for_an_unknown_email_as_for_a_wrong_password(
    settings, shop, store_client
) -> None:
    # given: the production hasher (the test settings use a fast one)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES = 100
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES_PER_IP = 100
    known = CustomerFactory(shop=shop, email="known@example.com")
    known.set_password(PASSWORD)
    known.save()
    assert known.password.startswith("argon2")
    customer_get_or_create_guest(shop=shop, email="guest@example.com")

    def median_seconds(email: str) -> float:
        durations = []
        for _ in range(4):
            started = time.perf_counter()
            response = sign_in(store_client, email, "Wrong-Password-1")
            durations.append(time.perf_counter() - started)
            assert response.status_code == 401
        return statistics.median(durations)

    # when
    sign_in(store_client, "warm-up@example.com", "x")
    wrong_password = median_seconds("known@example.com")
    unknown = median_seconds("unknown@example.com")
    guest = median_seconds("guest@example.com")

    # then: each path runs the slow hasher once, so none is several times faster
    slowest, fastest = max(wrong_password, unknown, guest), min(wrong_password, unknown, guest)
    assert fastest > 0.005, (wrong_password, unknown, guest)
    assert slowest / fastest < 3, (wrong_password, unknown, guest)


# -- throttling and lockout ----------------------------------------------------------------


def test_account_is_locked_after_too_many_failures(settings, store_client, customer) -> None:
    # given
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES = 3
    for _ in range(3):
        assert sign_in(store_client, customer.email, "Wrong-Password-1").status_code == 401

    # when: the right password, while locked
    response = sign_in(store_client, customer.email)

    # then
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert 1 <= int(response["Retry-After"]) <= 15 * 60
    assert not CustomerToken.objects.exists()
    # the lock is per account: another account from the same address still signs in
    CustomerFactory(shop=customer.shop, email="bob@example.com")
    assert sign_in(store_client, "bob@example.com").status_code == 200


def test_unknown_email_is_locked_like_a_real_account(settings, store_client) -> None:
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES = 2
    for _ in range(2):
        assert sign_in(store_client, "nobody@example.com", "Wrong-Password-1").status_code == 401

    response = sign_in(store_client, "NOBODY@example.com", "Wrong-Password-1")

    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"


def test_ip_is_locked_after_too_many_failures_across_accounts(
    settings, store_client, customer
) -> None:
    # given
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES_PER_IP = 3
    for n in range(3):
        response = sign_in(store_client, f"guess{n}@example.com", "x", REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 401

    # when
    locked = sign_in(store_client, customer.email, REMOTE_ADDR="203.0.113.9")
    elsewhere = sign_in(store_client, customer.email, REMOTE_ADDR="198.51.100.7")

    # then
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert int(locked["Retry-After"]) >= 1
    assert elsewhere.status_code == 200


def test_successful_sign_in_resets_the_account_counter(settings, store_client, customer) -> None:
    # given: one failure short of the lock, then a success
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES = 3
    for _ in range(2):
        sign_in(store_client, customer.email, "Wrong-Password-1")
    assert sign_in(store_client, customer.email).status_code == 200

    # when: two more failures
    for _ in range(2):
        assert sign_in(store_client, customer.email, "Wrong-Password-1").status_code == 401

    # then: still not locked
    assert sign_in(store_client, customer.email).status_code == 200


def test_lock_ends_when_the_window_passes(settings, store_client, customer) -> None:
    # given
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES = 1
    settings.MERCHANTRY_SIGNIN_WINDOW_SECONDS = 1
    assert sign_in(store_client, customer.email, "Wrong-Password-1").status_code == 401
    assert sign_in(store_client, customer.email).status_code == 429

    # when
    time.sleep(1.2)

    # then
    assert sign_in(store_client, customer.email).status_code == 200


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "path", "payload"),
    [
        ("register: missing password", "/customers", {"email": "a@example.com"}),
        ("register: email not a string", "/customers", {"email": 7, "password": PASSWORD}),
        ("register: invalid email", "/customers", {"email": "not-an-email", "password": PASSWORD}),
        (
            "register: email too long",
            "/customers",
            {"email": "a" * 250 + "@example.com", "password": PASSWORD},
        ),
        (
            "register: password too long",
            "/customers",
            {"email": "a@example.com", "password": "p" * 129},
        ),
        (
            "register: name too long",
            "/customers",
            {"email": "a@example.com", "password": PASSWORD, "full_name": "n" * 151},
        ),
        (
            "register: marketing not a bool",
            "/customers",
            {"email": "a@example.com", "password": PASSWORD, "accepts_marketing": "yes"},
        ),
        (
            "register: NUL in email",
            "/customers",
            {"email": "a\x00b@example.com", "password": PASSWORD},
        ),
        ("register: body a list", "/customers", ["a@example.com"]),
        ("sign-in: missing email", "/auth/sign-in", {"password": PASSWORD}),
        (
            "sign-in: password not a string",
            "/auth/sign-in",
            {"email": "ada@example.com", "password": 12345678},
        ),
        (
            "sign-in: password too long",
            "/auth/sign-in",
            {"email": "ada@example.com", "password": "p" * 129},
        ),
        (
            "sign-in: NUL in email",
            "/auth/sign-in",
            {"email": "ada\x00@example.com", "password": PASSWORD},
        ),
    ],
)
def test_bad_input_is_a_422_problem_and_writes_nothing(
    store_client, customer, _case, path, payload
) -> None:
    before = snapshot()

    response = post(store_client, path, payload)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert snapshot() == before


def test_malformed_json_is_a_400_problem(store_client) -> None:
    response = store_client.post(
        "/api/v1/store/auth/sign-in", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_body"


def test_store_routes_need_the_publishable_key(customer) -> None:
    from django.test import Client

    response = sign_in(Client(), customer.email)

    assert response.status_code == 401
    assert not CustomerToken.objects.exists()


def test_sign_in_is_refused_when_the_throttle_cannot_count(store_client, customer) -> None:
    # given: a cache nobody answers at (failing open would allow unlimited guessing)
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

    # when
    with override_settings(CACHES=unreachable):
        response = sign_in(store_client, customer.email)

    # then
    assert response.status_code == 503
    assert response.json()["code"] == "throttle_unavailable"
    assert not CustomerToken.objects.exists()
