"""Typed custom attributes: definitions, checked product values, Store filters and facets."""

from __future__ import annotations

import pytest

from merchantry.catalog import services
from merchantry.catalog.attributes import attribute_create
from merchantry.catalog.models import Product
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product

pytestmark = pytest.mark.django_db

API = "/api/v1/admin"


@pytest.fixture
def defined(shop):
    attribute_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        name="Material",
        type="choice",
        choices=["Linen", "Wool"],
        is_facet=True,
    )
    attribute_create(
        actor=SYSTEM_ACTOR, shop=shop, name="Waterproof", type="boolean", is_facet=True
    )
    attribute_create(actor=SYSTEM_ACTOR, shop=shop, name="Thread count", type="number")
    attribute_create(actor=SYSTEM_ACTOR, shop=shop, name="Care", type="text")


def _create(admin_client, attributes):
    return admin_client.post(
        f"{API}/products",
        {"title": "Shirt", "attributes": attributes},
        content_type="application/json",
    )


def test_values_are_checked_against_their_types(defined, admin_client) -> None:
    response = _create(
        admin_client,
        {"material": "Linen", "waterproof": False, "thread-count": "300.50", "care": "Cold wash"},
    )

    assert response.status_code == 201, response.content
    assert response.json()["attributes"] == {
        "material": "Linen",
        "waterproof": False,
        "thread-count": "300.5",
        "care": "Cold wash",
    }


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({"material": "Silk"}, "invalid_choice"),
        ({"waterproof": "yes"}, "invalid"),
        ({"thread-count": "many"}, "not_a_number"),
        ({"thread-count": 1.5}, "invalid"),
        ({"care": "x" * 501}, "invalid"),
        ({"colour": "Red"}, "not_found"),
    ],
)
def test_a_bad_value_is_a_422_naming_it_and_nothing_is_saved(
    defined, admin_client, attributes, code
) -> None:
    response = _create(admin_client, attributes)

    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert error["loc"] == ["attributes", next(iter(attributes))]
    assert error["code"] == code
    assert not Product.objects.exists()


def test_a_patch_merges_and_null_removes(defined, shop, admin_client) -> None:
    product = make_product(shop, title="Shirt", attributes={"material": "Linen", "care": "Dry"})

    response = admin_client.patch(
        f"{API}/products/{product.pk}",
        {"attributes": {"material": "Wool", "care": None}},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["attributes"] == {"material": "Wool"}


def test_a_choice_in_use_cannot_be_removed_and_deleting_clears_values(
    defined, shop, admin_client
) -> None:
    make_product(shop, title="Shirt", attributes={"material": "Wool"})
    material = admin_client.get(f"{API}/attributes").json()["items"][0]

    refused = admin_client.patch(
        f"{API}/attributes/{material['id']}",
        {"choices": ["Linen"]},
        content_type="application/json",
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "in_use"

    assert admin_client.delete(f"{API}/attributes/{material['id']}").status_code == 204
    assert Product.objects.get().attributes == {}


def test_slugs_are_unique_per_shop(defined, shop, other_shop, admin_client) -> None:
    again = admin_client.post(
        f"{API}/attributes", {"name": "Material"}, content_type="application/json"
    )
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"] == "unique"
    attribute_create(actor=SYSTEM_ACTOR, shop=other_shop, name="Material")


def test_the_store_filters_and_counts_facet_attributes(defined, shop, channel, store_client):
    make_product(
        shop, title="Linen shirt", channel=channel, attributes={"material": "Linen", "care": "x"}
    )
    make_product(
        shop,
        title="Wool coat",
        channel=channel,
        attributes={"material": "Wool", "waterproof": True},
    )
    make_product(shop, title="Rain coat", channel=channel, attributes={"waterproof": True})

    def handles(**params):
        response = store_client.get("/api/v1/store/products", params)
        assert response.status_code == 200, response.content
        return [p["handle"] for p in response.json()["items"]]

    assert handles(attr="material:Wool") == ["wool-coat"]
    assert handles(attr=["material:Wool", "material:Linen"]) == ["linen-shirt", "wool-coat"]
    assert handles(attr="waterproof:true") == ["rain-coat", "wool-coat"]
    assert handles(attr=["waterproof:true", "material:Wool"]) == ["wool-coat"]
    # Only facet attributes filter.
    assert store_client.get("/api/v1/store/products", {"attr": "care:x"}).status_code == 422

    facets = store_client.get("/api/v1/store/facets").json()["attributes"]
    assert facets == [
        {
            "slug": "material",
            "name": "Material",
            "type": "choice",
            "values": [{"value": "Linen", "count": 1}, {"value": "Wool", "count": 1}],
        },
        {
            "slug": "waterproof",
            "name": "Waterproof",
            "type": "boolean",
            "values": [{"value": True, "count": 2}],
        },
    ]
    detail = store_client.get("/api/v1/store/products/linen-shirt").json()
    assert detail["attributes"] == {"material": "Linen", "care": "x"}


def test_services_refuse_an_attribute_of_another_shop(defined, other_shop) -> None:
    from merchantry.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.product_create(
            actor=SYSTEM_ACTOR, shop=other_shop, title="X", attributes={"material": "Linen"}
        )


def test_attributes_are_defined_in_the_admin_and_checked_on_products(shop) -> None:
    from django.urls import reverse

    from merchantry.catalog.models import Attribute
    from tests.test_admin_tenancy import member, staff_client

    client = staff_client(member(shop, "catalog_manager"), shop)
    created = client.post(
        reverse("admin:catalog_attribute_add"),
        {
            "name": "Material",
            "slug": "material",
            "type": "choice",
            "choices": '["Linen", "Wool"]',
            "position": "0",
        },
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    assert Attribute.objects.get(shop=shop).choices == ["Linen", "Wool"]

    product = make_product(shop, title="Shirt")
    page = client.post(
        reverse("admin:catalog_product_change", args=[product.pk]),
        {
            "title": "Shirt",
            "handle": product.handle,
            "status": "draft",
            "description": "",
            "product_type": "",
            "vendor": "",
            "tags": "",
            "seo_title": "",
            "seo_description": "",
            "attributes": '{"material": "Silk"}',
            "variants-TOTAL_FORMS": "0",
            "variants-INITIAL_FORMS": "0",
        },
    ).content.decode()
    assert "One of: Linen, Wool." in page
    assert Product.objects.get(pk=product.pk).attributes == {}
