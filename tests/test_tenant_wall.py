"""
The tenant wall, for every route: shop A can neither see nor touch shop B's rows.

The operations come from the OpenAPI schema, so a new route is covered the
moment it exists. Every path with a parameter must be registered in
``OBJECTS`` with a factory that creates the object it names; an unregistered
one fails :func:`test_every_parametrized_route_is_registered` (and its own
wall test). Every list must be registered in ``LISTS``.

Each call is made with shop A's credentials (an all-permission secret key on
the Admin API; A's publishable key and a signed-in customer of A on the Store
API) and shop B's ids; the answer must be a 404 problem, and B's row must be
exactly as it was. Operations taking a multipart form (uploads) are sent the
form registered in ``MULTIPART``, and must store no file either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Model, QuerySet
from django.test import Client
from django.utils import timezone

from merchantry.accounts.models import (
    Customer,
    CustomerAddress,
    CustomerToken,
    Membership,
    Role,
)
from merchantry.api.v1 import api
from merchantry.catalog.models import Attribute, Category, Collection, Product, ProductVariant
from merchantry.catalog.models_io import CatalogTransfer
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import AuditEvent
from merchantry.inventory.models import StockLevel, StockLocation, StockMovement
from merchantry.plugins.models import PluginInstallation
from merchantry.shipping.models import Shipment, ShippingZone
from merchantry.tenancy.keys import CUSTOMER_TOKEN_PREFIX, new_key
from merchantry.tenancy.models import ApiKey, Channel, Domain, Shop
from merchantry.tenancy.services import apikey_create
from merchantry.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.catalog.factories import (
    wall_attribute,
    wall_product,
    wall_sized_product,
    wall_variant,
)
from tests.catalog.factories_io import wall_export, wall_import
from tests.catalog.images import image_bytes, stored_files, upload
from tests.catalog.media_factories import wall_media
from tests.catalog.taxonomy_factories import (
    wall_category,
    wall_collection,
    wall_collection_entry,
)
from tests.factories import (
    ChannelFactory,
    CustomerFactory,
    DomainFactory,
    MembershipFactory,
    UserFactory,
    builtin_role,
    publishable_key,
    secret_key,
)
from tests.inventory.factories import (
    wall_bulk_location,
    wall_level,
    wall_level_path,
    wall_location,
)
from tests.plugins.sample_plugins import (
    VALID_SETTINGS,
    wall_event,
    wall_installation,
    wall_path_values,
)
from tests.shipping.factories import wall_method, wall_shipment, wall_zone
from tests.webhooks.factories import webhook_delivery, webhook_endpoint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

API_PREFIX = "/api/v1/"
SURFACES = ("/api/v1/admin/", "/api/v1/store/")
METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM = "application/problem+json"
_PARAM = re.compile(r"{(\w+)}")


# -- objects of a shop, one factory per parametrized path ---------------------------


def wall_customer(shop: Shop) -> Customer:
    """The shop's signed-in customer in these tests (one per shop)."""
    customer = Customer.objects.for_shop(shop).filter(email=f"wall@{shop.slug}.example").first()
    return customer or CustomerFactory(shop=shop, email=f"wall@{shop.slug}.example")


def _channel(shop: Shop) -> Channel:
    return ChannelFactory(shop=shop, slug=f"{shop.slug}-wall", name=f"{shop.slug} wall")


def _domain(shop: Shop) -> Domain:
    return DomainFactory(shop=shop, host=f"{shop.slug}-wall.example.com", is_primary=False)


def _api_key(shop: Shop) -> ApiKey:
    return apikey_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        kind="secret",
        name=f"{shop.slug} wall key",
        permissions=["catalog.view"],
    ).api_key


def _membership(shop: Shop) -> Membership:
    user = UserFactory(email=f"staff-{Membership.objects.count()}@{shop.slug}.example")
    return MembershipFactory(user=user, shop=shop, role=builtin_role("support"))


def _role(shop: Shop) -> Role:
    return Role.objects.create(
        shop=shop, key=f"{shop.slug}-role", name=f"{shop.slug} role", permissions=["orders.view"]
    )


