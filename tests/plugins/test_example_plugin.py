"""
The example plugin, as shipped: found through its real entry point, its
shipping rates conform, its webhooks are verified, and it works installed in
a shop (settings, inbox, health, event hook).
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.metadata import entry_points

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from pydantic import ValidationError

import merchantry.integrations.example
from merchantry.integrations.example import ExampleSettings, plugin
from merchantry.integrations.example.webhooks import SIGNATURE_HEADER, TOLERANCE_SECONDS
from merchantry.plugins.hooks import dispatch_event
from merchantry.plugins.models import PluginInstallation, WebhookEvent
from merchantry.plugins.providers import Address, Money, Parcel, RateOption
from merchantry.plugins.registry import ENTRY_POINT_GROUP, PluginStatus, get_plugin, reset_registry
from merchantry.plugins.spec import ProviderKind, VerifiedWebhook, WebhookRejected, secret_fields
from merchantry.testing import (
    SampleEvent,
    check_shipping_rate_provider,
    plugins_enabled,
    signed_webhook,
)
from merchantry.testing.installations import install_plugin

API_KEY = "ex_test_0123456789"
SETTINGS = ExampleSettings(api_key=API_KEY, flat_rate=Decimal("4.99"))
US = Address(country="US", postal_code="10001")
FR = Address(country="FR", postal_code="75001")
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
EVENT = {"id": "evt_123", "type": "shipment.delivered", "created": int(NOW.timestamp())}


def _rates():
    return plugin.provider(ProviderKind.SHIPPING_RATES, installation=None, settings=SETTINGS)


def _sign(payload=EVENT, *, secret=API_KEY, at=NOW, received=NOW, **options):
    return signed_webhook(
        payload,
        secret=secret,
        timestamp=int(at.timestamp()),
        received_at=received,
        header=SIGNATURE_HEADER,
        **options,
    )


# -- discovery ------------------------------------------------------------------------


def test_the_example_is_discovered_through_its_installed_entry_point() -> None:
    # given the distribution's real entry points (no monkeypatching)
    reset_registry()
    declared = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "example"]

    # when the registry loads them
    loaded = get_plugin("example")

    # then the example is there, usable, and is the package's plugin object
    assert [ep.value for ep in declared] == ["merchantry.integrations.example:plugin"]
    assert loaded.status == PluginStatus.OK
    assert loaded.entry_point == "example = merchantry.integrations.example:plugin"
    assert loaded.plugin is merchantry.integrations.example.plugin
    assert loaded.manifest.providers == (ProviderKind.SHIPPING_RATES,)


def test_the_api_key_is_the_only_secret_setting() -> None:
    assert secret_fields(ExampleSettings) == frozenset({"api_key"})
    with pytest.raises(ValidationError) as invalid:
        ExampleSettings(api_key="short", flat_rate=Decimal("-1"))
    assert sorted(error["loc"][0] for error in invalid.value.errors()) == ["api_key", "flat_rate"]


# -- shipping rates -------------------------------------------------------------------


def test_the_shipping_provider_passes_its_conformance_suite() -> None:
    check_shipping_rate_provider(
        _rates(), origin=US, destination=FR, parcels=[Parcel(weight_grams=750)], currency="EUR"
    )


def test_each_parcel_costs_the_flat_rate_and_delivery_depends_on_the_border() -> None:
    parcels = [Parcel(weight_grams=100), Parcel(weight_grams=2000)]

    domestic = _rates().rates(origin=US, destination=US, parcels=parcels, currency="USD")
    abroad = _rates().rates(origin=US, destination=FR, parcels=parcels[:1], currency="EUR")

    assert domestic == [
        RateOption(
            id="flat-standard",
            name="Standard",
            price=Money(Decimal("9.98"), "USD"),
            carrier="example",
            service="standard",
            min_days=2,
            max_days=4,
        )
    ]
    assert (abroad[0].price, abroad[0].min_days, abroad[0].max_days) == (
        Money(Decimal("4.99"), "EUR"),
        5,
        10,
    )


def test_a_currency_without_cents_gets_a_rounded_rate() -> None:
    [option] = _rates().rates(
        origin=US, destination=US, parcels=[Parcel(weight_grams=1)], currency="JPY"
    )

    assert option.price == Money(Decimal(5), "JPY")


# -- webhooks -------------------------------------------------------------------------


def test_a_correctly_signed_webhook_is_verified() -> None:
    verified = plugin.verify_webhook(_sign(), installation=None, settings=SETTINGS)

    assert verified == VerifiedWebhook(
        event_id="evt_123", event_type="shipment.delivered", occurred_at=NOW, payload=EVENT
    )


@pytest.mark.parametrize(
    ("_case", "webhook", "status", "reason"),
    [
        ("wrong secret", lambda: _sign(secret="ex_someone_else"), 401, "signature does not match"),
        (
            "body changed after signing",
            lambda: _with_body(_sign(), b'{"id":"evt_123","type":"refund"}'),
            401,
            "signature does not match",
        ),
        (
            "too old",
            lambda: _sign(at=NOW - timedelta(seconds=TOLERANCE_SECONDS + 1)),
            401,
            "outside the tolerance",
        ),
        (
            "from the future",
            lambda: _sign(at=NOW + timedelta(seconds=TOLERANCE_SECONDS + 1)),
            401,
            "outside the tolerance",
        ),
        ("no header", lambda: _with_headers(_sign(), {}), 401, "missing X-Example-Signature"),
        (
            "garbled header",
            lambda: _with_headers(_sign(), {SIGNATURE_HEADER: "v1=abc"}),
            400,
            "malformed",
        ),
        ("not JSON", lambda: _sign(b"not json"), 400, "body is not JSON"),
        ("no event id", lambda: _sign({"type": "x"}), 400, "no event id"),
    ],
)
def test_a_webhook_that_fails_verification_is_rejected(
    _case: str, webhook, status: int, reason: str
) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        plugin.verify_webhook(webhook(), installation=None, settings=SETTINGS)

    assert (rejected.value.status, reason in rejected.value.reason) == (status, True)


def test_a_signature_within_the_tolerance_is_accepted() -> None:
    webhook = _sign(at=NOW - timedelta(seconds=TOLERANCE_SECONDS))

    assert (
        plugin.verify_webhook(webhook, installation=None, settings=SETTINGS).event_id == "evt_123"
    )


def _with_body(webhook, body: bytes):
    return replace(webhook, body=body)


def _with_headers(webhook, headers: dict[str, str]):
    return replace(webhook, headers=headers)


# -- health and hooks -----------------------------------------------------------------


def test_health_reports_a_key_that_cannot_be_an_example_key() -> None:
    good = plugin.health(installation=None, settings=SETTINGS)
    bad = plugin.health(installation=None, settings=ExampleSettings(api_key="sk_live_12345678"))

    assert (good.ok, good.checks) == (True, {"credentials": "ok"})
    assert (bad.ok, bad.checks) == (False, {"credentials": "invalid"})


def test_a_placed_order_reaches_the_example_hook(caplog: pytest.LogCaptureFixture) -> None:
    # Through the standard library's records: structlog caches configured
    # loggers, so capture_logs() misses a logger another test used first.
    with plugins_enabled("example"), caplog.at_level("INFO"):
        failures = dispatch_event(SampleEvent(type="order.placed", shop_id=3, id=11))
        dispatch_event(SampleEvent(type="product.changed", shop_id=3, id=12))

    assert failures == []
    lines = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and str(r.msg.get("event", "")).startswith("example_")
    ]
    assert [(line["event"], line["event_id"], line["shop_id"]) for line in lines] == [
        ("example_order_placed", 11, 3)
    ]


# -- installed in a shop --------------------------------------------------------------


@pytest.fixture
def installation(shop) -> PluginInstallation:
    return install_plugin(shop, "example", settings={"api_key": API_KEY, "flat_rate": "3.50"})


def test_installed_the_webhook_inbox_verifies_and_stores_its_events(
    installation, django_capture_on_commit_callbacks
) -> None:
    # given the example installed and enabled, and a webhook signed with its key
    body = json.dumps({"id": "evt_9", "type": "shipment.delivered"}).encode()
    webhook = signed_webhook(body, secret=API_KEY, header=SIGNATURE_HEADER)
    forged = signed_webhook(body, secret="ex_forged_key_000", header=SIGNATURE_HEADER)
    client = Client()

    # when the provider posts it to the installation's URL, and a forger too
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(
            installation.webhook_path,
            body,
            content_type="application/json",
            headers=webhook.headers,
        )
    refused = client.post(
        installation.webhook_path, body, content_type="application/json", headers=forged.headers
    )

    # then the signed one is stored and processed once; the forged one is refused
    assert accepted.status_code == 200
    assert refused.status_code == 401
    assert list(WebhookEvent.objects.values_list("provider_event_id", "status")) == [
        ("evt_9", "processed")
    ]


def test_plugins_health_lists_each_installation(installation, other_shop) -> None:
    # given the example healthy in one shop and misconfigured in another
    install_plugin(other_shop, "example", settings={"api_key": "sk_wrong_kind_1", "flat_rate": "1"})
    out = io.StringIO()

    # when the health of one shop, then of all, is checked
    call_command("plugins", "health", "--shop", "acme", stdout=out)
    with pytest.raises(CommandError, match=r"1 of 2 installation\(s\) are failing\.") as failed:
        call_command("plugins", "health", stdout=out)

    # then each installation is a row; a failing one makes the command fail
    assert out.getvalue().splitlines() == [
        "SHOP  PLUGIN   STATUS   HEALTH  DETAIL",
        "acme  example  enabled  ok      Ready.",
        "SHOP    PLUGIN   STATUS   HEALTH   DETAIL",
        "acme    example  enabled  ok       Ready.",
        "globex  example  enabled  failing  "
        "The API key does not look like an Example key (ex_...).",
    ]
    assert failed.value.returncode == 1


def test_plugins_health_says_when_nothing_is_installed(shop) -> None:
    out = io.StringIO()

    call_command("plugins", "health", "--shop", "acme", stdout=out)

    assert out.getvalue() == "No plugin is installed in shop acme.\n"


def test_plugins_health_refuses_an_unknown_shop(db) -> None:
    with pytest.raises(CommandError, match="No shop with the slug 'nope'"):
        call_command("plugins", "health", "--shop", "nope")


@pytest.mark.django_db
def test_the_manifests_periodic_job_is_scheduled_and_runs(shop) -> None:
    # given the example plugin, usable, whose manifest declares an hourly job
    from datetime import timedelta

    from merchantry.core.jobs import periodic_jobs, run_due_jobs
    from merchantry.integrations.example.tasks import count_enabled_shops
    from merchantry.plugins.registry import all_plugins

    assert all_plugins()["example"].usable
    install_plugin(shop, "example", settings={"api_key": API_KEY, "flat_rate": "3.50"})

    # when the scheduler looks for due jobs
    scheduled = periodic_jobs()["plugin:example:count_enabled_shops"]
    enqueued = run_due_jobs({scheduled.name: scheduled})

    # then it is registered with the manifest's schedule and enqueued (run inline here)
    assert scheduled.every == timedelta(hours=1)
    assert scheduled.task is count_enabled_shops
    assert enqueued == ["plugin:example:count_enabled_shops"]
    assert count_enabled_shops.call() == 1
