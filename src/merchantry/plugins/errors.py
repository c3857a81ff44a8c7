"""The plugin platform's errors (all answered as 409 problems)."""

from __future__ import annotations

from merchantry.core.errors import Conflict

__all__ = ["PluginAlreadyInstalled", "PluginNotConfigured", "PluginUnavailable"]


class PluginUnavailable(Conflict):
    """The plugin is incompatible with this Merchantry, broken, or gone."""

    code = "plugin_unavailable"


class PluginAlreadyInstalled(Conflict):
    code = "plugin_already_installed"


class PluginNotConfigured(Conflict):
    """The stored settings do not satisfy the plugin's settings model."""

    code = "plugin_not_configured"