def _customer(shop: Shop) -> Customer:
    return CustomerFactory(shop=shop, email=f"buyer-{Customer.objects.count()}@{shop.slug}.example")


def _address(shop: Shop) -> CustomerAddress:
    return CustomerAddress.objects.create(
        shop=shop,
        customer=wall_customer(shop),
        line1=f"1 {shop.slug} street",
        city="Springfield",
        country="US",
    )


# Path template -> factory creating, in the given shop, the object the path
# names. Whoever adds a route with a path parameter registers it here.
OBJECTS: dict[str, Callable[[Shop], Model]] = {
    "/api/v1/admin/channels/{channel_id}": _channel,
    "/api/v1/admin/domains/{domain_id}": _domain,
    "/api/v1/admin/api-keys/{key_id}": _api_key,
    "/api/v1/admin/api-keys/{key_id}/revoke": _api_key,
    "/api/v1/admin/staff/{membership_id}": _membership,
    "/api/v1/admin/roles/{role_id}": _role,
    "/api/v1/admin/customers/{customer_id}": _customer,
    "/api/v1/store/customers/me/addresses/{address_id}": _address,
    "/api/v1/admin/webhooks/endpoints/{endpoint_id}": webhook_endpoint,
    "/api/v1/admin/webhooks/endpoints/{endpoint_id}/rotate-secret": webhook_endpoint,
    "/api/v1/admin/webhooks/deliveries/{delivery_id}": webhook_delivery,
    "/api/v1/admin/webhooks/deliveries/{delivery_id}/replay": webhook_delivery,
    "/api/v1/admin/plugins/{plugin_id}": wall_installation,
    "/api/v1/admin/plugins/{plugin_id}/install": wall_installation,
    "/api/v1/admin/plugins/{plugin_id}/settings": wall_installation,
    "/api/v1/admin/plugins/{plugin_id}/enable": wall_installation,
    "/api/v1/admin/plugins/{plugin_id}/disable": wall_installation,
    "/api/v1/admin/plugins/{plugin_id}/health": wall_installation,
    "/api/v1/admin/plugins/{plugin_id}/webhook-events": wall_installation,
    "/api/v1/admin/plugins/{plugin_id}/webhook-events/{event_id}/replay": wall_event,
    "/api/v1/admin/products/{product_id}": wall_product,
    "/api/v1/admin/products/{product_id}/options": wall_product,
    "/api/v1/admin/products/{product_id}/variants": wall_sized_product,
    "/api/v1/admin/products/{product_id}/variants/generate": wall_product,
    "/api/v1/admin/products/{product_id}/publish": wall_product,
    "/api/v1/admin/products/{product_id}/unpublish": wall_product,
    "/api/v1/admin/variants/{variant_id}": wall_variant,
    "/api/v1/admin/variants/{variant_id}/prices": wall_variant,
    "/api/v1/admin/products/{product_id}/media": wall_product,
    "/api/v1/admin/products/{product_id}/media/order": wall_product,
    "/api/v1/admin/media/{media_id}": wall_media,
    "/api/v1/store/products/{handle}": wall_product,
    "/api/v1/admin/attributes/{attribute_id}": wall_attribute,
    "/api/v1/admin/categories/{category_id}": wall_category,
    "/api/v1/admin/categories/{category_id}/move": wall_category,
    "/api/v1/admin/products/{product_id}/categories": wall_product,
    "/api/v1/admin/collections/{collection_id}": wall_collection,
    "/api/v1/admin/collections/{collection_id}/products": wall_collection,
    "/api/v1/admin/collections/{collection_id}/products/order": wall_collection,
    "/api/v1/admin/collections/{collection_id}/products/{product_id}": wall_collection_entry,
    "/api/v1/store/categories/{handle}": wall_category,
    "/api/v1/store/collections/{handle}": wall_collection,
    "/api/v1/admin/product-imports/{import_id}": wall_import,
    "/api/v1/admin/product-exports/{export_id}": wall_export,
    "/api/v1/admin/product-exports/{export_id}/file": wall_export,
    "/api/v1/admin/shipping/zones/{zone_id}": wall_zone,
    "/api/v1/admin/shipping/zones/{zone_id}/methods": wall_zone,
    "/api/v1/admin/shipping/methods/{method_id}": wall_method,
    "/api/v1/admin/shipments/{shipment_id}": wall_shipment,
    "/api/v1/admin/shipments/{shipment_id}/tracking-events": wall_shipment,
    "/api/v1/admin/inventory/locations/{location_id}": wall_location,
    "/api/v1/admin/inventory/locations/{location_id}/bulk-set": wall_bulk_location,
    "/api/v1/admin/inventory/channels/{channel_id}": _channel,
    "/api/v1/admin/inventory/variants/{variant_id}/levels": wall_variant,
    "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}": wall_level,
    "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/adjust": wall_level,
    "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/set": wall_level,
    "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/transfer": wall_level,
}

