"""
Bad input to the Admin API is a 4xx problem that writes nothing; never a 500.

The operations and their body schemas come from the OpenAPI document, so a
new route is covered as soon as it exists. Each operation with a body needs a
valid example in ``VALID_BODIES``: every case changes one thing in it (a
wrong type, a 10,000-character string, an unknown enum value, a null, a NUL
character, a missing required field), and the test finally sends the valid
body unchanged to prove the rejections were caused by the change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from merchantry.api.v1 import api
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.models import ApiKey, Channel, Shop
from merchantry.tenancy.services import apikey_revoke
from merchantry.testing import registered_plugin
from tests.factories import ChannelFactory, publishable_key, secret_key
from tests.inventory.factories import wall_target_location
from tests.plugins.sample_plugins import VALID_SETTINGS, sample_plugin, wall_plugin_id
from tests.test_tenant_wall import OBJECTS, fill_path

pytestmark = pytest.mark.django_db

ADMIN_PREFIX = "/api/v1/admin/"
METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM = "application/problem+json"
BAD_STATUSES = {400, 404, 409, 413, 422}
HUGE = "x" * 10_000
_PARAM = re.compile(r"{(\w+)}")

# A body each operation accepts (with A's object in the path, from OBJECTS).
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/admin/roles/{role_id}"): {
        "name": "Packers",
        "permissions": ["orders.view"],
    },
    ("PATCH", "/api/v1/admin/shop"): {
        "name": "Renamed",
        "default_currency": "EUR",
        "default_country": "FR",
        "timezone": "Europe/Paris",
        "settings": {"theme": "dark"},
    },
    ("POST", "/api/v1/admin/channels"): {
        "slug": "pos",
        "name": "Till",
        "kind": "pos",
        "currency": "USD",
        "default_country": "US",
        "allowed_origins": ["https://shop.example.com"],
        "is_active": True,
    },
    ("PATCH", "/api/v1/admin/channels/{channel_id}"): {
        "slug": "renamed",
        "name": "Renamed",
        "kind": "chatbot",
        "currency": "EUR",
        "default_country": "FR",
        "allowed_origins": ["https://shop.example.com"],
        "is_active": False,
    },
    ("POST", "/api/v1/admin/domains"): {"host": "new.example.com", "is_primary": True},
    ("POST", "/api/v1/admin/api-keys"): {
        "name": "ERP",
        "kind": "secret",
        "permissions": ["catalog.view"],
    },
    ("POST", "/api/v1/admin/staff"): {
        "email": "new@example.com",
        "role": "support",
        "full_name": "New Person",
    },
    ("PATCH", "/api/v1/admin/staff/{membership_id}"): {"role": "fulfillment"},
    ("POST", "/api/v1/admin/roles"): {
        "key": "desk",
        "name": "Desk",
        "permissions": ["orders.view"],
    },
    ("POST", "/api/v1/admin/webhooks/endpoints"): {
        "url": "https://erp.example.com/merchantry/events",
        "event_types": ["order.*", "channel.created"],
        "description": "ERP",
        "is_active": True,
    },
    ("PATCH", "/api/v1/admin/webhooks/endpoints/{endpoint_id}"): {
        "url": "https://erp.example.com/v2/events",
        "event_types": ["*"],
        "description": "ERP, v2",
        "is_active": False,
    },
    ("POST", "/api/v1/admin/webhooks/endpoints/{endpoint_id}/rotate-secret"): {
        "previous_secret_valid_hours": 24,
    },
    ("PATCH", "/api/v1/admin/plugins/{plugin_id}/settings"): {"settings": VALID_SETTINGS},
    ("POST", "/api/v1/admin/products"): {
        "title": "Linen shirt",
        "handle": "linen-shirt",
        "description": "<p>Cool</p>",
        "product_type": "Shirt",
        "vendor": "Acme",
        "tags": ["summer"],
        "status": "active",
        "seo_title": "Linen shirt",
        "seo_description": "A cool shirt",
        "metadata_public": {"fabric": "linen"},
        "metadata_private": {"supplier": "x"},
    },
    ("PATCH", "/api/v1/admin/products/{product_id}"): {
        "title": "Renamed",
        "description": "<p>New</p>",
        "product_type": "Shirt",
        "vendor": "Acme",
        "tags": ["winter"],
        "status": "draft",
        "seo_title": "Renamed",
        "seo_description": "Renamed",
        "metadata_public": {"a": 1},
        "metadata_private": {"b": 2},
    },
    ("PUT", "/api/v1/admin/products/{product_id}/options"): {
        "options": [{"name": "Size", "values": ["S", "M"]}],
    },
    ("POST", "/api/v1/admin/products/{product_id}/variants"): {
        "option_values": {"Size": "L"},
        "title": "Extra",
        "sku": "EXTRA-1",
        "barcode": "4006381333931",
        "weight_grams": 250,
        "length_mm": 10,
        "width_mm": 20,
        "height_mm": 30,
        "track_inventory": True,
        "allow_backorder": False,
        "position": 3,
    },
    ("PATCH", "/api/v1/admin/variants/{variant_id}"): {
        "title": "Large",
        "sku": "L-1",
        "barcode": "4006381333931",
        "weight_grams": 300,
        "length_mm": 1,
        "width_mm": 2,
        "height_mm": 3,
        "track_inventory": False,
        "allow_backorder": True,
        "position": 0,
    },
    ("POST", "/api/v1/admin/products/{product_id}/publish"): {
        "channel_id": "SHOP_CHANNEL",
        "published_at": "2030-01-01T00:00:00Z",
    },
    ("POST", "/api/v1/admin/products/{product_id}/unpublish"): {"channel_id": "SHOP_CHANNEL"},
    ("PUT", "/api/v1/admin/variants/{variant_id}/prices"): {
        "channel_id": "SHOP_CHANNEL",
        "price": "19.99",
        "compare_at_price": "25.00",
    },
    ("POST", "/api/v1/admin/inventory/locations"): {
        "name": "Main warehouse",
        "handle": "main",
        "is_active": True,
        "can_ship": True,
        "can_pickup": False,
        "line1": "1 Main Street",
        "line2": "Dock 4",
        "city": "Springfield",
        "postal_code": "62701",
        "country": "US",
        "subdivision": "IL",
        "phone": "+1 555 0100",
    },
    ("PATCH", "/api/v1/admin/inventory/locations/{location_id}"): {
        "name": "Renamed",
        "handle": "renamed",
        "is_active": False,
        "can_ship": False,
        "can_pickup": True,
        "line1": "2 Side Street",
        "line2": "",
        "city": "Lyon",
        "postal_code": "69001",
        "country": "FR",
        "subdivision": "ARA",
        "phone": "+33 4 00 00 00",
    },
    ("POST", "/api/v1/admin/inventory/locations/{location_id}/bulk-set"): {
        "items": [{"sku": "WALL-BULK", "on_hand": 3}],
        "reference": "erp:1",
        "note": "nightly sync",
    },
    ("PUT", "/api/v1/admin/inventory/channels/{channel_id}"): {
        "location_ids": ["SHOP_LOCATION"],
        "allocation_strategy": "most_stock",
        "show_quantity": True,
        "reservation_minutes": 20,
    },
    ("PATCH", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}"): {
        "low_stock_threshold": 2,
        "backorder_limit": 10,
    },
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/adjust"): {
        "delta": -2,
        "reason": "adjust",
        "reference": "audit:7",
        "note": "damaged in transit",
    },
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/set"): {
        "on_hand": 4,
        "reference": "count:1",
        "note": "cycle count",
    },
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/transfer"): {
        "to_location_id": "SHOP_LOCATION",
        "quantity": 2,
        "reference": "rebalance:1",
        "note": "move to the front store",
    },
}

# "SHOP_CHANNEL" in a body stands for a channel of the shop under test,
# "SHOP_LOCATION" (also inside lists) for one of its stock locations.
SHOP_CHANNEL = "SHOP_CHANNEL"
SHOP_LOCATION = "SHOP_LOCATION"

# Free-text fields where 10,000 characters are fine (rich text): they are
# tried with 200,000 instead. Arrays of free text, where any short string is a
# valid item, skip the "unknown item" case.
LONG_TEXT = {"description"}
FREE_TEXT_ITEMS = {"tags"}

# Bodies naming things that do not exist (or exist in another shop): 4xx.
# "OTHER_CHANNEL" stands for a channel of the other shop.
UNKNOWN_REFERENCES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("POST", "/api/v1/admin/api-keys"): [
        {"name": "k", "kind": "publishable", "channel_id": "999999"},
        {"name": "k", "kind": "publishable", "channel_id": "OTHER_CHANNEL"},
        {"name": "k", "kind": "publishable", "channel_id": "not-an-id"},
        {"name": "k", "kind": "publishable", "channel_id": "9" * 20},
    ],
    ("POST", "/api/v1/admin/staff"): [{"email": "n@example.com", "role": "ghost"}],
    ("PATCH", "/api/v1/admin/staff/{membership_id}"): [{"role": "ghost"}],
    ("POST", "/api/v1/admin/products/{product_id}/publish"): [
        {"channel_id": "999999"},
        {"channel_id": "OTHER_CHANNEL"},
        {"channel_id": "not-an-id"},
    ],
    ("PUT", "/api/v1/admin/variants/{variant_id}/prices"): [
        {"channel_id": "999999", "price": "1.00"},
        {"channel_id": "OTHER_CHANNEL", "price": "1.00"},
        {"channel_id": "SHOP_CHANNEL", "price": "-1.00"},
        {"channel_id": "SHOP_CHANNEL", "price": "1.001"},
        {"channel_id": "SHOP_CHANNEL", "price": "NaN"},
        {"channel_id": "SHOP_CHANNEL", "price": "1e400"},
        {"channel_id": "SHOP_CHANNEL", "price": "1.00", "compare_at_price": "-5"},
    ],
    ("POST", "/api/v1/admin/products/{product_id}/variants"): [
        {"option_values": {"Size": "XL"}},
    ],
    ("PUT", "/api/v1/admin/inventory/channels/{channel_id}"): [
        {"location_ids": ["999999"]},
        {"location_ids": ["not-an-id"]},
        {"location_ids": ["SHOP_LOCATION", "SHOP_LOCATION"]},
    ],
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/transfer"): [
        {"to_location_id": "999999", "quantity": 1},
        {"to_location_id": "not-an-id", "quantity": 1},
        {"to_location_id": "SHOP_LOCATION", "quantity": 0},
        {"to_location_id": "SHOP_LOCATION", "quantity": -1},
        {"to_location_id": "SHOP_LOCATION", "quantity": 1.5},
    ],
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/adjust"): [
        {"delta": 0},
        {"delta": 1.5},
        {"delta": -1, "reason": "receive"},
    ],
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/set"): [
        {"on_hand": -1},
        {"on_hand": 2.5},
    ],
    ("POST", "/api/v1/admin/inventory/locations/{location_id}/bulk-set"): [
        {"items": [{"sku": "NO-SUCH-SKU", "on_hand": 1}]},
        {"items": [{"sku": "WALL-BULK", "on_hand": -1}]},
        {"items": [{"sku": "WALL-BULK", "on_hand": 1}, {"sku": "WALL-BULK", "on_hand": 2}]},
    ],
}


# -- the operations, from the OpenAPI schema -------------------------------------------

SCHEMA = api.get_openapi_schema(path_prefix="/api/v1/")
COMPONENTS = SCHEMA.get("components", {}).get("schemas", {})


def _admin_operations() -> list[tuple[str, str, dict[str, Any]]]:
    return sorted(
        (
            (method.upper(), path, operation)
            for path, item in SCHEMA["paths"].items()
            if path.startswith(ADMIN_PREFIX)
            for method, operation in item.items()
            if method in METHODS
        ),
        key=lambda op: (op[1], op[0]),
    )


ADMIN_OPERATIONS = [(m, p) for m, p, _ in _admin_operations()]
WITH_BODY = [(m, p) for m, p, op in _admin_operations() if "requestBody" in op]
BODY_SCHEMAS = {
    (m, p): op["requestBody"]["content"]["application/json"]["schema"]
    for m, p, op in _admin_operations()
    if "requestBody" in op
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $refs and unwrap ``X | None`` to the schema of X."""
    while True:
        if "$ref" in schema:
            schema = {**COMPONENTS[schema["$ref"].rsplit("/", 1)[1]], **_without(schema, "$ref")}
        elif "anyOf" in schema:
            variants = [v for v in schema["anyOf"] if v.get("type") != "null"]
            schema = {**variants[0], **_without(schema, "anyOf")}
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = {**schema["allOf"][0], **_without(schema, "allOf")}
        else:
            return schema


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _nullable(schema: dict[str, Any]) -> bool:
    return any(v.get("type") == "null" for v in schema.get("anyOf", []))


