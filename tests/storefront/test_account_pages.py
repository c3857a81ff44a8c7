"""Customers sign in, reset their password and confirm their email on the storefront."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from merchantry.accounts.models import Customer, CustomerToken
from tests.factories import PASSWORD, CustomerFactory, DomainFactory, ShopFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    settings.ALLOWED_HOSTS = ["*"]
    shop = ShopFactory(slug="demo", name="Demo Shop")
    DomainFactory(shop=shop, host="testserver")  # the test client's host
    return shop


def test_sign_in_with_session_then_sign_out(client: Client, demo) -> None:
    customer = CustomerFactory(shop=demo, email="ana@example.com")

    page = client.get("/account/sign-in")
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content

    response = client.post("/account/sign-in", {"email": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    account = client.get("/account/")
    assert b"ana@example.com" in account.content
    assert CustomerToken.objects.filter(customer=customer, revoked_at__isnull=True).count() == 1

    client.post("/account/sign-out")
    assert client.get("/account/").status_code == 302
    assert CustomerToken.objects.filter(customer=customer, revoked_at__isnull=True).count() == 0


def test_wrong_password_shows_one_message_for_every_cause(client: Client, demo) -> None:
    CustomerFactory(shop=demo, email="ana@example.com")
    wrong = client.post("/account/sign-in", {"email": "ana@example.com", "password": "nope-nope-1"})
    unknown = client.post("/account/sign-in", {"email": "bob@example.com", "password": "nope-1"})
    assert wrong.status_code == unknown.status_code == 200
    message = re.search(rb'alert-error" role="alert"><p>([^<]*)</p>', wrong.content).group(1)
    assert message in unknown.content
    assert b"/account/" not in wrong.get("Location", "").encode()


def test_a_session_of_one_shop_is_not_signed_in_at_another(client: Client, demo) -> None:
    other = ShopFactory(slug="other", name="Other Shop")
    DomainFactory(shop=other, host="other.test")
    CustomerFactory(shop=demo, email="ana@example.com")
    client.post("/account/sign-in", {"email": "ana@example.com", "password": PASSWORD})

    elsewhere = client.get("/account/", headers={"Host": "other.test"})

    assert elsewhere.status_code == 302
    assert elsewhere["Location"] == "/account/sign-in"


def test_register_then_confirm_email_from_the_link(
    client: Client, demo, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/account/register",
            {"email": "new@example.com", "password": "a-Long-password-9", "full_name": "New"},
        )
    assert response.status_code == 302
    customer = Customer.objects.get(shop=demo, email="new@example.com")
    assert customer.is_registered
    link = re.search(r"http://testserver(/account/verify-email\?\S+)", mail.outbox[-1].body).group(
        1
    )

    confirmed = client.get(link)
    again = client.get(link)

    assert b"Your email is confirmed." in confirmed.content
    assert b"This link doesn" in again.content
    customer.refresh_from_db()
    assert customer.email_verified_at is not None


def test_password_reset_from_the_emailed_link(
    client: Client, demo, django_capture_on_commit_callbacks
) -> None:
    CustomerFactory(shop=demo, email="ana@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/reset/request", {"email": "ana@example.com"})
    link = re.search(r"http://testserver(/account/reset\?\S+)", mail.outbox[-1].body).group(1)

    weak = client.post(link, {"new_password": "123"})
    done = client.post(link, {"new_password": "a-Brand-new-pass-7"})
    reused = client.post(link, {"new_password": "another-Pass-8"})

    assert weak.status_code == 200
    assert b"field-error" in weak.content
    assert done.status_code == 302
    assert reused.status_code == 200
    assert b"alert-error" in reused.content
    assert (
        client.post(
            "/account/sign-in", {"email": "ana@example.com", "password": "a-Brand-new-pass-7"}
        ).status_code
        == 302
    )


def test_reset_request_answers_the_same_for_unknown_email(client: Client, demo) -> None:
    response = client.post("/account/reset/request", {"email": "nobody@example.com"}, follow=True)
    assert b"If an account exists for this email" in response.content
    assert mail.outbox == []


def test_bad_form_input_is_a_readable_error(client: Client, demo) -> None:
    response = client.post("/account/sign-in", {"email": "not-an-email", "password": ""})
    assert response.status_code == 200
    assert b"field-error" in response.content
