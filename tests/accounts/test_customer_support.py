"""
Fixtures and helpers shared by the customer account tests (no tests of its own).

Test modules import the ``fixture_*`` functions; each registers under its
``name`` (``customer``...), so a test's argument does not shadow the import.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

from merchantry.accounts.models import Customer, CustomerAddress, CustomerToken
from tests.factories import PASSWORD, CustomerFactory, publishable_key

NEW_PASSWORD = "Quiet-Lantern-91"
STORE = "/api/v1/store"


@pytest.fixture(name="fresh_throttle_counters", autouse=True)
def fixture_fresh_throttle_counters():
    """Sign-in and email counters live in the cache: start every test from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(name="customer")
def fixture_customer(shop) -> Customer:
    return CustomerFactory(shop=shop, email="ada@example.com", full_name="Ada Lovelace")


@pytest.fixture(name="other_store_client")
def fixture_other_store_client(other_channel) -> Client:
    return Client(headers={"X-Publishable-Key": publishable_key(other_channel)})


def post(client: Client, path: str, data: Any = None, *, token: str | None = None, **extra: Any):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        STORE + path,
        data if data is not None else {},
        content_type="application/json",
        headers=headers,
        **extra,
    )


def patch(client: Client, path: str, data: Any, *, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.patch(STORE + path, data, content_type="application/json", headers=headers)


def get(client: Client, path: str, *, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(STORE + path, headers=headers)


def delete(client: Client, path: str, *, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.delete(STORE + path, headers=headers)


def sign_in(client: Client, email: str, password: str = PASSWORD, **extra: Any):
    return post(client, "/auth/sign-in", {"email": email, "password": password}, **extra)


def token_for(client: Client, email: str, password: str = PASSWORD) -> str:
    response = sign_in(client, email, password)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def link_params(message: mail.EmailMessage) -> dict[str, str]:
    """Return the query parameters of the one link in an email's body."""
    urls = re.findall(r"https?://\S+", message.body)
    assert len(urls) == 1, message.body
    query = parse_qs(urlsplit(urls[0]).query)
    return {name: values[0] for name, values in query.items()}


def snapshot() -> dict[str, Any]:
    """
    Everything the customer endpoints can write, to assert that nothing changed.

    A token's ``last_used_at`` is left out: using a token records its use.
    """
    token_fields = [f.name for f in CustomerToken._meta.concrete_fields if f.name != "last_used_at"]
    return {
        "customers": list(Customer.objects.order_by("pk").values()),
        "addresses": list(CustomerAddress.objects.order_by("pk").values()),
        "tokens": list(CustomerToken.objects.order_by("pk").values(*token_fields)),
        "mail": len(mail.outbox),
    }
