"""
Bad input to the Admin API is a 4xx problem that writes nothing; never a 500.

The operations and their body schemas come from the OpenAPI document, so a
new route is covered as soon as it exists. Each operation with a body needs a
valid example in ``VALID_BODIES``: every case changes one thing in it (a
wrong type, a 10,000-character string, an unknown enum value, a null, a NUL
character, a missing required field), and the test finally sends the valid
body unchanged to prove the rejections were caused by the change. Operations
taking a multipart form (uploads) get the same treatment from the form
registered in ``tests.test_tenant_wall.MULTIPART``, plus files that are not
what they claim, and must store no file.
"""

from __future__ import annotations

import io
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
from tests.catalog.images import stored_files, upload
from tests.factories import ChannelFactory, publishable_key, secret_key
from tests.inventory.factories import wall_target_location
from tests.plugins.sample_plugins import VALID_SETTINGS, sample_plugin, wall_plugin_id
from tests.test_tenant_wall import MULTIPART, OBJECTS, fill_path

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

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
    ("POST", "/api/v1/admin/attributes"): {
        "name": "Material",
        "slug": "material",
        "type": "choice",
        "choices": ["Linen", "Wool"],
        "is_facet": True,
        "position": 1,
    },
    ("PATCH", "/api/v1/admin/attributes/{attribute_id}"): {
        "name": "Fabric",
        "choices": ["Linen", "Wool", "Silk"],
        "is_facet": False,
        "position": 2,
    },
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
    ("PATCH", "/api/v1/admin/media/{media_id}"): {
        "alt": "Side view",
        "position": 0,
        "variant_ids": [],
    },
    # The product OBJECTS makes has no image yet: the one valid order is empty.
    ("PUT", "/api/v1/admin/products/{product_id}/media/order"): {"media_ids": []},
    ("POST", "/api/v1/admin/categories"): {
        "name": "Shoes",
        "handle": "shoes",
        "parent_id": None,
        "description": "<p>All shoes</p>",
        "seo_title": "Shoes",
        "seo_description": "Every shoe",
        "metadata_public": {"icon": "shoe"},
    },
    ("PATCH", "/api/v1/admin/categories/{category_id}"): {
        "name": "Renamed",
        "handle": "renamed",
        "description": "<p>New</p>",
        "seo_title": "Renamed",
        "seo_description": "Renamed",
        "metadata_public": {"a": 1},
    },
    ("POST", "/api/v1/admin/categories/{category_id}/move"): {
        "parent_id": None,
        "before_id": None,
        "after_id": None,
    },
    ("PUT", "/api/v1/admin/products/{product_id}/categories"): {"category_ids": []},
    ("POST", "/api/v1/admin/collections"): {
        "title": "Summer",
        "handle": "summer",
        "kind": "automated",
        "description": "<p>Sun</p>",
        "rules": [
            {"field": "tag", "op": "equals", "value": "summer"},
            {"field": "price", "op": "lte", "value": "50.00"},
        ],
        "rules_match_all": False,
        "is_published": True,
        "seo_title": "Summer",
        "seo_description": "Summer things",
    },
    ("PATCH", "/api/v1/admin/collections/{collection_id}"): {
        "title": "Renamed",
        "handle": "renamed",
        "description": "<p>New</p>",
        "rules_match_all": False,
        "is_published": False,
        "seo_title": "Renamed",
        "seo_description": "Renamed",
    },
    ("POST", "/api/v1/admin/collections/{collection_id}/products"): {"product_ids": []},
    ("PUT", "/api/v1/admin/collections/{collection_id}/products/order"): {"product_ids": []},
    ("POST", "/api/v1/admin/products/bulk"): {
        "channel_id": "SHOP_CHANNEL",
        "items": [
            {
                "handle": "linen-shirt",
                "title": "Linen shirt",
                "tags": ["summer"],
                "categories": ["Apparel > Shirts"],
                "published": True,
                "variants": [{"sku": "LS-S", "option_values": {"Size": "S"}, "price": "19.99"}],
            }
        ],
    },
    ("POST", "/api/v1/admin/products/export"): {"status": "active", "channel_id": "SHOP_CHANNEL"},
    ("POST", "/api/v1/admin/shipping/zones"): {
        "name": "Domestic",
        "countries": ["US", "CA"],
        "subdivisions": ["US-CA"],
        "postal_codes": ["9*", "10000..14999"],
        "channel_ids": [],
    },
    ("PATCH", "/api/v1/admin/shipping/zones/{zone_id}"): {
        "name": "Paris",
        "countries": ["FR"],
        "subdivisions": ["FR-IDF"],
        "postal_codes": ["75*"],
        "channel_ids": [],
    },
    ("POST", "/api/v1/admin/shipping/zones/{zone_id}/methods"): {
        "name": "Standard",
        "description": "Tracked",
        "is_active": True,
        "position": 1,
        "min_days": 2,
        "max_days": 4,
        "channel_ids": [],
        "rate_type": "free_over",
        "rates": [{"currency": "USD", "amount": "5.00", "free_over": "50.00"}],
        "carrier_plugin": "",
        "carrier_service": "",
        "max_weight_grams": 30000,
        "excluded_product_types": ["Battery"],
        "excluded_tags": ["hazmat"],
        "pickup_only": False,
        "pickup_location_ids": [],
    },
    ("PATCH", "/api/v1/admin/shipping/methods/{method_id}"): {
        "name": "Heavy",
        "description": "By weight",
        "is_active": False,
        "position": 2,
        "min_days": 3,
        "max_days": 6,
        "channel_ids": [],
        "rate_type": "weight",
        "rates": [
            {
                "currency": "USD",
                "weight_tiers": [
                    {"min_grams": 0, "max_grams": 1000, "amount": "5.00"},
                    {"min_grams": 1000, "max_grams": None, "amount": "9.00"},
                ],
            }
        ],
        "max_weight_grams": 20000,
        "excluded_product_types": [],
        "excluded_tags": ["oversized"],
        "pickup_only": False,
    },
    ("POST", "/api/v1/admin/shipments"): {
        "order_id": "order-1001",
        "lines": [{"order_line_id": "line-1", "quantity": 2}],
        "carrier": "ups",
        "service": "ground",
        "tracking_number": "1Z999",
        "tracking_url": "https://track.example.com/1Z999",
        "label": {"format": "pdf", "data_base64": "JVBERi0xLjQK"},
    },
    ("PATCH", "/api/v1/admin/shipments/{shipment_id}"): {
        "lines": [{"order_line_id": "line-1", "quantity": 1}],
        "carrier": "fedex",
        "service": "express",
        "tracking_number": "777",
        "tracking_url": "https://track.example.com/777",
        "status": "in_transit",
    },
    ("POST", "/api/v1/admin/shipments/{shipment_id}/tracking-events"): {
        "status": "in_transit",
        "occurred_at": "2025-01-01T10:00:00Z",
        "carrier_event_id": "evt-1",
        "description": "Departed facility",
        "location": "Memphis, TN",
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

# Operations taking a file upload (multipart/form-data): a valid upload, its
# files as (name, content) pairs. Each case of :func:`bad_uploads` changes
# one field or file of it.
VALID_UPLOADS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/admin/products/import"): {
        "file": ("products.csv", b"Handle,Title,Variant Price\nlinen-shirt,Linen shirt,19.99\n"),
        "channel_id": "SHOP_CHANNEL",
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
FREE_TEXT_ITEMS = {"tags", "choices", "postal_codes", "excluded_product_types", "excluded_tags"}

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
    ("PATCH", "/api/v1/admin/media/{media_id}"): [
        {"variant_ids": ["999999"]},
        {"variant_ids": ["not-an-id"]},
    ],
    ("PUT", "/api/v1/admin/products/{product_id}/media/order"): [
        {"media_ids": ["999999"]},
        {"media_ids": ["1", "1"]},
    ],
    ("POST", "/api/v1/admin/categories"): [
        {"name": "X", "parent_id": "999999"},
        {"name": "X", "parent_id": "not-an-id"},
        {"name": "X", "parent_id": "9" * 20},
    ],
    ("POST", "/api/v1/admin/categories/{category_id}/move"): [
        {"parent_id": "999999"},
        {"before_id": "999999"},
        {"after_id": "not-an-id"},
    ],
    ("PUT", "/api/v1/admin/products/{product_id}/categories"): [
        {"category_ids": ["999999"]},
        {"category_ids": ["0", "-1"]},
    ],
    ("POST", "/api/v1/admin/collections"): [
        {"title": "X", "kind": "automated", "rules": [{"field": "tag", "op": "lte", "value": "x"}]},
        {
            "title": "X",
            "kind": "automated",
            "rules": [{"field": "price", "op": "gte", "value": "-1"}],
        },
        {"title": "X", "kind": "automated"},
        {"title": "X", "rules": [{"field": "tag", "op": "equals", "value": "x"}]},
    ],
    ("POST", "/api/v1/admin/collections/{collection_id}/products"): [
        {"product_ids": ["999999"]},
        {"product_ids": ["not-an-id"]},
    ],
    ("PUT", "/api/v1/admin/collections/{collection_id}/products/order"): [
        {"product_ids": ["999999"]},
    ],
    ("POST", "/api/v1/admin/products/bulk"): [
        {"channel_id": "999999", "items": [{"handle": "x", "title": "x"}]},
        {"channel_id": "OTHER_CHANNEL", "items": [{"handle": "x", "title": "x"}]},
        {"channel_id": "not-an-id", "items": [{"handle": "x", "title": "x"}]},
    ],
    ("POST", "/api/v1/admin/products/export"): [
        {"channel_id": "999999"},
        {"channel_id": "OTHER_CHANNEL"},
        {"channel_id": "not-an-id"},
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


def _body_types(operation: dict[str, Any]) -> set[str]:
    return set(operation.get("requestBody", {}).get("content", {}))


ADMIN_OPERATIONS = [(m, p) for m, p, _ in _admin_operations()]
BODY_SCHEMAS = {
    (m, p): op["requestBody"]["content"]["application/json"]["schema"]
    for m, p, op in _admin_operations()
    if "application/json" in _body_types(op)
}
# Two ways to test a multipart operation: uploads of files with their own
# bad cases (VALID_UPLOADS, e.g. a CSV import), or forms generated from the
# schema, with a valid form from the tenant wall's MULTIPART (e.g. an image).
WITH_UPLOAD = [
    (m, p)
    for m, p, op in _admin_operations()
    if "multipart/form-data" in _body_types(op)
    and ((m, p) in VALID_UPLOADS or (m, p) not in MULTIPART)
]
FORM_SCHEMAS = {
    (m, p): op["requestBody"]["content"]["multipart/form-data"]["schema"]
    for m, p, op in _admin_operations()
    if "multipart/form-data" in _body_types(op) and (m, p) not in WITH_UPLOAD
}
WITH_BODY = list(BODY_SCHEMAS)
WITH_FORM = list(FORM_SCHEMAS)


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


def bad_uploads(key: tuple[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (case name, upload) pairs, each one change away from the valid upload."""
    valid = VALID_UPLOADS[key]
    for name, value in valid.items():

        def change(new: Any, name: str = name) -> dict[str, Any]:
            return {**valid, name: new}

        if isinstance(value, tuple):  # a file: required
            file_name = value[0]
            yield f"{name}: missing", {k: v for k, v in valid.items() if k != name}
            yield f"{name}: empty file", change((file_name, b""))
            yield f"{name}: not UTF-8", change((file_name, b"Handle\n\xff\xfe caf\xe9\n"))
            yield f"{name}: binary", change((file_name, b"\x89PNG\r\n\x1a\n\x00\x00\rIHDR"))
            yield f"{name}: no header row we know", change((file_name, b"Title,Vendor\nx,y\n"))
            yield f"{name}: broken quoting", change((file_name, b'Handle\n"open\n'))
            yield f"{name}: a text field, not a file", change("Handle\nx\n")
        else:
            yield f"{name}: 10k characters", change(HUGE)
            yield f"{name}: NUL character", change("a\x00b")
            yield f"{name}: unknown id", change("999999")


def _form(shop: Shop, upload: dict[str, Any]) -> dict[str, Any]:
    """Return ``upload`` as test-client form data: files as named file objects."""
    data: dict[str, Any] = {}
    for name, value in _with_channel(shop, upload).items():
        if isinstance(value, tuple):
            data[name] = io.BytesIO(value[1])
            data[name].name = value[0]
        else:
            data[name] = value
    return data


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
    forms_missing = sorted(set(WITH_FORM) - set(MULTIPART))
    other = {
        (m, p): list(op["requestBody"]["content"])
        for m, p, op in _admin_operations()
        if "requestBody" in op and (m, p) not in {*WITH_BODY, *WITH_FORM, *WITH_UPLOAD}
    }

    assert not missing, f"add a valid body to VALID_BODIES of {__name__}: {missing}"
    assert not stale, f"these operations no longer take a body: {stale}"
    assert not forms_missing, (
        f"add a valid form to tests.test_tenant_wall.MULTIPART: {forms_missing}"
    )
    assert not other, f"bodies of a content type these tests do not send: {other}"


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


def test_every_operation_with_an_upload_has_a_valid_example() -> None:
    missing = sorted(set(WITH_UPLOAD) - set(VALID_UPLOADS))
    stale = sorted(set(VALID_UPLOADS) - set(WITH_UPLOAD))

    assert not missing, f"add a valid upload to VALID_UPLOADS of {__name__}: {missing}"
    assert not stale, f"these operations no longer take an upload: {stale}"


@pytest.mark.parametrize(("method", "path"), WITH_UPLOAD, ids=[f"{m} {p}" for m, p in WITH_UPLOAD])
def test_bad_uploads_are_4xx_problems_and_write_nothing(
    shop, admin_client, other_channel, method, path
) -> None:
    # given
    url = _path_for(shop, path)
    Channel.objects.for_shop(shop).first() or ChannelFactory(shop=shop, slug="web")
    admin_client.get("/api/v1/admin/shop")
    before = _db_state()
    valid = VALID_UPLOADS[(method, path)]
    cases = [*bad_uploads((method, path))]
    cases += [
        (f"{name}: another shop's", {**valid, name: str(other_channel.pk)})
        for name in valid
        if valid[name] == SHOP_CHANNEL
    ]
    assert len(cases) > 5

    # when / then: every case is refused and changes nothing
    for case, fields in cases:
        _assert_rejected(admin_client.post(url, _form(shop, fields)), case)
        assert _db_state() == before, f"{case} wrote to the database"
    for case, body in [("a JSON body", "{}"), ("no body", "")]:
        response = admin_client.generic(method, url, body, content_type="application/json")
        _assert_rejected(response, case)
        assert _db_state() == before, f"{case} wrote to the database"

    # and the valid upload itself is accepted
    accepted = admin_client.post(url, _form(shop, valid))
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


# -- multipart forms (uploads) ---------------------------------------------------------------


def bad_forms(key: tuple[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (case name, form) pairs, each one change away from the valid form."""
    schema = _resolve(FORM_SCHEMAS[key])
    for name, raw in schema.get("properties", {}).items():
        prop = _resolve(raw)

        def change(value: Any, name: str = name) -> dict[str, Any]:
            return {**MULTIPART[key](), name: value}

        if prop.get("format") == "binary":
            yield f"{name}: text instead of a file", change("not a file")
            yield f"{name}: text named .jpg", change(upload(b"plain text\n", "a.jpg", "image/jpeg"))
            yield f"{name}: empty file", change(upload(b"", "a.png"))
            yield (
                f"{name}: garbage after a PNG signature",
                change(upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "a.png")),
            )
        elif prop.get("type") == "string":
            yield f"{name}: 10k characters", change(HUGE)
            yield f"{name}: NUL character", change("a\x00b")
    for name in schema.get("required", []):
        yield f"{name}: missing", {k: v for k, v in MULTIPART[key]().items() if k != name}


@pytest.mark.parametrize(("method", "path"), WITH_FORM, ids=[f"{m} {p}" for m, p in WITH_FORM])
def test_bad_forms_are_4xx_problems_and_write_nothing(
    shop, admin_client, media_root, method, path
) -> None:
    # given
    url = _path_for(shop, path)
    admin_client.get("/api/v1/admin/shop")
    before = _db_state()
    files = stored_files(media_root)
    cases = list(bad_forms((method, path)))
    assert len(cases) > 5

    # when / then: every bad form, and bodies that are no form at all, are refused
    for case, form in cases:
        _assert_rejected(admin_client.post(url, form), case)
        assert _db_state() == before, f"{case} wrote to the database"
        assert stored_files(media_root) == files, f"{case} stored a file"
    for case, raw, content_type in [
        ("JSON", json.dumps({"alt": "x"}), "application/json"),
        ("empty body", "", "multipart/form-data; boundary=x"),
        ("no boundary", "garbage", "multipart/form-data"),
        (
            "malformed parts",
            "--x\r\nContent-Disposition: form-data",
            "multipart/form-data; boundary=x",
        ),
        ("not UTF-8", b"\xff\xfe", "multipart/form-data; boundary=x"),
    ]:
        _assert_rejected(admin_client.generic(method, url, raw, content_type=content_type), case)
        assert _db_state() == before, f"{case} wrote to the database"
        assert stored_files(media_root) == files, f"{case} stored a file"

    # and the valid form itself is accepted
    accepted = admin_client.post(url, MULTIPART[(method, path)]())
    assert 200 <= accepted.status_code < 300, accepted.content
