"""
Shops with a plugin installed, for tests that use the database (pytest-django).

The installation goes through the same services as the admin (install,
configure, enable), so a plugin whose settings do not validate fails here
the way it would for a merchant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.plugins.models import PluginInstallation
from merchantry.plugins.services import plugin_configure, plugin_enable, plugin_install
from merchantry.tenancy.models import Shop
from merchantry.tenancy.services import shop_create

__all__ = ["install_plugin", "shop_with_plugin"]


def install_plugin(
    shop: Shop,
    plugin_id: str,
    *,
    settings: Mapping[str, Any] | None = None,
    enable: bool = True,
) -> PluginInstallation:
    """Install ``plugin_id`` in ``shop``, configure it with ``settings``, enable it."""
    plugin_install(actor=SYSTEM_ACTOR, shop=shop, plugin_id=plugin_id)
    if settings is not None:
        plugin_configure(actor=SYSTEM_ACTOR, shop=shop, plugin_id=plugin_id, settings=settings)
    if enable:
        plugin_enable(actor=SYSTEM_ACTOR, shop=shop, plugin_id=plugin_id)
    return PluginInstallation.objects.get(shop=shop, plugin_id=plugin_id)


def shop_with_plugin(
    plugin_id: str,
    *,
    settings: Mapping[str, Any] | None = None,
    enable: bool = True,
    slug: str = "plugin-test",
    currency: str = "USD",
    country: str = "US",
) -> tuple[Shop, PluginInstallation]:
    """Create a shop and install ``plugin_id`` in it (see :func:`install_plugin`)."""
    shop = shop_create(
        actor=SYSTEM_ACTOR, slug=slug, name=slug.title(), currency=currency, country=country
    )
    return shop, install_plugin(shop, plugin_id, settings=settings, enable=enable)
