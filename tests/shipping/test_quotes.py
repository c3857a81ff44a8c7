"""available_methods: the most specific zone, its methods priced, and why others are left out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from merchantry.core.errors import ValidationFailed
from merchantry.plugins.providers import Address
from merchantry.shipping.quotes import address_from_input, available_methods
from tests.factories import ChannelFactory
from tests.shipping.conftest import line, make_location, make_method, make_zone

pytestmark = pytest.mark.django_db


def quote(channel, country="US", region="", postal_code="", lines=None, **kwargs):
    address = Address(country=country, region=region, postal_code=postal_code)
    return available_methods(channel=channel, address=address, lines=lines or [line()], **kwargs)


def names(result) -> list[str]:
    return [m.name for m in result.methods]


# -- zones ---------------------------------------------------------------------------


def test_the_country_zone_prices_its_methods_in_the_channel_currency(shop, channel) -> None:
    zone = make_zone(shop, channels=(channel,))
    make_method(zone, name="Standard", amount="5.00")
    make_method(
        zone, name="Express", rates=[{"currency": "USD", "amount": "15.00"}], min_days=1, max_days=2
    )

    result = quote(channel, lines=[line(quantity=2, price="10.00", grams=300)])

    assert result.zone == zone
    assert [(m.name, str(m.price.amount), m.price.currency) for m in result.methods] == [
        ("Standard", "5.00", "USD"),
        ("Express", "15.00", "USD"),
    ]
    assert (result.weight_grams, str(result.subtotal.amount)) == (600, "20.00")
    assert result.methods[1].min_days == 1
    assert result.reasons == []
    assert result.unavailable == []


def test_no_zone_for_the_address_gives_an_empty_list_with_a_reason(shop, channel) -> None:
    make_method(make_zone(shop, channels=(channel,)))

    result = quote(channel, country="CA", region="CA-BC", postal_code="V5K 0A1")

    assert result.methods == []
    assert result.zone is None
    assert [(r.code, r.message) for r in result.reasons] == [
        ("no_zone", "No shipping zone of this channel covers CA CA-BC V5K 0A1.")
    ]


def test_a_channel_without_zones_says_so(shop, channel) -> None:
    other = ChannelFactory(shop=shop, slug="pos")
    make_method(make_zone(shop, channels=(other,)))

    result = quote(channel)

    assert result.methods == []
    assert [r.code for r in result.reasons] == ["no_zones"]


def test_a_subdivision_zone_beats_the_country_zone(shop, channel) -> None:
    country = make_zone(shop, name="USA", channels=(channel,))
    west = make_zone(shop, name="West coast", subdivisions=["US-CA", "US-OR"], channels=(channel,))
    make_method(country, name="Country rate", amount="8.00")
    make_method(west, name="West rate", amount="6.00")

    in_california = quote(channel, region="US-CA")
    in_oregon_short_code = quote(channel, region="OR")
    in_texas = quote(channel, region="US-TX")

    assert (in_california.zone, names(in_california)) == (west, ["West rate"])
    assert names(in_oregon_short_code) == ["West rate"]
    assert (in_texas.zone, names(in_texas)) == (country, ["Country rate"])


def test_postal_ranges_and_patterns_beat_subdivisions(shop, channel) -> None:
    state = make_zone(shop, name="New York", subdivisions=["US-NY"], channels=(channel,))
    city = make_zone(shop, name="NYC", postal_codes=["10000..10299"], channels=(channel,))
    soho = make_zone(shop, name="SoHo", postal_codes=["10012", "10013"], channels=(channel,))
    for zone in (state, city, soho):
        make_method(zone, name=f"{zone.name} rate")

    assert quote(channel, region="US-NY", postal_code="10001").zone == city
    assert quote(channel, region="US-NY", postal_code="10012").zone == soho
    assert quote(channel, region="US-NY", postal_code="12207").zone == state
    assert quote(channel, region="US-NY", postal_code="10299-1234").zone == city


def test_the_narrowest_postal_pattern_wins_whatever_the_zones_age(shop, channel) -> None:
    # given zones made broadest first and narrowest last, so age cannot decide
    london = make_zone(
        shop, name="London", countries=("GB",), postal_codes=["E*", "SW*"], channels=(channel,)
    )
    sw1 = make_zone(
        shop, name="SW1", countries=("GB",), postal_codes=["SW1????"], channels=(channel,)
    )
    palace = make_zone(
        shop, name="Palace", countries=("GB",), postal_codes=["SW1A1AA"], channels=(channel,)
    )
    wide = make_zone(shop, name="Wide", postal_codes=["10000..19999"], channels=(channel,))
    narrow = make_zone(shop, name="Narrow", postal_codes=["10010..10019"], channels=(channel,))
    for zone in (london, sw1, palace, wide, narrow):
        make_method(zone, name=f"{zone.name} rate")

    # then an exact code beats a wildcard, a short wildcard a long one,
    # and a short range a long one
    assert quote(channel, country="GB", postal_code="SW1A 1AA").zone == palace
    assert quote(channel, country="GB", postal_code="SW1A 2AA").zone == sw1
    assert quote(channel, country="GB", postal_code="SW7 2BX").zone == london
    assert quote(channel, country="GB", postal_code="E1 6AN").zone == london
    assert quote(channel, region="US-NY", postal_code="10012").zone == narrow
    assert quote(channel, region="US-NY", postal_code="10112").zone == wide


def test_between_equally_specific_zones_the_narrower_then_the_oldest_wins(shop, channel) -> None:
    europe = make_zone(shop, name="Europe", countries=("FR", "DE", "IT"), channels=(channel,))
    france = make_zone(shop, name="France", countries=("FR",), channels=(channel,))
    france_again = make_zone(shop, name="France 2", countries=("FR",), channels=(channel,))
    for zone in (europe, france, france_again):
        make_method(zone)

    assert quote(channel, country="FR").zone == france
    assert quote(channel, country="DE").zone == europe


def test_the_most_specific_zone_wins_even_without_a_method_for_the_order(shop, channel) -> None:
    country = make_zone(shop, name="USA", channels=(channel,))
    make_method(country, name="Anywhere")
    alaska = make_zone(shop, name="Alaska", subdivisions=["US-AK"], channels=(channel,))
    make_method(alaska, name="Heavy only", max_weight_grams=100)

    result = quote(channel, region="US-AK", lines=[line(grams=500)])

    assert result.zone == alaska
    assert result.methods == []
    assert [(u.name, u.code) for u in result.unavailable] == [("Heavy only", "over_max_weight")]
    assert [r.code for r in result.reasons] == ["no_method_available"]


# -- methods and their limits --------------------------------------------------------


def test_methods_come_cheapest_first_then_by_position_and_name(shop, channel) -> None:
    zone = make_zone(shop, channels=(channel,))
    make_method(zone, name="B", amount="5.00", position=1)
    make_method(zone, name="A", amount="5.00", position=1)
    make_method(zone, name="Z", amount="5.00", position=0)
    make_method(zone, name="Cheap", amount="1.00", position=9)

    assert names(quote(channel)) == ["Cheap", "Z", "A", "B"]
    assert names(quote(channel)) == names(quote(channel))


def test_methods_limited_to_other_channels_or_inactive_are_not_offered(shop, channel) -> None:
    pos = ChannelFactory(shop=shop, slug="pos")
    zone = make_zone(shop, channels=(channel, pos))
    make_method(zone, name="Web and POS")
    make_method(zone, name="Web only", channel_ids=[channel.pk])
    make_method(zone, name="POS only", channel_ids=[pos.pk])
    make_method(zone, name="Off", is_active=False)

    assert names(quote(channel)) == ["Web and POS", "Web only"]
    assert names(quote(pos)) == ["POS only", "Web and POS"]


def test_a_zone_with_no_method_for_the_channel_says_so(shop, channel) -> None:
    pos = ChannelFactory(shop=shop, slug="pos")
    zone = make_zone(shop, channels=(channel, pos))
    make_method(zone, name="POS only", channel_ids=[pos.pk])

    result = quote(channel)

    assert result.zone == zone
    assert [r.code for r in result.reasons] == ["no_methods"]


def test_max_weight_and_excluded_types_and_tags(shop, channel) -> None:
    zone = make_zone(shop, channels=(channel,))
    make_method(zone, name="Letter", amount="1.00", max_weight_grams=500)
    make_method(zone, name="Air", amount="9.00", excluded_product_types=["Battery"])
    make_method(zone, name="Ground", amount="6.00", excluded_tags=["Hazmat"])

    light = quote(channel, lines=[line(grams=250, quantity=2)])  # exactly 500 g
    heavy = quote(channel, lines=[line(grams=501)])
    battery = quote(channel, lines=[line(product_type="battery"), line(tags=("hazmat",))])

    assert names(light) == ["Letter", "Ground", "Air"]
    assert names(heavy) == ["Ground", "Air"]
    assert [(u.name, u.code) for u in heavy.unavailable] == [("Letter", "over_max_weight")]
    assert names(battery) == ["Letter"]
    assert sorted((u.name, u.code) for u in battery.unavailable) == [
        ("Air", "excluded_product_type"),
        ("Ground", "excluded_tag"),
    ]


def test_a_method_without_a_price_in_the_channel_currency_is_left_out(shop) -> None:
    euro = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    zone = make_zone(shop, countries=("FR",), channels=(euro,))
    make_method(zone, name="USD only", amount="5.00")
    make_method(
        zone,
        name="Both",
        rates=[{"currency": "USD", "amount": "5.00"}, {"currency": "EUR", "amount": "4.50"}],
    )

    result = quote(euro, country="FR")

    assert [(m.name, str(m.price)) for m in result.methods] == [("Both", "4.50 EUR")]
    assert [(u.name, u.code) for u in result.unavailable] == [("USD only", "no_price")]


def test_weight_tiers_use_the_variant_weights_times_quantities(shop, channel) -> None:
    zone = make_zone(shop, countries=("DE", "FR"), name="International", channels=(channel,))
    tiers = [
        {"min_grams": 0, "max_grams": 1000, "amount": "12.00"},
        {"min_grams": 1000, "max_grams": None, "amount": "25.00"},
    ]
    make_method(
        zone,
        name="International",
        rate_type="weight",
        rates=[{"currency": "USD", "weight_tiers": tiers}],
    )

    at_edge = quote(channel, country="DE", lines=[line(grams=250, quantity=4)])
    weightless = quote(channel, country="DE", lines=[line(grams=0, quantity=3)])

    assert (at_edge.weight_grams, str(at_edge.methods[0].price.amount)) == (1000, "25.00")
    assert (weightless.weight_grams, str(weightless.methods[0].price.amount)) == (0, "12.00")


def test_the_free_threshold_compares_the_discounted_subtotal(shop, channel) -> None:
    zone = make_zone(shop, channels=(channel,))
    make_method(
        zone,
        name="Free over 50",
        rate_type="free_over",
        rates=[{"currency": "USD", "amount": "5.00", "free_over": "50.00"}],
    )
    lines = [line(price="30.00", quantity=2)]  # 60.00 before discounts

    undiscounted = quote(channel, lines=lines)
    at_threshold = quote(channel, lines=lines, discounted_subtotal=Decimal("50.00"))
    below = quote(channel, lines=lines, discounted_subtotal="49.99")

    assert str(undiscounted.methods[0].price.amount) == "0.00"
    assert str(at_threshold.methods[0].price.amount) == "0.00"
    assert str(below.methods[0].price.amount) == "5.00"
    assert str(below.subtotal.amount) == "49.99"


def test_a_malformed_discounted_subtotal_is_a_validation_error(shop, channel) -> None:
    make_method(make_zone(shop, channels=(channel,)))

    for bad, code in (("-1", "negative"), ("1.001", "too_many_decimals"), ("x", "not_a_number")):
        with pytest.raises(ValidationFailed) as exc:
            quote(channel, discounted_subtotal=bad)
        assert [(e.loc, e.code) for e in exc.value.errors] == [(("discounted_subtotal",), code)]


def test_jpy_channels_are_priced_in_whole_yen(shop) -> None:
    yen = ChannelFactory(shop=shop, slug="jp", currency="JPY")
    zone = make_zone(shop, countries=("JP",), channels=(yen,))
    make_method(
        zone,
        name="Yamato",
        rate_type="free_over",
        rates=[{"currency": "JPY", "amount": "800", "free_over": "5000"}],
    )

    below = quote(yen, country="JP", lines=[line(price="4999")])
    at = quote(yen, country="JP", lines=[line(price="5000")])

    assert (str(below.methods[0].price.amount), str(at.methods[0].price.amount)) == ("800", "0")


# -- pickup ----------------------------------------------------------------------------


def test_pickup_only_methods_list_the_locations_open_for_pickup(shop, channel) -> None:
    store = make_location(shop, "store", can_pickup=True, city="Brooklyn")
    closed = make_location(shop, "closed", can_pickup=True)
    zone = make_zone(shop, name="NYC", postal_codes=["10000..11299"], channels=(channel,))
    method = make_method(
        zone,
        name="Pick up in store",
        amount="0",
        pickup_only=True,
        pickup_location_ids=[store.pk, closed.pk],
    )
    make_method(zone, name="Courier", amount="9.00")
    closed.is_active = False
    closed.save()

    result = quote(channel, postal_code="11201")

    assert names(result) == ["Pick up in store", "Courier"]
    pickup = result.methods[0]
    assert (pickup.pickup, pickup.method_id, str(pickup.price.amount)) == (True, method.pk, "0.00")
    assert [loc.name for loc in pickup.pickup_locations] == ["Store"]
    assert result.methods[1].pickup is False

    store.can_pickup = False
    store.save()
    later = quote(channel, postal_code="11201")
    assert names(later) == ["Courier"]
    assert [(u.name, u.code) for u in later.unavailable] == [
        ("Pick up in store", "no_pickup_location")
    ]


# -- addresses -------------------------------------------------------------------------


def test_addresses_name_known_countries_and_regions() -> None:
    assert address_from_input(country="us", region="ca", postal_code=" 94016 ") == Address(
        country="US", region="US-CA", postal_code="94016"
    )
    for kwargs, loc, code in (
        ({"country": "XX"}, ("address", "country"), "unknown_country"),
        ({"country": "US", "region": "ZZ"}, ("address", "region"), "unknown_subdivision"),
        ({"country": "US", "region": "FR-IDF"}, ("address", "region"), "unknown_subdivision"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            address_from_input(**kwargs)
        assert [(e.loc, e.code) for e in exc.value.errors] == [(loc, code)]


def test_quotes_use_a_fixed_number_of_queries(shop, channel, django_assert_max_num_queries) -> None:
    for index in range(3):
        zone = make_zone(shop, name=f"Zone {index}", countries=("US", "CA"), channels=(channel,))
        for number in range(4):
            make_method(zone, name=f"M{number}", channel_ids=[channel.pk])

    with django_assert_max_num_queries(4):
        result = quote(channel, lines=[line(grams=10)] * 20)

    assert len(result.methods) == 4
