"""
pytest fixtures for plugin authors. Enable them in your ``conftest.py``::

    pytest_plugins = ["merchantry.testing.pytest_plugin"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import pytest

from merchantry.plugins.registry import LoadedPlugin, get_plugin
from merchantry.testing.plugins import registered_plugin

__all__ = ["fake_server", "plugin_shop", "register_plugin"]


@pytest.fixture
def register_plugin() -> Iterator[Callable[[object], LoadedPlugin]]:
    """Return a function that registers a plugin object until the test ends."""
    with ExitStack() as stack:
        yield lambda plugin: stack.enter_context(registered_plugin(plugin))


@pytest.fixture
def fake_server(httpserver):  # type: ignore[no-untyped-def]
    """A :class:`~merchantry.testing.httpserver.FakeServer` on pytest-httpserver's server."""
    from merchantry.testing.httpserver import FakeServer  # pytest-httpserver: test-only

    server = FakeServer(httpserver)
    yield server
    server.check()


@pytest.fixture
def plugin_shop(db, register_plugin):  # type: ignore[no-untyped-def]
    """
    Return ``make(plugin, settings=None, enable=True, slug="plugin-test")``,
    which registers ``plugin`` (unless it is the installed one), creates a
    shop and installs the plugin there; it returns ``(shop, installation)``.
    """
    # Imported here: it needs Django's models, and a plugin's suite that only
    # uses the fixtures above runs without Django settings at all.
    from merchantry.testing.installations import shop_with_plugin

    def make(
        plugin: Any,
        *,
        settings: Mapping[str, Any] | None = None,
        enable: bool = True,
        slug: str = "plugin-test",
    ) -> tuple[Any, Any]:
        loaded = get_plugin(plugin.manifest.id)
        if loaded is None or loaded.plugin is not plugin:
            register_plugin(plugin)
        return shop_with_plugin(plugin.manifest.id, settings=settings, enable=enable, slug=slug)

    return make
