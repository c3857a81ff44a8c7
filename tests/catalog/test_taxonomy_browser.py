"""In a real browser: the category tree screen expands and reorders through drag and drop."""

from __future__ import annotations

import pytest

from merchantry.accounts.models import Membership, Role, User
from merchantry.catalog import categories
from merchantry.catalog.models import Category
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import AuditEvent
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import BUILTIN_ROLES
from tests.test_browser import browser_page  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Correct-Horse-42"


@pytest.fixture
def tree() -> dict[str, Category]:
    """A shop owner, and Clothing > Shirts, Shoes (made before the browser starts)."""
    # Transactional tests flush the tables, so the migration's rows may be gone.
    role, _ = Role.objects.get_or_create(
        shop=None, key="owner", defaults={"name": BUILTIN_ROLES["owner"][0]}
    )
    user = User.objects.create_user(
        email="owner@example.com", password=PASSWORD, full_name="Olivia Owner", is_staff=True
    )
    shop = Shop.objects.create(
        name="Acme Outdoor", slug="acme", default_currency="USD", default_country="US"
    )
    Membership.objects.create(user=user, shop=shop, role=role)
    clothing = categories.category_create(actor=SYSTEM_ACTOR, shop=shop, name="Clothing")
    shirts = categories.category_create(
        actor=SYSTEM_ACTOR, shop=shop, name="Shirts", parent_id=clothing.pk
    )
    shoes = categories.category_create(actor=SYSTEM_ACTOR, shop=shop, name="Shoes")
    return {"clothing": clothing, "shirts": shirts, "shoes": shoes}


def test_a_category_dropped_on_another_becomes_its_child(
    live_server,
    tree,
    browser_page,  # noqa: F811
) -> None:
    # given the tree screen, signed in as the owner
    page = browser_page
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" or "Content Security Policy" in msg.text
            else None
        ),
    )
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "owner@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/admin/catalog/category/")
    clothing = f"tr[data-node-id='{tree['clothing'].pk}']"
    shoes = f"tr[data-node-id='{tree['shoes'].pk}']"
    page.wait_for_selector(f"{shoes} .drag-handler")

    # when the top level is expanded, then Shoes is dropped on the lower half of Clothing
    page.click(f"{clothing} a.treebeard-collapse")
    page.wait_for_selector(f"tr[data-node-id='{tree['shirts'].pk}']")
    height = page.locator(clothing).bounding_box()["height"]
    with page.expect_navigation():
        page.drag_and_drop(
            f"{shoes} .drag-handler", clothing, target_position={"x": 200, "y": height - 3}
        )
    page.wait_for_load_state("networkidle")

    # then Shoes is Clothing's last child, moved by the service (audited)
    shop = tree["clothing"].shop
    nodes = categories.category_tree(shop)
    assert [n.category.handle for n in nodes] == ["clothing"]
    assert [c.category.handle for c in nodes[0].children] == ["shirts", "shoes"]
    assert "Moved" in page.content()
    assert AuditEvent.objects.filter(
        action="category.move", target_id=str(tree["shoes"].pk)
    ).exists()
    assert problems == []
