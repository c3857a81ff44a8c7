"""Admin API: locations, channel settings, levels, corrections with Idempotency-Key, the ledger."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from merchantry.inventory.models import IdempotencyRecord, StockLevel, StockMovement
from tests.factories import secret_key
from tests.inventory.factories import make_location, make_variants, sell_from, stock

pytestmark = pytest.mark.django_db

BASE = "/api/v1/admin/inventory"
PROBLEM = "application/problem+json"


def _send(client: Client, method: str, path: str, body: Any = None, **headers: str):
    return client.generic(
        method,
        f"{BASE}{path}",
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers=headers,
    )


def _level_path(variant, location, action: str = "") -> str:
    return f"/variants/{variant.pk}/levels/{location.pk}" + (f"/{action}" if action else "")


# -- locations -----------------------------------------------------------------------------


def test_locations_can_be_created_read_changed_listed_and_deleted(admin_client) -> None:
    created = _send(
        admin_client, "POST", "/locations", {"name": "Depot", "city": "Lyon", "country": "fr"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["handle"], body["country"], body["can_ship"]) == ("depot", "FR", True)
    pk = body["id"]

    changed = _send(admin_client, "PATCH", f"/locations/{pk}", {"can_pickup": True})
    listed = admin_client.get(f"{BASE}/locations").json()
    got = admin_client.get(f"{BASE}/locations/{pk}").json()
    deleted = _send(admin_client, "DELETE", f"/locations/{pk}")

    assert changed.json()["can_pickup"] is True
    assert [item["id"] for item in listed["items"]] == [pk]
    assert got["city"] == "Lyon"
    assert deleted.status_code == 204
    assert admin_client.get(f"{BASE}/locations/{pk}").status_code == 404


def test_a_location_with_stock_history_is_kept(shop, admin_client, east) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 1)

    response = _send(admin_client, "DELETE", f"/locations/{east.pk}")

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "location_in_use"


def test_a_channels_locations_are_set_in_order(shop, channel, admin_client, east, west) -> None:
    put = _send(
        admin_client,
        "PUT",
        f"/channels/{channel.pk}",
        {
            "location_ids": [str(west.pk), str(east.pk)],
            "allocation_strategy": "most_stock",
            "show_quantity": True,
            "reservation_minutes": 30,
        },
    )
    got = admin_client.get(f"{BASE}/channels/{channel.pk}")

    assert put.status_code == 200, put.content
    assert got.json() == put.json()
    body = got.json()
    assert [loc["handle"] for loc in body["locations"]] == ["west", "east"]
    assert (body["allocation_strategy"], body["show_quantity"], body["reservation_minutes"]) == (
        "most_stock",
        True,
        30,
    )


# -- levels ----------------------------------------------------------------------------------


def test_levels_filter_by_location_low_stock_and_sku(shop, admin_client, east, west) -> None:
    shirt, scarf = make_variants(shop, 2, sku="SHIRT")
    [hat] = make_variants(shop, title="Hat", sku="HAT")
    stock(shirt, east, 10)
    stock(scarf, east, 2)
    stock(hat, west, 1)
    _send(admin_client, "PATCH", _level_path(scarf, east), {"low_stock_threshold": 2})

    def skus(**params: str) -> list[str]:
        response = admin_client.get(f"{BASE}/levels", params)
        assert response.status_code == 200, response.content
        return sorted(item["sku"] for item in response.json()["items"])

    assert skus() == ["HAT-0", "SHIRT-0", "SHIRT-1"]
    assert skus(location_id=str(east.pk)) == ["SHIRT-0", "SHIRT-1"]
    assert skus(low_stock="true") == ["SHIRT-1"]
    assert skus(sku="shirt") == ["SHIRT-0", "SHIRT-1"]
    assert skus(location_id="not-an-id") == []


def test_the_levels_list_has_a_fixed_query_budget(
    shop, admin_client, east, django_assert_max_num_queries
) -> None:
    for index in range(12):
        for variant in make_variants(shop, 3, title=f"P{index}", sku=f"P{index}"):
            stock(variant, east, 5)
    admin_client.get(f"{BASE}/levels", {"limit": "1"})  # the key's use is recorded

    # key, page (levels joined with variants): the same for 2 and for 30 items
    with django_assert_max_num_queries(3):
        small = admin_client.get(f"{BASE}/levels", {"limit": "2"})
    with django_assert_max_num_queries(3):
        large = admin_client.get(f"{BASE}/levels", {"limit": "30"})

    assert (len(small.json()["items"]), len(large.json()["items"])) == (2, 30)


def test_a_variants_stock_per_location(shop, admin_client, east, west) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 3)
    stock(variant, west, 4)

    body = admin_client.get(f"{BASE}/variants/{variant.pk}/levels").json()

    assert [(item["location_id"], item["on_hand"], item["available"]) for item in body] == [
        (str(east.pk), 3, 3),
        (str(west.pk), 4, 4),
    ]


def test_adjust_set_and_transfer_through_the_api(shop, admin_client, east, west) -> None:
    [variant] = make_variants(shop, sku="TEE")

    adjusted = _send(
        admin_client,
        "POST",
        _level_path(variant, east, "adjust"),
        {"delta": 10, "reason": "receive", "reference": "po:1", "note": "delivery"},
    )
    counted = _send(admin_client, "POST", _level_path(variant, east, "set"), {"on_hand": 8})
    moved = _send(
        admin_client,
        "POST",
        _level_path(variant, east, "transfer"),
        {"to_location_id": str(west.pk), "quantity": 3},
    )

    assert adjusted.status_code == 200, adjusted.content
    assert (adjusted.json()["on_hand"], adjusted.json()["sku"]) == (10, "TEE-0")
    assert counted.json()["on_hand"] == 8
    assert (moved.json()["source"]["on_hand"], moved.json()["destination"]["on_hand"]) == (5, 3)
    ledger = admin_client.get(f"{BASE}/movements", {"variant_id": str(variant.pk)}).json()
    assert [(m["reason"], m["on_hand_delta"]) for m in ledger["items"]] == [
        ("transfer", 3),
        ("transfer", -3),
        ("count", -2),
        ("receive", 10),
    ]
    assert ledger["items"][-1]["reference"] == "po:1"


@pytest.mark.parametrize(
    ("_case", "action", "body", "status"),
    [
        ("negative count", "set", {"on_hand": -1}, 422),
        ("fractional count", "set", {"on_hand": 1.5}, 422),
        ("count as text", "set", {"on_hand": "3"}, 422),
        ("zero adjustment", "adjust", {"delta": 0}, 422),
        ("fractional adjustment", "adjust", {"delta": 0.5}, 422),
        ("more than on hand", "adjust", {"delta": -50}, 409),
        ("transfer to the same place", "transfer", {"to_location_id": "SAME", "quantity": 1}, 422),
        ("transfer to nowhere", "transfer", {"to_location_id": "999999", "quantity": 1}, 422),
        ("transfer of nothing", "transfer", {"to_location_id": "WEST", "quantity": 0}, 422),
        ("transfer of too much", "transfer", {"to_location_id": "WEST", "quantity": 9}, 409),
    ],
)
def test_bad_corrections_are_clear_problems_and_write_nothing(
    shop, admin_client, east, west, _case, action, body, status
) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 5)
    ids = {"SAME": str(east.pk), "WEST": str(west.pk)}
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    movements = StockMovement.objects.count()

    response = _send(admin_client, "POST", _level_path(variant, east, action), body)

    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert StockMovement.objects.count() == movements
    assert StockLevel.objects.get(variant=variant, location=east).on_hand == 5


def test_another_shops_variant_and_location_are_not_found(
    shop, other_shop, admin_client, east
) -> None:
    [mine] = make_variants(shop)
    [theirs] = make_variants(other_shop)
    their_location = make_location(other_shop)

    responses = [
        _send(admin_client, "POST", _level_path(theirs, east, "adjust"), {"delta": 1}),
        _send(admin_client, "POST", _level_path(mine, their_location, "adjust"), {"delta": 1}),
        admin_client.get(f"{BASE}/variants/{theirs.pk}/levels"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert not StockMovement.objects.exists()


def test_an_insufficient_stock_problem_names_the_variant(shop, admin_client, east, west) -> None:
    [variant] = make_variants(shop, sku="RARE")
    stock(variant, east, 1)

    response = _send(
        admin_client,
        "POST",
        _level_path(variant, east, "transfer"),
        {"to_location_id": str(west.pk), "quantity": 2},
    )

    body = response.json()
    assert (response.status_code, body["code"]) == (409, "insufficient_stock")
    assert "RARE-0" in body["detail"]
    assert body["errors"][0]["code"] == "insufficient_stock"


def test_bulk_set_by_sku(shop, admin_client, east) -> None:
    make_variants(shop, 2, sku="BULK")

    response = _send(
        admin_client,
        "POST",
        f"/locations/{east.pk}/bulk-set",
        {"items": [{"sku": "BULK-0", "on_hand": 4}, {"sku": "BULK-1", "on_hand": 0}]},
    )

    assert response.status_code == 200, response.content
    assert [(i["sku"], i["on_hand"]) for i in response.json()["items"]] == [
        ("BULK-0", 4),
        ("BULK-1", 0),
    ]


# -- Idempotency-Key --------------------------------------------------------------------------


def test_a_retry_with_the_same_key_replays_the_first_response(shop, admin_client, east) -> None:
    [variant] = make_variants(shop)
    path = _level_path(variant, east, "adjust")

    first = _send(admin_client, "POST", path, {"delta": 5}, **{"Idempotency-Key": "k-1"})
    again = _send(admin_client, "POST", path, {"delta": 5}, **{"Idempotency-Key": "k-1"})

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert StockLevel.objects.get(variant=variant).on_hand == 5
    assert StockMovement.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(shop, admin_client, east) -> None:
    [variant] = make_variants(shop)
    path = _level_path(variant, east, "adjust")
    _send(admin_client, "POST", path, {"delta": 5}, **{"Idempotency-Key": "k-1"})

    other_body = _send(admin_client, "POST", path, {"delta": 6}, **{"Idempotency-Key": "k-1"})
    other_path = _send(
        admin_client, "POST", _level_path(variant, east, "set"), {"on_hand": 5},
        **{"Idempotency-Key": "k-1"},
    )  # fmt: skip

    for response in (other_body, other_path):
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
    assert StockMovement.objects.count() == 1


def test_keys_are_per_shop_and_failures_are_not_stored(
    shop, other_shop, admin_client, east
) -> None:
    [variant] = make_variants(shop)
    [theirs] = make_variants(other_shop)
    their_location = make_location(other_shop)
    their_client = Client(headers={"Authorization": f"Bearer {secret_key(other_shop)}"})
    path = _level_path(variant, east, "adjust")

    refused = _send(admin_client, "POST", path, {"delta": -1}, **{"Idempotency-Key": "k"})
    done = _send(admin_client, "POST", path, {"delta": 1}, **{"Idempotency-Key": "k"})
    theirs_done = _send(
        their_client,
        "POST",
        _level_path(theirs, their_location, "adjust"),
        {"delta": 1},
        **{"Idempotency-Key": "k"},
    )

    assert (refused.status_code, done.status_code, theirs_done.status_code) == (409, 200, 200)
    assert IdempotencyRecord.objects.count() == 2


def test_a_malformed_key_is_refused(shop, admin_client, east) -> None:
    [variant] = make_variants(shop)

    response = _send(
        admin_client,
        "POST",
        _level_path(variant, east, "adjust"),
        {"delta": 1},
        **{"Idempotency-Key": "x" * 300},
    )

    assert response.status_code in (400, 422)
    assert not StockMovement.objects.exists()


# -- permissions ---------------------------------------------------------------------------------


def test_a_read_only_key_can_read_but_not_correct(shop, east) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 2)
    reader = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['inventory.view'])}"}
    )

    listed = reader.get(f"{BASE}/levels")
    refused = _send(reader, "POST", _level_path(variant, east, "adjust"), {"delta": 1})

    assert listed.status_code == 200
    assert refused.status_code == 403
    assert StockMovement.objects.count() == 1


def test_the_channel_sells_from_the_locations_set(shop, channel, admin_client, east) -> None:
    sell_from(channel, east)

    body = admin_client.get(f"{BASE}/channels/{channel.pk}").json()

    assert [loc["id"] for loc in body["locations"]] == [str(east.pk)]
    assert body["allocation_strategy"] == "priority"
