"""The storefront answers for the shop whose domain the request names."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import DomainFactory, ShopFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts(settings):
    settings.ALLOWED_HOSTS = ["*"]


def test_custom_domain_selects_its_shop(client: Client, hosts) -> None:
    acme = ShopFactory(name="Acme Outfitters", slug="acme")
    ShopFactory(name="Globex", slug="globex")
    DomainFactory(shop=acme, host="shop.acme.test")

    response = client.get("/", headers={"Host": "shop.acme.test"})

    assert response.status_code == 200
    assert b"Acme Outfitters is open." in response.content
    assert b"Globex" not in response.content


def test_host_matching_is_case_insensitive_and_ignores_the_port(client: Client, hosts) -> None:
    acme = ShopFactory(name="Acme Outfitters")
    DomainFactory(shop=acme, host="shop.acme.test")
    response = client.get("/", headers={"Host": "Shop.ACME.test:8443"})
    assert b"Acme Outfitters" in response.content


def test_loopback_host_shows_the_default_shop(client: Client, settings) -> None:
    ShopFactory(name="Demo Shop", slug="demo")
    response = client.get("/", headers={"Host": "127.0.0.1:8000"})
    assert response.status_code == 200
    assert b"Demo Shop is open." in response.content


def test_unknown_host_is_a_404_page(client: Client, hosts) -> None:
    ShopFactory(name="Demo Shop", slug="demo")
    response = client.get("/", headers={"Host": "unknown.example"})
    assert response.status_code == 404
    assert b"Demo Shop" not in response.content


def test_suspended_shop_does_not_answer(client: Client, hosts) -> None:
    acme = ShopFactory(name="Acme Outfitters", status="suspended")
    DomainFactory(shop=acme, host="shop.acme.test")
    assert client.get("/", headers={"Host": "shop.acme.test"}).status_code == 404


def test_no_default_shop_configured(client: Client, settings) -> None:
    settings.MERCHANTRY_DEFAULT_SHOP = ""
    ShopFactory(slug="demo")
    assert client.get("/", headers={"Host": "localhost"}).status_code == 404
