"""Password reset and email verification: links sent by email, usable once, in one shop."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core import mail

from merchantry.accounts.customers import (
    PASSWORD_RESET_TIMEOUT,
    email_verification_tokens,
    password_reset_tokens,
)
from merchantry.accounts.models import Customer, CustomerToken
from merchantry.core.models import AuditEvent
from tests.accounts.test_customer_support import (  # noqa: F401 (fixtures)
    NEW_PASSWORD,
    fixture_customer,
    fixture_fresh_throttle_counters,
    fixture_other_store_client,
    get,
    link_params,
    post,
    sign_in,
    snapshot,
    token_for,
)
from tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

RESET_ACCEPTED = {
    "detail": "If an account exists for this email, a link to reset its password is on its way."
}


def _request_reset(client, email: str, capture):
    with capture(execute=True):
        return post(client, "/auth/password-reset", {"email": email})


def _reset_link(store_client, customer, capture) -> dict[str, str]:
    response = _request_reset(store_client, customer.email, capture)
    assert response.status_code == 202
    assert len(mail.outbox) == 1
    return link_params(mail.outbox[0])


def _confirm(client, params: dict[str, str], password: str = NEW_PASSWORD):
    return post(client, "/auth/password-reset/confirm", {**params, "new_password": password})


# -- password reset ------------------------------------------------------------------------


def test_reset_for_an_unknown_email_answers_the_same_and_sends_nothing(
    store_client, customer, django_capture_on_commit_callbacks
) -> None:
    # when
    unknown = _request_reset(store_client, "nobody@example.com", django_capture_on_commit_callbacks)
    known = _request_reset(store_client, customer.email, django_capture_on_commit_callbacks)

    # then
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json() == RESET_ACCEPTED
    assert [message.to for message in mail.outbox] == [[customer.email]]


def test_reset_for_a_guest_sends_nothing(shop, store_client, django_capture_on_commit_callbacks):
    from merchantry.accounts.customers import customer_get_or_create_guest

    customer_get_or_create_guest(shop=shop, email="guest@example.com")

    response = _request_reset(store_client, "guest@example.com", django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert response.json() == RESET_ACCEPTED
    assert mail.outbox == []


def test_reset_email_names_the_shop_and_links_to_the_reset_page(
    shop, store_client, customer, django_capture_on_commit_callbacks
) -> None:
    # when
    _request_reset(store_client, "ADA@example.com", django_capture_on_commit_callbacks)

    # then
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "Reset your Acme password"
    assert "Acme" in message.body
    assert "http://testserver/account/reset?uid=" in message.body
    params = link_params(message)
    assert set(params) == {"uid", "token"}
    assert password_reset_tokens.check_token(customer, params["token"])


def test_reset_link_sets_the_password_once_and_revokes_every_token(
    store_client, customer, django_capture_on_commit_callbacks
) -> None:
    # given
    old_token = token_for(store_client, customer.email)
    params = _reset_link(store_client, customer, django_capture_on_commit_callbacks)

    # when
    first = _confirm(store_client, params)
    second = _confirm(store_client, params, password="Yet-Another-Pass-55")

    # then
    assert first.status_code == 204
    assert second.status_code == 400
    assert second.json()["code"] == "invalid_token"
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    assert get(store_client, "/customers/me", token=old_token).status_code == 401
    assert sign_in(store_client, customer.email, NEW_PASSWORD).status_code == 200
    assert AuditEvent.objects.filter(action="customer.password_reset").count() == 1


def test_reset_link_unlocks_a_locked_account(
    settings, store_client, customer, django_capture_on_commit_callbacks
) -> None:
    # given
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES = 1
    sign_in(store_client, customer.email, "Wrong-Password-1")
    assert sign_in(store_client, customer.email).status_code == 429
    params = _reset_link(store_client, customer, django_capture_on_commit_callbacks)

    # when
    assert _confirm(store_client, params).status_code == 204

    # then
    assert sign_in(store_client, customer.email, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("_case", "age", "valid"), [("at the limit", 3600, True), ("past it", 3601, False)]
)
def test_reset_link_expires_after_an_hour(monkeypatch, store_client, customer, _case, age, valid):
    # given: a token made at a fixed moment, checked `age` seconds later
    made_at = datetime(2030, 1, 1, 12, 0, 0)
    monkeypatch.setattr(password_reset_tokens, "_now", lambda: made_at)
    params = {
        "uid": _uid(customer),
        "token": password_reset_tokens.make_token(customer),
    }
    monkeypatch.setattr(password_reset_tokens, "_now", lambda: made_at + timedelta(seconds=age))

    # when
    response = _confirm(store_client, params)

    # then
    assert PASSWORD_RESET_TIMEOUT == 3600
    assert response.status_code == (204 if valid else 400)
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD) is valid


def test_reset_timeout_ignores_the_staff_setting(settings, monkeypatch, customer) -> None:
    settings.PASSWORD_RESET_TIMEOUT = 60
    made_at = datetime(2030, 1, 1, 12, 0, 0)
    monkeypatch.setattr(password_reset_tokens, "_now", lambda: made_at)
    token = password_reset_tokens.make_token(customer)
    monkeypatch.setattr(password_reset_tokens, "_now", lambda: made_at + timedelta(minutes=30))

    assert password_reset_tokens.check_token(customer, token) is True


def _uid(customer: Customer) -> str:
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return urlsafe_base64_encode(force_bytes(customer.pk))


def test_reset_link_of_another_shop_is_refused(other_shop, store_client) -> None:
    # given: a valid link of a customer of another shop
    stranger = CustomerFactory(shop=other_shop, email="ada@example.com")
    params = {"uid": _uid(stranger), "token": password_reset_tokens.make_token(stranger)}
    before = snapshot()

    # when
    response = _confirm(store_client, params)

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    assert snapshot() == before


def test_reset_refuses_a_weak_password_and_keeps_the_link_usable(store_client, customer) -> None:
    # given
    params = {"uid": _uid(customer), "token": password_reset_tokens.make_token(customer)}

    # when
    weak = _confirm(store_client, params, password="password")
    strong = _confirm(store_client, params)

    # then
    assert weak.status_code == 422
    assert {tuple(e["loc"]) for e in weak.json()["errors"]} == {("new_password",)}
    assert strong.status_code == 204


@pytest.mark.parametrize(
    ("_case", "uid", "token"),
    [
        ("garbage uid", "!!!", "abc-def"),
        ("uid of no customer", "OTk5OTk5", "abc-def"),
        ("uid not a number", "YWJj", "abc-def"),
        ("uid of a huge number", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "abc-def"),
        ("forged token", None, "c0ffee-0123456789abcdef"),
    ],
)
def test_reset_with_a_bad_link_is_invalid_token(store_client, customer, _case, uid, token):
    before = snapshot()

    response = _confirm(store_client, {"uid": uid or _uid(customer), "token": token})

    assert response.status_code in (400, 422)
    if response.status_code == 400:
        assert response.json()["code"] == "invalid_token"
    assert snapshot() == before


def test_reset_requests_per_address_are_capped_silently(
    settings, store_client, customer, django_capture_on_commit_callbacks
) -> None:
    settings.MERCHANTRY_EMAIL_REQUESTS_PER_ADDRESS = 2

    responses = [
        _request_reset(store_client, customer.email, django_capture_on_commit_callbacks)
        for _ in range(3)
    ]

    assert [r.status_code for r in responses] == [202, 202, 202]
    assert len(mail.outbox) == 2


def test_reset_requests_per_ip_are_refused_past_the_limit(
    settings, store_client, django_capture_on_commit_callbacks
) -> None:
    settings.MERCHANTRY_EMAIL_REQUESTS_PER_IP = 2

    responses = [
        _request_reset(store_client, f"x{n}@example.com", django_capture_on_commit_callbacks)
        for n in range(3)
    ]

    assert [r.status_code for r in responses] == [202, 202, 429]
    assert responses[2].json()["code"] == "too_many_attempts"
    assert int(responses[2]["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("_case", "path", "payload"),
    [
        ("reset: missing email", "/auth/password-reset", {}),
        ("reset: email not a string", "/auth/password-reset", {"email": ["a@example.com"]}),
        ("reset: email too long", "/auth/password-reset", {"email": "a" * 260 + "@x.com"}),
        (
            "confirm: missing token",
            "/auth/password-reset/confirm",
            {"uid": "MQ", "new_password": NEW_PASSWORD},
        ),
        (
            "confirm: token too long",
            "/auth/password-reset/confirm",
            {"uid": "MQ", "token": "a" * 101, "new_password": NEW_PASSWORD},
        ),
        (
            "confirm: token with spaces",
            "/auth/password-reset/confirm",
            {"uid": "MQ", "token": "a b", "new_password": NEW_PASSWORD},
        ),
        (
            "confirm: password too long",
            "/auth/password-reset/confirm",
            {"uid": "MQ", "token": "a-b", "new_password": "p" * 129},
        ),
        ("verify: uid not a string", "/auth/verify-email", {"uid": 1, "token": "a-b"}),
        ("verify: uid too long", "/auth/verify-email", {"uid": "M" * 65, "token": "a-b"}),
    ],
)
def test_bad_link_input_is_a_422_problem(
    store_client, customer, django_capture_on_commit_callbacks, _case, path, payload
) -> None:
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(store_client, path, payload)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert callbacks == []
    assert snapshot() == before


# -- email verification --------------------------------------------------------------------


def test_registration_sends_a_verification_link_that_works_once(
    store_client, django_capture_on_commit_callbacks
) -> None:
    # given
    with django_capture_on_commit_callbacks(execute=True):
        registered = post(
            store_client, "/customers", {"email": "grace@example.com", "password": PASSWORD}
        )
    token = registered.json()["token"]
    (message,) = mail.outbox
    assert message.to == ["grace@example.com"]
    assert message.subject == "Confirm your email address for Acme"
    assert "http://testserver/account/verify-email?uid=" in message.body
    params = link_params(message)

    # when
    first = post(store_client, "/auth/verify-email", params)
    second = post(store_client, "/auth/verify-email", params)

    # then
    assert first.status_code == 204
    assert second.status_code == 400
    assert second.json()["code"] == "invalid_token"
    me = get(store_client, "/customers/me", token=token).json()
    assert me["email_verified"] is True
    assert me["email_verified_at"] is not None


def test_verification_link_of_another_shop_is_refused(other_shop, store_client) -> None:
    stranger = CustomerFactory(shop=other_shop, email="ada@example.com")
    params = {"uid": _uid(stranger), "token": email_verification_tokens.make_token(stranger)}

    response = post(store_client, "/auth/verify-email", params)

    assert response.status_code == 400
    stranger.refresh_from_db()
    assert stranger.email_verified_at is None


def test_verification_link_is_not_a_reset_link(store_client, customer) -> None:
    params = {"uid": _uid(customer), "token": email_verification_tokens.make_token(customer)}

    response = _confirm(store_client, params)

    assert response.status_code == 400
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


def test_resend_sends_a_new_link_until_verified(
    store_client, customer, django_capture_on_commit_callbacks
) -> None:
    # given
    token = token_for(store_client, customer.email)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        first = post(store_client, "/auth/verify-email/resend", token=token)
    assert post(store_client, "/auth/verify-email", link_params(mail.outbox[0])).status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        after_verifying = post(store_client, "/auth/verify-email/resend", token=token)

    # then
    assert first.status_code == after_verifying.status_code == 202
    assert len(mail.outbox) == 1


def test_resend_needs_a_signed_in_customer(store_client) -> None:
    response = post(store_client, "/auth/verify-email/resend")

    assert response.status_code == 401
    assert mail.outbox == []
    assert not CustomerToken.objects.exists()
