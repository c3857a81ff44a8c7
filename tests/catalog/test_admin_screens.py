"""The product screens: one shop at a time, writes through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from merchantry.catalog.models import Product
from tests.catalog.conftest import make_product
from tests.test_admin_tenancy import member, staff_client

pytestmark = pytest.mark.django_db


def test_the_list_shows_the_current_shops_products_with_search_and_filter(shop, other_shop) -> None:
    make_product(shop, title="Acme-Linen-x1")
    make_product(shop, title="Acme-Wool-x1", status="draft")
    make_product(other_shop, title="Globex-Linen-x1")
    client = staff_client(member(shop, "catalog_manager"), shop)
    url = reverse("admin:catalog_product_changelist")

    everything = client.get(url).content.decode()
    searched = client.get(url, {"q": "linen"}).content.decode()
    drafts = client.get(url, {"status__exact": "draft"}).content.decode()

    assert "Acme-Linen-x1" in everything
    assert "Acme-Wool-x1" in everything
    assert "Globex" not in everything
    assert "Acme-Linen-x1" in searched
    assert "Acme-Wool-x1" not in searched
    assert "Acme-Wool-x1" in drafts
    assert "Acme-Linen-x1" not in drafts


def test_a_product_created_in_the_admin_goes_through_the_service(shop) -> None:
    client = staff_client(member(shop, "catalog_manager"), shop)

    response = client.post(
        reverse("admin:catalog_product_add"),
        {
            "title": "Linen shirt",
            "handle": "",
            "status": "draft",
            "description": "<p onclick='x()'>Cool</p><script>alert(1)</script>",
            "product_type": "",
            "vendor": "",
            "tags": "summer, linen",
            "seo_title": "",
            "seo_description": "",
            "variants-TOTAL_FORMS": "0",
            "variants-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    product = Product.objects.get(shop=shop)
    assert (product.handle, product.tags, product.description) == (
        "linen-shirt",
        ["summer", "linen"],
        "<p>Cool</p>",
    )
    assert product.variants.count() == 1


def test_another_shops_product_is_not_found(shop, other_shop) -> None:
    theirs = make_product(other_shop, title="Theirs")
    client = staff_client(member(shop, "owner"), shop)

    response = client.get(reverse("admin:catalog_product_change", args=[theirs.pk]))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_deleting_in_the_admin_archives(shop) -> None:
    product = make_product(shop)
    client = staff_client(member(shop, "catalog_manager"), shop)

    response = client.post(
        reverse("admin:catalog_product_delete", args=[product.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.status == "archived"


def test_a_read_only_member_cannot_add(shop) -> None:
    client = staff_client(member(shop, "read_only"), shop)

    listed = client.get(reverse("admin:catalog_product_changelist"))
    added = client.post(reverse("admin:catalog_product_add"), {"title": "X", "status": "draft"})

    assert listed.status_code == 200
    assert added.status_code == 403
    assert not Product.objects.exists()
