"""
Fixtures and markers shared by the whole suite.

Tests that need PostgreSQL, Redis or Chromium carry a marker. A run names the
services it must have in ``MERCHANTRY_REQUIRE_SERVICES`` (``.ci/run`` does:
Chromium on its SQLite pass; PostgreSQL, Redis and Chromium on its second
pass); there a missing service fails the test, because CI must never pass by
skipping. Elsewhere such tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIRED_SERVICES = {
    name.strip()
    for name in os.environ.get("MERCHANTRY_REQUIRE_SERVICES", "").split(",")
    if name.strip()
}


def _missing(service: str, reason: str) -> None:
    if service in REQUIRED_SERVICES:
        pytest.fail(f"this run requires {service}: {reason}", pytrace=False)
    pytest.skip(reason)


def _redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("postgres", "needs PostgreSQL: set DATABASE_URL=postgres://... to run it")
    if item.get_closest_marker("redis"):
        url = _redis_url()
        if not url:
            _missing("redis", "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/15 to run it")
        elif not _redis_answers(url):
            _missing("redis", f"needs Redis, but {url} does not answer")
    if item.get_closest_marker("browser") and not chromium_path():
        _missing("chromium", "needs Chromium: apt-get install chromium")


@pytest.fixture(autouse=True)
def _jobs_run_inline(request: pytest.FixtureRequest, settings) -> None:
    """
    Run enqueued jobs at once, in the test's thread, unless the test is marked
    ``real_queue`` and starts a real worker itself.
    """
    if request.node.get_closest_marker("real_queue") is None:
        settings.TASKS = {
            "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_for_subprocess() -> str:
    """Return a DATABASE_URL naming the database this test process uses."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment for a `merchantry` subprocess sharing this test's data."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "MERCHANTRY_JOB_QUEUE")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).strip(
        os.pathsep
    )
    env.update(overrides)
    return env


def run_merchantry(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "merchantry", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """A media folder of the test's own, so files it stores are its alone."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = _redis_url()
    assert url, "the redis marker guarantees REDIS_URL"
    return url


# -- tenants ------------------------------------------------------------------------


@pytest.fixture
def shop(db):
    from tests.factories import ShopFactory

    return ShopFactory(slug="acme", name="Acme")


@pytest.fixture
def other_shop(db):
    from tests.factories import ShopFactory

    return ShopFactory(slug="globex", name="Globex", default_currency="EUR", default_country="DE")


@pytest.fixture
def channel(shop):
    from tests.factories import ChannelFactory

    return ChannelFactory(shop=shop, slug="web")


@pytest.fixture
def other_channel(other_shop):
    from tests.factories import ChannelFactory

    return ChannelFactory(shop=other_shop, slug="web", currency="EUR")


@pytest.fixture
def admin_client(shop):
    """A client calling the Admin API of ``shop`` with an all-permissions secret key."""
    from django.test import Client

    from tests.factories import secret_key

    return Client(headers={"Authorization": f"Bearer {secret_key(shop)}"})


@pytest.fixture
def other_admin_client(other_shop):
    from django.test import Client

    from tests.factories import secret_key

    return Client(headers={"Authorization": f"Bearer {secret_key(other_shop)}"})


@pytest.fixture
def store_client(channel):
    """A client calling the Store API of ``channel`` with its publishable key."""
    from django.test import Client

    from tests.factories import publishable_key

    return Client(headers={"X-Publishable-Key": publishable_key(channel)})