_WRONG_TYPE = {
    "string": 12345,
    "integer": "twelve",
    "number": "twelve",
    "boolean": "maybe",
    "array": "not-a-list",
    "object": ["not", "an", "object"],
}


def bad_bodies(key: tuple[str, str]) -> Iterator[tuple[str, Any]]:
    """Yield (case name, body) pairs, each one change away from the valid body."""
    valid = VALID_BODIES[key]
    body_schema = _resolve(BODY_SCHEMAS[key])
    for name, raw in body_schema.get("properties", {}).items():
        prop = _resolve(raw)

        def change(value: Any, name: str = name) -> dict[str, Any]:
            return {**valid, name: value}

        kind = prop.get("type")
        if kind in _WRONG_TYPE:
            yield f"{name}: wrong type", change(_WRONG_TYPE[kind])
        if "enum" in prop:
            yield f"{name}: unknown enum value", change("no-such-value")
        if kind == "string" and name in LONG_TEXT:
            yield f"{name}: 200k characters", change("x" * 200_000)
        elif kind == "string":
            yield f"{name}: 10k characters", change(HUGE)
            yield f"{name}: NUL character", change("a\x00b")
        if kind == "array":
            items = _resolve(prop.get("items", {}))
            if items.get("type") == "string" or "enum" in items:
                yield f"{name}: 10k-character item", change([HUGE])
                if name not in FREE_TEXT_ITEMS:
                    yield f"{name}: unknown item", change(["no-such-value"])
            yield f"{name}: 10k items", change(["a"] * 10_000)
        if kind == "object":
            yield f"{name}: NUL inside", change({"a\x00": "b"})
            yield f"{name}: huge object", change({"blob": "x" * 70_000})
        if not _nullable(raw):
            yield f"{name}: null", change(None)
    for name in body_schema.get("required", []):
        yield f"{name}: missing", {k: v for k, v in valid.items() if k != name}


