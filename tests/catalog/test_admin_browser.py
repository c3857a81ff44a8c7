"""
In a real browser: a catalog manager filters the product list and edits
variants and prices in the grid, where a bad cell saves nothing.

With MERCHANTRY_DOCS_SCREENSHOTS=1 the screenshots are written to docs/img
(the catalog guide shows them); otherwise to the test data folder.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from merchantry.accounts.models import Membership, Role, User
from merchantry.catalog.models import Category, VariantChannelPrice
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import BUILTIN_ROLES
from tests.catalog.conftest import make_product
from tests.test_browser import browser_page  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Correct-Horse-42"


def _shot(page, name: str) -> None:
    if os.environ.get("MERCHANTRY_DOCS_SCREENSHOTS"):
        folder = Path(__file__).resolve().parents[2] / "docs" / "img"
    else:
        folder = Path(os.environ.get("MERCHANTRY_DATA_DIR", "."))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=False)


@pytest.fixture
def catalog() -> dict:
    """A shop with two channels, a category tree and products (made before the browser)."""
    user = User.objects.create_user(
        email="cat@example.com", password=PASSWORD, full_name="Cat Manager", is_staff=True
    )
    shop = Shop.objects.create(
        name="Acme Outdoor", slug="acme", default_currency="USD", default_country="US"
    )
    role, _ = Role.objects.get_or_create(
        shop=None, key="owner", defaults={"name": BUILTIN_ROLES["owner"][0]}
    )
    Membership.objects.create(user=user, shop=shop, role=role)
    web = Channel.objects.create(shop=shop, name="Web store", slug="web", currency="USD")
    eu = Channel.objects.create(shop=shop, name="EU store", slug="eu", currency="EUR")
    apparel = Category.objects.add_root({"shop": shop, "name": "Apparel", "handle": "apparel"})
    shirts = Category.objects.add_child(apparel, {"shop": shop, "name": "Shirts", "handle": "s"})
    tee = make_product(
        shop,
        title="Linen tee",
        channel=web,
        vendor="Acme",
        product_type="Shirts",
        options=[{"name": "Size", "values": ["S", "M", "L"]}],
    )
    tee.categories.add(shirts)
    for title, vendor in [("Wool scarf", "Northwind"), ("Rain jacket", "Acme"), ("Mug", "Ceramo")]:
        make_product(shop, title=title, channel=web, vendor=vendor)
    make_product(shop, title="Draft poncho", status="draft", vendor="Acme")
    return {"shop": shop, "tee": tee, "web": web, "eu": eu, "apparel": apparel}


def test_filter_the_list_and_edit_the_grid(live_server, catalog, browser_page) -> None:  # noqa: F811
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "cat@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    # The list, filtered to the Apparel category (and its Shirts subcategory).
    page.goto(f"{live_server.url}/admin/catalog/product/")
    assert "Draft poncho" in page.content()
    _shot(page, "catalog-products.png")
    page.goto(f"{live_server.url}/admin/catalog/product/?category={catalog['apparel'].pk}")
    assert "Linen tee" in page.content()
    assert "Wool scarf" not in page.content()

    # The grid: a price with too many decimals saves nothing and says why.
    tee = catalog["tee"]
    small = tee.variants.order_by("position").first()
    page.goto(f"{live_server.url}/admin/catalog/product/{tee.pk}/variants/")
    page.fill(f"input[name='v{small.pk}-sku']", "TEE-S")
    page.fill(f"input[name='p{small.pk}-{catalog['eu'].pk}-price']", "17.999")
    page.click("text=Save variants and prices")
    page.wait_for_selector(".grid-error")
    assert "at most 2 decimal places" in page.content()
    small.refresh_from_db()
    assert small.sku is None
    _shot(page, "catalog-variants-grid.png")

    # Corrected, the whole grid saves.
    page.fill(f"input[name='p{small.pk}-{catalog['eu'].pk}-price']", "17.90")
    page.click("text=Save variants and prices")
    page.wait_for_selector("text=Variants and prices saved.")
    small.refresh_from_db()
    assert small.sku == "TEE-S"
    price = VariantChannelPrice.objects.get(variant=small, channel=catalog["eu"])
    assert (price.price, price.currency) == (Decimal("17.90"), "EUR")