# Paths whose parameters are not just the object's pk: path -> the values of
# its parameters, in order, for the object OBJECTS made.
PATH_VALUES: dict[str, Callable[[Model], tuple[Any, ...]]] = {
    **{path: wall_path_values for path in OBJECTS if path.startswith("/api/v1/admin/plugins/")},
    "/api/v1/store/products/{handle}": lambda product: (product.handle,),
    "/api/v1/admin/collections/{collection_id}/products/{product_id}": lambda entry: (
        entry.collection_id,
        entry.product_id,
    ),
    "/api/v1/store/categories/{handle}": lambda category: (category.handle,),
    "/api/v1/store/collections/{handle}": lambda collection: (collection.handle,),
    **{path: wall_level_path for path, make in OBJECTS.items() if make is wall_level},
}

# List path -> the rows of a shop that list could show. Whoever adds a list
# registers it here.
LISTS: dict[str, Callable[[Shop], QuerySet]] = {
    "/api/v1/admin/channels": lambda shop: Channel.objects.for_shop(shop),
    "/api/v1/admin/domains": lambda shop: Domain.objects.for_shop(shop),
    "/api/v1/admin/api-keys": lambda shop: ApiKey.objects.for_shop(shop),
    "/api/v1/admin/staff": lambda shop: Membership.objects.filter(shop=shop),
    "/api/v1/admin/roles": lambda shop: Role.objects.filter(shop=shop),
    "/api/v1/admin/customers": lambda shop: Customer.objects.for_shop(shop),
    "/api/v1/store/customers/me/addresses": lambda shop: CustomerAddress.objects.for_shop(shop),
    "/api/v1/admin/webhooks/endpoints": lambda shop: WebhookEndpoint.objects.for_shop(shop),
    "/api/v1/admin/webhooks/deliveries": lambda shop: WebhookDelivery.objects.for_shop(shop),
    "/api/v1/admin/plugins": lambda shop: PluginInstallation.objects.for_shop(shop),
    "/api/v1/admin/products": lambda shop: Product.objects.for_shop(shop),
    "/api/v1/store/products": lambda shop: Product.objects.for_shop(shop),
    "/api/v1/admin/attributes": lambda shop: Attribute.objects.for_shop(shop),
    # The category trees list the top-level categories as "items".
    "/api/v1/admin/categories": lambda shop: Category.objects.for_shop(shop),
    "/api/v1/store/categories": lambda shop: Category.objects.for_shop(shop),
    "/api/v1/admin/collections": lambda shop: Collection.objects.for_shop(shop),
    "/api/v1/store/collections": lambda shop: Collection.objects.for_shop(shop),
    "/api/v1/admin/product-imports": lambda shop: CatalogTransfer.objects.for_shop(shop).filter(
        kind="import"
    ),
    "/api/v1/admin/product-exports": lambda shop: CatalogTransfer.objects.for_shop(shop).filter(
        kind="export"
    ),
    "/api/v1/admin/shipping/zones": lambda shop: ShippingZone.objects.for_shop(shop),
    "/api/v1/admin/shipments": lambda shop: Shipment.objects.for_shop(shop),
    "/api/v1/admin/inventory/locations": lambda shop: StockLocation.objects.for_shop(shop),
    "/api/v1/admin/inventory/levels": lambda shop: StockLevel.objects.for_shop(shop),
    "/api/v1/admin/inventory/movements": lambda shop: StockMovement.objects.for_shop(shop),
    "/api/v1/store/availability": lambda shop: ProductVariant.objects.for_shop(shop),
}