# -- helpers ---------------------------------------------------------------------------


def _merchantry_models() -> list[Any]:
    return [m for m in apps.get_models() if m.__module__.startswith("merchantry.")]


def _db_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of every Merchantry table (usage timestamps left out)."""
    state = {}
    for model in _merchantry_models():
        rows = model._default_manager.order_by("pk").values()
        state[model._meta.label] = [
            {k: v for k, v in row.items() if k != "last_used_at"} for row in rows
        ]
    return state


def _path_for(shop: Shop, path: str) -> str:
    if not _PARAM.search(path):
        return path
    return fill_path(path, OBJECTS[path](shop))


def _send(client: Client, method: str, url: str, payload: Any, *, raw: bool = False):
    data = payload if raw else json.dumps(payload)
    return client.generic(method, url, data, content_type="application/json")


def _with_channel(shop: Shop, body: Any) -> Any:
    """Return ``body`` with SHOP_CHANNEL and SHOP_LOCATION replaced by ids of ``shop``'s."""
    if isinstance(body, list):
        return [_with_channel(shop, item) for item in body]
    if isinstance(body, dict):
        return {k: _with_channel(shop, v) for k, v in body.items()}
    if body == SHOP_CHANNEL:
        channel = Channel.objects.for_shop(shop).first() or ChannelFactory(shop=shop, slug="web")
        return str(channel.pk)
    if body == SHOP_LOCATION:
        return str(wall_target_location(shop).pk)
    return body


