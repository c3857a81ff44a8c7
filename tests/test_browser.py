"""A real browser signs in to the admin: cookies, CSRF and the CSP all hold."""

from __future__ import annotations

import os

import pytest
from django.db import connections

from merchantry.accounts.models import User
from tests.conftest import chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Test data comes from fixtures listed before ``browser_page``: a connection
# opened after Playwright starts lives in its context and is never closed,
# which stops PostgreSQL from dropping the test database.


@pytest.fixture
def owner() -> User:
    return User.objects.create_superuser(email="owner@example.com", password="Correct-Horse-42")


@pytest.fixture
def demo_shop():
    from tests.factories import ShopFactory

    return ShopFactory(slug="demo", name="Demo Shop")


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own
    # database work happens before it starts, so Django's guard can stand down.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page()
            try:
                yield page
            finally:
                # A test that reads the database while Playwright's loop runs
                # gets a connection of that context, which the test database's
                # teardown would find still open: close it here, in its context.
                connections.close_all()
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_staff_signs_in_to_the_admin_without_csp_violations(
    live_server, owner, browser_page
) -> None:
    # given a staff account (the owner fixture)
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

    # when they sign in through the login form
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "owner@example.com")
    page.fill("input[name=password]", "Correct-Horse-42")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")

    # then the branded dashboard shows, with nothing blocked by the policy
    assert page.url.rstrip("/").endswith("/admin")
    assert "Merchantry" in page.content()
    assert page.locator("text=Users").first.is_visible()
    page.screenshot(path=os.path.join(os.environ.get("MERCHANTRY_DATA_DIR", "."), "admin.png"))
    assert problems == []


def test_storefront_renders_with_its_stylesheet(live_server, demo_shop, browser_page) -> None:
    page = browser_page
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Demo Shop is open."
    # the stylesheet loaded: the brand colour is applied
    colour = page.eval_on_selector(".brand", "el => getComputedStyle(el).color")
    assert colour == "rgb(15, 123, 95)"
    assert blocked == []
