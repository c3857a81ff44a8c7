"""
The testing kit's own helpers: signed webhooks in the layouts providers use,
the fake server, and sample inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from merchantry.integrations.example import ExamplePlugin
from merchantry.plugins.models import PluginInstallation
from merchantry.plugins.providers import Money
from merchantry.plugins.registry import get_plugin
from merchantry.plugins.services import plugin_settings
from merchantry.testing import (
    FakeServer,
    fake_server,
    sample_checkout,
    sign_webhook,
    signed_webhook,
    webhook_body,
)
from merchantry.testing import __all__ as exported

# The fixtures plugin authors enable in their conftest.py, exercised here.
pytest_plugins = ["merchantry.testing.pytest_plugin"]

SECRET = "whsec_test_secret"
BODY = b'{"id":"evt_1"}'


def _hex(message: bytes) -> str:
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


def test_the_default_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    headers = sign_webhook(BODY, secret=SECRET, timestamp=1700000000)

    assert headers == {"X-Signature": f"t=1700000000,v1={_hex(b'1700000000.' + BODY)}"}


def test_the_header_layout_is_configurable() -> None:
    shopify = sign_webhook(
        BODY,
        secret=SECRET,
        header="X-Shopify-Hmac-Sha256",
        template="{signature}",
        sign_timestamp=False,
        encoding="base64",
    )
    svix_like = sign_webhook(
        BODY, secret=SECRET, timestamp=5, header="Sig", template="v1,{signature}", separator=""
    )

    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    assert shopify == {"X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode()}
    assert svix_like == {"Sig": f"v1,{_hex(b'5' + BODY)}"}
    with pytest.raises(ValueError, match="'hex' or 'base64'"):
        sign_webhook(BODY, secret=SECRET, encoding="base32")


def test_a_signed_webhook_carries_the_exact_signed_bytes() -> None:
    payload = {"id": "evt_2", "amount": 5}

    webhook = signed_webhook(payload, secret=SECRET, timestamp=1700000000, path="payments")

    assert webhook.body == webhook_body(payload) == b'{"id":"evt_2","amount":5}'
    assert webhook.headers == {
        "Content-Type": "application/json",
        "X-Signature": f"t=1700000000,v1={_hex(b'1700000000.' + webhook.body)}",
    }
    assert webhook.received_at == datetime.fromtimestamp(1700000000, UTC)
    assert webhook.path == "payments"


def test_the_fake_server_answers_failures_first_then_the_standing_answer() -> None:
    # given a server failing once before answering
    with fake_server() as api:
        api.fail("POST", "/v1/labels", status=503)
        api.on("POST", "/v1/labels", json={"id": "lbl_1"}, status=201)

        # when the endpoint is called twice
        with httpx.Client(base_url=api.base_url) as client:
            first = client.post("/v1/labels", json={"n": 1})
            second = client.post("/v1/labels", json={"n": 2})

        # then the failure came first, and both requests were recorded
        assert (first.status_code, second.status_code) == (503, 201)
        assert second.json() == {"id": "lbl_1"}
        assert [r.json() for r in api.requests_to("POST", "/v1/labels")] == [{"n": 1}, {"n": 2}]
        api.check()


def test_the_fake_server_check_fails_on_an_unexpected_request() -> None:
    with fake_server() as api:
        httpx.get(api.url("/nobody/expects/this"))

        with pytest.raises(AssertionError):
            api.check()


def test_the_fake_server_fixture_wraps_pytest_httpserver(fake_server) -> None:
    fake_server.on("GET", "/ping", body="pong", query={"deep": "1"})

    response = httpx.get(f"{fake_server.base_url}/ping?deep=1")

    assert isinstance(fake_server, FakeServer)
    assert (response.status_code, response.text) == (200, "pong")
    assert fake_server.requests[0].query == "deep=1"


def test_register_plugin_lasts_for_the_test(register_plugin) -> None:
    replacement = ExamplePlugin()

    loaded = register_plugin(replacement)

    assert loaded.usable
    assert get_plugin("example").plugin is replacement


def test_register_plugin_was_undone_after_the_previous_test() -> None:
    import merchantry.integrations.example

    assert get_plugin("example").plugin is merchantry.integrations.example.plugin


def test_plugin_shop_makes_a_shop_with_the_plugin_enabled_and_configured(plugin_shop) -> None:
    # given a plugin object not installed as a distribution
    plugin = ExamplePlugin()

    # when a shop is made with it
    shop, installation = plugin_shop(plugin, settings={"api_key": "ex_kit_0123456"}, slug="kit")

    # then the plugin is registered, installed, enabled and configured there, secret encrypted
    assert get_plugin("example").plugin is plugin
    assert (shop.slug, installation.plugin_id, installation.status) == ("kit", "example", "enabled")
    assert plugin_settings(installation).api_key.get_secret_value() == "ex_kit_0123456"
    stored = PluginInstallation.objects.values_list("secrets", flat=True).get(pk=installation.pk)
    assert stored.startswith("gAAAA")  # a Fernet token
    assert "ex_kit_0123456" not in stored


def test_the_sample_checkout_adds_up() -> None:
    checkout = sample_checkout(prices=("10.00", "2.50"), shipping="5.00", currency="EUR")

    assert checkout.totals.subtotal == Money(Decimal("12.50"), "EUR")
    assert checkout.totals.total == Money(Decimal("17.50"), "EUR")
    assert [line.sku for line in checkout.lines] == ["SKU-1", "SKU-2"]


def test_the_kit_exports_are_sorted_and_importable() -> None:
    import merchantry.testing

    assert exported == sorted(exported)
    assert all(getattr(merchantry.testing, name) is not None for name in exported)