def _assert_rejected(response, case: str) -> None:
    assert response.status_code in BAD_STATUSES, (case, response.status_code, response.content)
    assert response["Content-Type"] == PROBLEM, case
    assert response.json()["status"] == response.status_code


@pytest.fixture(autouse=True)
def _wall_plugin(shop) -> Iterator[None]:
    # The plugin routes name the plugin OBJECTS installed; it must exist.
    with registered_plugin(sample_plugin(wall_plugin_id(shop))):
        yield


# -- tests -----------------------------------------------------------------------------


def test_every_operation_with_a_body_has_a_valid_example() -> None:
    missing = sorted(set(WITH_BODY) - set(VALID_BODIES))
    stale = sorted(set(VALID_BODIES) - set(WITH_BODY))

    assert not missing, f"add a valid body to VALID_BODIES of {__name__}: {missing}"
    assert not stale, f"these operations no longer take a body: {stale}"


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_bad_bodies_are_4xx_problems_and_write_nothing(shop, admin_client, method, path) -> None:
    # given: the object the path names, and the database as it is
    if (method, path) not in VALID_BODIES:
        pytest.fail(f"add a valid body for {method} {path} to VALID_BODIES of {__name__}")
    url = _path_for(shop, path)
    Channel.objects.for_shop(shop).first() or ChannelFactory(shop=shop, slug="web")
    wall_target_location(shop)
    admin_client.get("/api/v1/admin/shop")  # the key's use is recorded now, not mid-test
    before = _db_state()
    cases = [
        *((case, _with_channel(shop, body)) for case, body in bad_bodies((method, path))),
        ("body: a list", []),
        ("body: a string", "text"),
        ("body: null", None),
        ("body: a number", 12),
    ]
    assert len(cases) > 5

    # when / then: every case is refused and changes nothing
    for case, body in cases:
        _assert_rejected(_send(admin_client, method, url, body), case)
        assert _db_state() == before, f"{case} wrote to the database"
    for case, raw in [("malformed JSON", "{"), ("empty body", ""), ("not UTF-8", b"\xff\xfe")]:
        _assert_rejected(_send(admin_client, method, url, raw, raw=True), case)
        assert _db_state() == before, f"{case} wrote to the database"

    # and the valid body itself is accepted, so each rejection was the change's doing
    accepted = _send(admin_client, method, url, _with_channel(shop, VALID_BODIES[(method, path)]))
    assert 200 <= accepted.status_code < 300, accepted.content


