"""Store API: the shipping methods for an address and some variants, priced for the channel."""

from __future__ import annotations

import json

import pytest

from merchantry.catalog import services as catalog
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product
from tests.shipping.conftest import make_location, make_method, make_zone

pytestmark = pytest.mark.django_db

URL = "/api/v1/store/shipping/quote"


def post(client, body):
    return client.post(URL, json.dumps(body), content_type="application/json")


@pytest.fixture
def variants(shop, channel):
    """A 400 g shirt at 20.00 and a 2 kg battery pack at 35.00, for sale on ``channel``."""
    shirt = make_product(shop, title="Shirt", channel=channel, price="20.00").variants.get()
    battery = make_product(
        shop, title="Battery", channel=channel, price="35.00", product_type="Battery"
    ).variants.get()
    for variant, grams in ((shirt, 400), (battery, 2000)):
        catalog.variant_update(
            actor=SYSTEM_ACTOR, shop=shop, variant_id=variant.pk, changes={"weight_grams": grams}
        )
    return shirt, battery


@pytest.fixture
def zones(shop, channel):
    domestic = make_zone(shop, name="Domestic", channels=(channel,))
    make_method(domestic, name="Standard", amount="5.00", min_days=2, max_days=4)
    make_method(
        domestic,
        name="Free over 100",
        rate_type="free_over",
        rates=[{"currency": "USD", "amount": "8.00", "free_over": "100.00"}],
    )
    make_method(domestic, name="Air", amount="15.00", excluded_product_types=["battery"])
    store = make_location(shop, "store", can_pickup=True)
    make_method(
        domestic, name="Pick up", amount="0", pickup_only=True, pickup_location_ids=[store.pk]
    )
    world = make_zone(shop, name="World", countries=("DE", "FR"), channels=(channel,))
    make_method(
        world,
        name="International",
        rate_type="weight",
        rates=[
            {
                "currency": "USD",
                "weight_tiers": [
                    {"min_grams": 0, "max_grams": 2000, "amount": "18.00"},
                    {"min_grams": 2000, "max_grams": 10000, "amount": "30.00"},
                ],
            }
        ],
    )
    return domestic, world