# Lists whose items' "id" is another field of the rows than the pk.
LIST_KEYS: dict[str, str] = {"/api/v1/admin/plugins": "plugin_id"}

# A valid body for operations that take one, so the call reaches the lookup
# (and would change B's row if the wall had a hole). Others send {}.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/admin/channels/{channel_id}"): {"name": "hijacked", "is_active": False},
    ("PATCH", "/api/v1/admin/staff/{membership_id}"): {"role": "admin"},
    ("PATCH", "/api/v1/admin/roles/{role_id}"): {"name": "hijacked", "permissions": []},
    ("PATCH", "/api/v1/store/customers/me/addresses/{address_id}"): {"city": "Hijacked"},
    ("PATCH", "/api/v1/admin/webhooks/endpoints/{endpoint_id}"): {
        "url": "https://attacker.example.com/",
        "is_active": False,
    },
    ("PATCH", "/api/v1/admin/plugins/{plugin_id}/settings"): {"settings": VALID_SETTINGS},
    ("PATCH", "/api/v1/admin/products/{product_id}"): {"title": "hijacked", "status": "archived"},
    ("PUT", "/api/v1/admin/products/{product_id}/options"): {
        "options": [{"name": "Hijacked", "values": ["x"]}]
    },
    ("POST", "/api/v1/admin/products/{product_id}/variants"): {
        "option_values": {"Size": "L"},
        "sku": "HIJACKED",
    },
    ("POST", "/api/v1/admin/products/{product_id}/publish"): {"channel_id": "1"},
    ("POST", "/api/v1/admin/products/{product_id}/unpublish"): {"channel_id": "1"},
    ("PATCH", "/api/v1/admin/variants/{variant_id}"): {"sku": "HIJACKED"},
    ("PUT", "/api/v1/admin/variants/{variant_id}/prices"): {"channel_id": "1", "price": "0"},
    ("PATCH", "/api/v1/admin/attributes/{attribute_id}"): {"name": "hijacked", "is_facet": True},
    ("PATCH", "/api/v1/admin/media/{media_id}"): {"alt": "hijacked", "position": 5},
    ("PUT", "/api/v1/admin/products/{product_id}/media/order"): {"media_ids": []},
    ("PATCH", "/api/v1/admin/categories/{category_id}"): {"name": "hijacked"},
    ("POST", "/api/v1/admin/categories/{category_id}/move"): {"parent_id": None, "position": 0},
    ("PUT", "/api/v1/admin/products/{product_id}/categories"): {"category_ids": []},
    ("PATCH", "/api/v1/admin/collections/{collection_id}"): {
        "title": "hijacked",
        "is_published": False,
    },
    ("POST", "/api/v1/admin/collections/{collection_id}/products"): {"product_ids": []},
    ("PUT", "/api/v1/admin/collections/{collection_id}/products/order"): {"product_ids": []},
    ("PATCH", "/api/v1/admin/shipping/zones/{zone_id}"): {"name": "hijacked", "countries": ["FR"]},
    ("POST", "/api/v1/admin/shipping/zones/{zone_id}/methods"): {
        "name": "hijacked",
        "rates": [{"currency": "USD", "amount": "0"}],
    },
    ("PATCH", "/api/v1/admin/shipping/methods/{method_id}"): {"name": "hijacked"},
    ("PATCH", "/api/v1/admin/shipments/{shipment_id}"): {
        "carrier": "hijacked",
        "status": "delivered",
    },
    ("POST", "/api/v1/admin/shipments/{shipment_id}/tracking-events"): {
        "status": "delivered",
        "occurred_at": "2025-01-01T00:00:00Z",
    },
    ("PATCH", "/api/v1/admin/inventory/locations/{location_id}"): {
        "name": "hijacked",
        "is_active": False,
    },
    ("POST", "/api/v1/admin/inventory/locations/{location_id}/bulk-set"): {
        "items": [{"sku": "WALL-BULK", "on_hand": 0}]
    },
    ("PUT", "/api/v1/admin/inventory/channels/{channel_id}"): {
        "location_ids": [],
        "show_quantity": True,
    },
    ("PATCH", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}"): {
        "low_stock_threshold": 1,
        "backorder_limit": 0,
    },
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/adjust"): {
        "delta": -1
    },
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/set"): {
        "on_hand": 0
    },
    ("POST", "/api/v1/admin/inventory/variants/{variant_id}/levels/{location_id}/transfer"): {
        "to_location_id": "1",
        "quantity": 1,
    },
}

