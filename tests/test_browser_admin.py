"""In a real browser: a staff member of two shops switches shops from the sidebar."""

from __future__ import annotations

import os

import pytest

from merchantry.accounts.models import Membership, Role, User
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import BUILTIN_ROLES
from tests.test_browser import browser_page  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Correct-Horse-42"


def _owner_role() -> Role:
    # Transactional tests flush the tables, so the migration's rows may be gone.
    role, _ = Role.objects.get_or_create(
        shop=None, key="owner", defaults={"name": BUILTIN_ROLES["owner"][0]}
    )
    return role


@pytest.fixture
def owner_of_two_shops() -> tuple[User, list[Shop]]:
    """An owner of two shops, each with a channel (made before the browser starts)."""
    user = User.objects.create_user(
        email="owner@example.com", password=PASSWORD, full_name="Olivia Owner", is_staff=True
    )
    shops = []
    for name, slug, currency, country in [
        ("Acme Outdoor", "acme", "USD", "US"),
        ("Globex Home", "globex", "EUR", "DE"),
    ]:
        shop = Shop.objects.create(
            name=name, slug=slug, default_currency=currency, default_country=country
        )
        Membership.objects.create(user=user, shop=shop, role=_owner_role())
        Channel.objects.create(
            shop=shop,
            name=f"{name} web store",
            slug="web",
            currency=currency,
            default_country=country,
        )
        shops.append(shop)
    return user, shops


def test_staff_switch_shops_from_the_sidebar(
    live_server,
    owner_of_two_shops,
    browser_page,  # noqa: F811
) -> None:
    # given an owner of two shops, each with a channel (the fixture)
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.set_viewport_size({"width": 1440, "height": 900})

    # when they sign in and open the shop menu in the sidebar header
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "owner@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/admin/tenancy/channel/")
    page.click("#nav-sidebar-inner >> text=Acme Outdoor")
    page.wait_for_selector("#shop-switcher button[data-shop=globex]", state="visible")
    page.wait_for_timeout(400)  # let the menu's fade-in finish before the picture
    shot = os.path.join(os.environ.get("MERCHANTRY_DATA_DIR", "."), "admin-shop-switcher.png")
    page.screenshot(path=shot)

    # then both shops are offered, the current one marked
    assert page.get_attribute("#shop-switcher button[data-shop=acme]", "aria-current") == "true"
    assert "Acme Outdoor web store" in page.content()

    # when they pick the other shop
    page.click("#shop-switcher button[data-shop=globex]")
    page.wait_for_load_state("networkidle")

    # then they stay on the channel list, now showing the other shop's channels
    assert page.url.endswith("/admin/tenancy/channel/")
    body = page.content()
    assert "Globex Home web store" in body
    assert "Acme Outdoor web store" not in body
    assert "You are now working in Globex Home." in body
    assert errors == []
