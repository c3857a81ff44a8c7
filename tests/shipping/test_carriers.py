"""Carrier-calculated methods: priced by an enabled plugin's ShippingRateProvider."""

from __future__ import annotations

import pytest

from merchantry.core.errors import ValidationFailed
from merchantry.plugins.models import PluginInstallation
from merchantry.plugins.providers import Address, Parcel
from merchantry.shipping.quotes import available_methods
from merchantry.testing import check_shipping_rate_provider, registered_plugin
from merchantry.testing.installations import install_plugin
from tests.shipping.carrier_plugin import (
    CarrierState,
    NoRatesPlugin,
    TestCarrierPlugin,
    TestCarrierRates,
)
from tests.shipping.conftest import line, make_location, make_method, make_zone

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def carrier():
    CarrierState.mode = "ok"
    CarrierState.calls = []
    with registered_plugin(TestCarrierPlugin()), registered_plugin(NoRatesPlugin()):
        yield
    CarrierState.mode = "ok"


@pytest.fixture
def zone(shop, channel):
    make_location(shop, "warehouse", channel=channel, country="US", postal_code="07001")
    return make_zone(shop, name="World", countries=("US", "CA", "DE"), channels=(channel,))


def quote(channel, *, grams=1500, country="DE"):
    return available_methods(
        channel=channel,
        address=Address(country=country, postal_code="10115"),
        lines=[line(grams=grams, price="20.00")],
    )


def test_the_test_provider_keeps_the_contract() -> None:
    check_shipping_rate_provider(
        TestCarrierRates(),
        origin=Address(country="US", postal_code="07001"),
        destination=Address(country="DE", postal_code="10115"),
        parcels=[Parcel(weight_grams=1500)],
    )


def test_each_option_of_the_enabled_plugin_is_a_method(shop, channel, zone) -> None:
    install_plugin(shop, "test_carrier")
    method = make_method(zone, name="Carrier", rate_type="carrier", carrier_plugin="test_carrier")
    flat = make_method(zone, name="Flat", amount="4.00")

    result = quote(channel, grams=1500)  # 2 kg started

    assert [(m.id, m.name, str(m.price.amount), m.service) for m in result.methods] == [
        (f"{method.pk}:test_carrier:ground", "Carrier: Ground", "2.00", "ground"),
        (str(flat.pk), "Flat", "4.00", ""),
        (f"{method.pk}:test_carrier:express", "Carrier: Express", "6.00", "express"),
    ]
    asked = CarrierState.calls[0]
    assert asked["origin"].postal_code == "07001"
    assert asked["destination"] == Address(country="DE", postal_code="10115")
    assert asked["parcels"] == [Parcel(weight_grams=1500)]
    installation = PluginInstallation.objects.get(shop=shop, plugin_id="test_carrier")
    assert (installation.success_count, installation.error_count) == (1, 0)


def test_a_method_can_keep_one_service_and_ask_every_enabled_plugin(shop, channel, zone) -> None:
    install_plugin(shop, "test_carrier")
    install_plugin(shop, "not_a_carrier")  # enabled, but provides no rates: not asked
    make_method(zone, name="Express", rate_type="carrier", carrier_service="express")

    result = quote(channel, grams=900)

    assert [(m.name, str(m.price.amount), m.min_days) for m in result.methods] == [
        ("Express: Express", "3.00", 1)
    ]


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("unavailable", "carrier_unavailable"),
        ("rejected", "carrier_rejected"),
        ("crash", "carrier_error"),
    ],
)
def test_a_failing_provider_leaves_its_method_out_with_a_reason(
    shop, channel, zone, mode, code
) -> None:
    install_plugin(shop, "test_carrier")
    make_method(zone, name="Carrier", rate_type="carrier", carrier_plugin="test_carrier")
    make_method(zone, name="Flat", amount="4.00")
    CarrierState.mode = mode

    result = quote(channel)

    assert [m.name for m in result.methods] == ["Flat"]
    assert [(u.name, u.code) for u in result.unavailable] == [("Carrier", code)]
    installation = PluginInstallation.objects.get(shop=shop, plugin_id="test_carrier")
    assert installation.error_count == (0 if mode == "rejected" else 1)


def test_a_plugin_that_is_not_enabled_is_not_asked(shop, channel, zone) -> None:
    install_plugin(shop, "test_carrier", enable=False)
    make_method(zone, name="Carrier", rate_type="carrier", carrier_plugin="test_carrier")

    result = quote(channel)

    assert result.methods == []
    assert [(u.code, u.message) for u in result.unavailable] == [
        ("carrier_not_enabled", "test_carrier is not enabled in this shop.")
    ]
    assert [r.code for r in result.reasons] == ["no_method_available"]
    assert CarrierState.calls == []


def test_carrier_rates_need_a_weight_and_an_origin(shop, channel) -> None:
    install_plugin(shop, "test_carrier")
    zone = make_zone(shop, name="World", countries=("DE",), channels=(channel,))
    make_method(zone, name="Carrier", rate_type="carrier", carrier_plugin="test_carrier")

    weightless = quote(channel, grams=0)
    nowhere = quote(channel, grams=100)

    assert [u.code for u in weightless.unavailable] == ["no_weight"]
    assert [u.code for u in nowhere.unavailable] == ["no_origin"]
    assert CarrierState.calls == []


def test_a_carrier_method_names_a_plugin_that_provides_rates(shop, zone) -> None:
    for plugin_id in ("not_a_carrier", "no_such_plugin"):
        with pytest.raises(ValidationFailed) as exc:
            make_method(zone, name="Carrier", rate_type="carrier", carrier_plugin=plugin_id)
        assert [(e.loc, e.code) for e in exc.value.errors] == [
            (("carrier_plugin",), "unknown_plugin")
        ]
    assert not zone.methods.exists()