# Operations taking multipart/form-data: a valid form (files as uploads) for each.
MULTIPART: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/admin/products/{product_id}/media"): lambda: {
        "file": upload(image_bytes("PNG", (4, 4))),
        "alt": "hijacked",
    },
}


# Query parameters a list or read needs to answer 200 (none so far).
QUERIES: dict[str, dict[str, str]] = {}


# -- the operations, from the OpenAPI schema -----------------------------------------


def operations() -> list[tuple[str, str]]:
    """Every (METHOD, path template) of the Admin and Store APIs."""
    schema = api.get_openapi_schema(path_prefix=API_PREFIX)
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        if path.startswith(SURFACES)
        for method in item
        if method in METHODS
    )


PARAMETRIZED = [(m, p) for m, p in operations() if _PARAM.search(p)]
PLAIN_GETS = [p for m, p in operations() if m == "GET" and not _PARAM.search(p)]


def _client_for(shop: Shop, path: str) -> Client:
    if path.startswith("/api/v1/admin/"):
        return Client(headers={"Authorization": f"Bearer {secret_key(shop)}"})
    channel = Channel.objects.for_shop(shop).first() or ChannelFactory(shop=shop, slug="web")
    token = new_key(CUSTOMER_TOKEN_PREFIX)
    CustomerToken.objects.create(
        shop=shop,
        customer=wall_customer(shop),
        prefix=token.prefix,
        key_hash=token.digest,
        expires_at=timezone.now() + timedelta(days=1),
    )
    return Client(
        headers={
            "X-Publishable-Key": publishable_key(channel),
            "Authorization": f"Bearer {token.raw}",
        }
    )


def _call(client: Client, method: str, url: str, body: dict[str, Any] | None = None):
    if method in ("GET", "DELETE"):
        return client.generic(method, url)
    return client.generic(method, url, json.dumps(body or {}), content_type="application/json")


def _send(client: Client, method: str, path: str, url: str):
    """Call ``url`` with the body registered for the operation (a form, JSON or none)."""
    if (method, path) in MULTIPART:
        assert method == "POST", "Django parses multipart bodies of POST requests only"
        return client.post(url, MULTIPART[(method, path)]())
    return _call(client, method, url, BODIES.get((method, path)))


def _snapshot(obj: Model) -> dict[str, Any] | None:
    return type(obj)._default_manager.filter(pk=obj.pk).values().first()


def fill_path(path: str, obj: Model) -> str:
    """Return ``path`` naming ``obj`` (by its pk, or as PATH_VALUES says)."""
    params = _PARAM.findall(path)
    values = PATH_VALUES[path](obj) if path in PATH_VALUES else (obj.pk,)
    assert len(params) == len(values), f"{path}: register its parameters in PATH_VALUES"
    for param, value in zip(params, values, strict=True):
        path = path.replace(f"{{{param}}}", str(value))
    return path


# -- tests ---------------------------------------------------------------------------


def test_every_parametrized_route_is_registered() -> None:
    missing = sorted({p for _, p in PARAMETRIZED} - set(OBJECTS))

    assert not missing, f"register these paths in OBJECTS of {__name__}: {missing}"
    assert PARAMETRIZED, "the API has routes with parameters; enumeration found none"


def test_the_wall_covers_both_apis() -> None:
    paths = {p for _, p in PARAMETRIZED}

    assert any(p.startswith("/api/v1/admin/") for p in paths)
    assert "/api/v1/admin/channels/{channel_id}" in paths