@pytest.mark.parametrize(
    ("method", "path"), list(UNKNOWN_REFERENCES), ids=[f"{m} {p}" for m, p in UNKNOWN_REFERENCES]
)
def test_unknown_references_are_4xx_and_write_nothing(
    shop, admin_client, other_channel, method, path
) -> None:
    url = _path_for(shop, path)
    Channel.objects.for_shop(shop).first() or ChannelFactory(shop=shop, slug="web")
    wall_target_location(shop)
    admin_client.get("/api/v1/admin/shop")
    before = _db_state()

    for body in UNKNOWN_REFERENCES[(method, path)]:
        body = {k: str(other_channel.pk) if v == "OTHER_CHANNEL" else v for k, v in body.items()}
        body = _with_channel(shop, body)
        response = _send(admin_client, method, url, body)

        _assert_rejected(response, str(body))
        assert response.status_code in (404, 422)
        assert _db_state() == before


@pytest.mark.parametrize(
    ("method", "path"), ADMIN_OPERATIONS, ids=[f"{m} {p}" for m, p in ADMIN_OPERATIONS]
)
def test_missing_or_wrong_credentials_are_401(shop, channel, method, path) -> None:
    revoked = secret_key(shop)
    key_row = ApiKey.objects.get(prefix=revoked[:12])
    apikey_revoke(actor=SYSTEM_ACTOR, shop=shop, key_id=key_row.pk)
    url = _PARAM.sub("1", path)
    body = VALID_BODIES.get((method, path), {})
    credentials = {
        "none": {},
        "unknown secret key": {"Authorization": "Bearer msk_not-a-real-key"},
        "publishable key as bearer": {"Authorization": f"Bearer {publishable_key(channel)}"},
        "revoked secret key": {"Authorization": f"Bearer {revoked}"},
        "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty bearer": {"Authorization": "Bearer "},
        "huge bearer": {"Authorization": f"Bearer msk_{HUGE}"},
    }
    before = _db_state()

    for name, headers in credentials.items():
        response = _send(Client(headers=headers), method, url, body)

        assert response.status_code == 401, (name, response.content)
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "not_authenticated"
    assert _db_state() == before