def test_a_domestic_quote_lists_the_methods_cheapest_first(store_client, variants, zones) -> None:
    shirt, battery = variants

    response = post(
        store_client,
        {
            "address": {"country": "US", "region": "NY", "postal_code": "10001"},
            "lines": [
                {"variant_id": str(shirt.pk), "quantity": 2},
                {"variant_id": str(battery.pk), "quantity": 1},
            ],
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["currency"], body["zone"]["name"], body["weight_grams"]) == (
        "USD",
        "Domestic",
        2800,
    )
    assert body["subtotal"] == {"amount": "75.00", "currency": "USD"}
    assert [(m["name"], m["price"]["amount"]) for m in body["methods"]] == [
        ("Pick up", "0.00"),
        ("Standard", "5.00"),
        ("Free over 100", "8.00"),
    ]
    assert body["methods"][0]["pickup"] is True
    assert [loc["name"] for loc in body["methods"][0]["pickup_locations"]] == ["Store"]
    assert body["methods"][1]["min_days"] == 2
    assert [(u["name"], u["code"]) for u in body["unavailable"]] == [
        ("Air", "excluded_product_type")
    ]
    assert body["reasons"] == []


def test_the_discounted_subtotal_decides_the_free_threshold(store_client, variants, zones) -> None:
    shirt, _ = variants
    body = {
        "address": {"country": "US"},
        "lines": [{"variant_id": str(shirt.pk), "quantity": 5}],  # 100.00
    }

    full = post(store_client, body).json()
    discounted = post(store_client, {**body, "discounted_subtotal": "99.99"}).json()

    def free(result):
        return next(m for m in result["methods"] if m["name"] == "Free over 100")

    assert free(full)["price"]["amount"] == "0.00"
    assert free(discounted)["price"]["amount"] == "8.00"


def test_an_international_quote_is_priced_by_weight(store_client, variants, zones) -> None:
    shirt, battery = variants

    light = post(
        store_client,
        {"address": {"country": "DE"}, "lines": [{"variant_id": str(shirt.pk), "quantity": 4}]},
    )
    at_edge = post(
        store_client,
        {"address": {"country": "FR"}, "lines": [{"variant_id": str(battery.pk), "quantity": 1}]},
    )

    assert [(m["name"], m["price"]["amount"]) for m in light.json()["methods"]] == [
        ("International", "18.00")
    ]
    assert at_edge.json()["methods"][0]["price"]["amount"] == "30.00"


def test_no_zone_is_an_empty_answer_with_a_reason(store_client, variants, zones) -> None:
    shirt, _ = variants

    response = post(
        store_client,
        {
            "address": {"country": "JP", "postal_code": "100-0001"},
            "lines": [{"variant_id": str(shirt.pk), "quantity": 1}],
        },
    )

    assert response.status_code == 200
    assert response.json()["methods"] == []
    assert response.json()["zone"] is None
    assert [r["code"] for r in response.json()["reasons"]] == ["no_zone"]


def test_variants_not_for_sale_here_are_422(
    store_client, shop, other_shop, other_channel, variants, zones
) -> None:
    theirs = make_product(other_shop, title="Theirs", channel=other_channel).variants.get()
    draft = make_product(shop, title="Draft", status="draft").variants.get()
    shirt, _ = variants

    response = post(
        store_client,
        {
            "address": {"country": "US"},
            "lines": [
                {"variant_id": str(shirt.pk), "quantity": 1},
                {"variant_id": str(theirs.pk), "quantity": 1},
                {"variant_id": str(draft.pk), "quantity": 1},
                {"variant_id": "not-an-id", "quantity": 1},
            ],
        },
    )

    assert response.status_code == 422
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
        (["lines", i, "variant_id"], "not_found") for i in (1, 2, 3)
    ]
    assert "Theirs" not in response.content.decode()


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"address": {"country": "XX"}}, ["address", "country"]),
        ({"address": {"country": "US", "region": "ZZ"}}, ["address", "region"]),
        ({"discounted_subtotal": "-1"}, ["discounted_subtotal"]),
        ({"discounted_subtotal": "1.001"}, ["discounted_subtotal"]),
    ],
)
def test_bad_addresses_and_amounts_are_422(store_client, variants, zones, change, loc) -> None:
    shirt, _ = variants
    body = {"address": {"country": "US"}, "lines": [{"variant_id": str(shirt.pk), "quantity": 1}]}

    response = post(store_client, {**body, **change})

    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["loc"] == loc


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"address": {"country": "US"}, "lines": []},
        {"address": {"country": "US"}, "lines": [{"variant_id": "1", "quantity": 0}]},
        {"address": "US", "lines": [{"variant_id": "1", "quantity": 1}]},
        {"address": {"country": "US\x00"}, "lines": [{"variant_id": "1", "quantity": 1}]},
        [],
    ],
)
def test_malformed_bodies_are_4xx_problems(store_client, body) -> None:
    response = post(store_client, body)

    assert response.status_code in (400, 422)
    assert response["Content-Type"] == "application/problem+json"


def test_the_quote_needs_a_publishable_key(variants, zones) -> None:
    from django.test import Client

    response = post(Client(), {"address": {"country": "US"}, "lines": []})

    assert response.status_code == 401


def test_a_quote_uses_a_fixed_number_of_queries(
    store_client, shop, channel, variants, zones, django_assert_max_num_queries
) -> None:
    more = [make_product(shop, title=f"P{i}", channel=channel).variants.get() for i in range(8)]
    lines = [{"variant_id": str(v.pk), "quantity": 1} for v in (*variants, *more)]
    body = {"address": {"country": "US"}, "lines": lines}
    post(store_client, body)  # the key's first use is recorded outside the budget

    with django_assert_max_num_queries(10):
        response = post(store_client, body)

    assert len(response.json()["methods"]) == 3