@pytest.mark.parametrize(
    ("method", "path"), PARAMETRIZED, ids=[f"{m} {p}" for m, p in PARAMETRIZED]
)
def test_another_shops_object_is_not_found(shop, other_shop, media_root, method, path) -> None:
    # given: the same kind of object in both shops
    if path not in OBJECTS:
        pytest.fail(f"register {path} in OBJECTS of {__name__}")
    make = OBJECTS[path]
    make(shop)
    theirs = make(other_shop)
    before = _snapshot(theirs)
    their_events = AuditEvent.objects.filter(shop_id=other_shop.pk).count()
    files = stored_files(media_root)
    client = _client_for(shop, path)

    # when: shop A names B's object
    response = _send(client, method, path, fill_path(path, theirs))

    # then: it does not exist for A, and B's row is untouched
    assert response.status_code == 404, (method, path, response.content)
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_found"
    assert _snapshot(theirs) == before
    assert AuditEvent.objects.filter(shop_id=other_shop.pk).count() == their_events
    assert stored_files(media_root) == files


@pytest.mark.parametrize("path", PLAIN_GETS)
def test_lists_and_reads_never_show_another_shops_rows(shop, other_shop, path) -> None:
    # given: one of every registered object in both shops
    for make in dict.fromkeys(OBJECTS.values()):
        make(shop)
        make(other_shop)
    client = _client_for(shop, path)

    # when
    response = client.get(path, QUERIES.get(path, {}))

    # then
    assert response.status_code == 200, (path, response.content)
    assert "globex" not in response.content.decode().lower()
    body = response.json()
    if not (isinstance(body, dict) and "items" in body):
        return
    if path not in LISTS:
        pytest.fail(f"register the list {path} in LISTS of {__name__}")
    returned = {item["id"] for item in body["items"]}
    key = LIST_KEYS.get(path, "pk")
    ours = {str(pk) for pk in LISTS[path](shop).values_list(key, flat=True)}
    theirs = {str(pk) for pk in LISTS[path](other_shop).values_list(key, flat=True)}
    assert theirs, f"{path}: the factories made no rows for the other shop"
    assert returned & ours, f"{path}: the list shows none of the shop's own rows"
    assert not returned & theirs


def test_a_secret_key_ignores_x_shop(shop, other_shop, other_channel) -> None:
    client = Client(
        headers={"Authorization": f"Bearer {secret_key(shop)}", "X-Shop": other_shop.slug}
    )

    got = client.get("/api/v1/admin/shop")
    listed = client.get("/api/v1/admin/channels")
    created = client.post(
        "/api/v1/admin/channels", {"slug": "new", "name": "New"}, content_type="application/json"
    )

    assert got.json()["slug"] == "acme"
    assert str(other_channel.pk) not in {c["id"] for c in listed.json()["items"]}
    assert created.status_code == 201
    assert Channel.objects.get(slug="new").shop_id == shop.pk


def test_a_staff_member_cannot_name_a_shop_they_do_not_work_in(shop, other_shop) -> None:
    member = MembershipFactory(shop=shop)
    client = Client(headers={"X-Shop": other_shop.slug})
    client.force_login(member.user)
    channels_before = Channel.objects.for_shop(other_shop).count()

    got = client.get("/api/v1/admin/shop")
    created = client.post(
        "/api/v1/admin/channels", {"slug": "new", "name": "New"}, content_type="application/json"
    )
    unknown = Client(headers={"X-Shop": "no-such-shop"})
    unknown.force_login(member.user)

    for response in (got, created, unknown.get("/api/v1/admin/shop")):
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM
    assert Channel.objects.for_shop(other_shop).count() == channels_before
    assert not Channel.objects.filter(slug="new").exists()


def test_a_staff_member_of_both_shops_acts_in_the_one_named(shop, other_shop) -> None:
    user = UserFactory()
    MembershipFactory(user=user, shop=shop, role=builtin_role("read_only"))
    MembershipFactory(user=user, shop=other_shop, role=builtin_role("owner"))
    client = Client(headers={"X-Shop": shop.slug})
    client.force_login(user)

    response = client.patch(
        "/api/v1/admin/shop", {"name": "Renamed"}, content_type="application/json"
    )

    assert response.status_code == 403  # read-only in acme, owner elsewhere
    shop.refresh_from_db()
    assert shop.name == "Acme"
