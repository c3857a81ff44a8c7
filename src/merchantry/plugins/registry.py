"""
Finding plugins: every ``merchantry.plugins`` entry point, checked once.

A plugin whose ``requires_core`` does not admit this Merchantry version, or
that fails to import, is refused with one clear log line and listed with its
reason; the platform starts anyway.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from merchantry import __version__
from merchantry.core.logging import get_logger
from merchantry.plugins.spec import Plugin

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugin",
    "PluginStatus",
    "all_plugins",
    "get_plugin",
    "load_entry_point",
    "reset_registry",
]

ENTRY_POINT_GROUP = "merchantry.plugins"
PLUGIN_ID_RE = re.compile(r"[a-z][a-z0-9_]{1,49}")
logger = get_logger(__name__)


class PluginStatus:
    OK = "ok"
    INCOMPATIBLE = "incompatible"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """A discovered plugin and whether it may be used."""

    id: str
    entry_point: str
    status: str
    reason: str = ""
    plugin: Plugin | None = None

    @property
    def usable(self) -> bool:
        return self.status == PluginStatus.OK and self.plugin is not None


def load_entry_point(entry_point: EntryPoint, *, core_version: str = __version__) -> LoadedPlugin:
    """Import one entry point and check its manifest against ``core_version``."""
    label = f"{entry_point.name} = {entry_point.value}"
    try:
        plugin = entry_point.load()
    except Exception as exc:  # a broken plugin must not stop the platform
        logger.error("plugin_refused", entry_point=label, reason=f"import failed: {exc!r}")
        return LoadedPlugin(entry_point.name, label, PluginStatus.BROKEN, f"import failed: {exc}")
    manifest = getattr(plugin, "manifest", None)
    if not isinstance(plugin, Plugin) or manifest is None:
        reason = "the entry point does not name a merchantry.plugins.spec.Plugin instance"
        logger.error("plugin_refused", entry_point=label, reason=reason)
        return LoadedPlugin(entry_point.name, label, PluginStatus.BROKEN, reason)
    if not PLUGIN_ID_RE.fullmatch(manifest.id) or manifest.id != entry_point.name:
        reason = f"manifest id {manifest.id!r} must match the entry point name and [a-z0-9_]"
        logger.error("plugin_refused", entry_point=label, reason=reason)
        return LoadedPlugin(entry_point.name, label, PluginStatus.BROKEN, reason)
    try:
        compatible = Version(core_version) in SpecifierSet(manifest.requires_core)
    except InvalidSpecifier:
        reason = f"requires_core {manifest.requires_core!r} is not a version specifier"
        logger.error("plugin_refused", plugin=manifest.id, reason=reason)
        return LoadedPlugin(manifest.id, label, PluginStatus.BROKEN, reason)
    if not compatible:
        reason = f"needs Merchantry {manifest.requires_core}; this is {core_version}"
        logger.error("plugin_refused", plugin=manifest.id, reason=reason)
        return LoadedPlugin(manifest.id, label, PluginStatus.INCOMPATIBLE, reason, plugin)
    return LoadedPlugin(manifest.id, label, PluginStatus.OK, "", plugin)


@functools.cache
def _registry() -> dict[str, LoadedPlugin]:
    found: dict[str, LoadedPlugin] = {}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        loaded = load_entry_point(entry_point)
        if loaded.id in found:
            logger.error("plugin_refused", plugin=loaded.id, reason="a plugin with this id exists")
            continue
        found[loaded.id] = loaded
    return found


def all_plugins() -> dict[str, LoadedPlugin]:
    """Return every discovered plugin by id, usable or not."""
    return dict(_registry())


def get_plugin(plugin_id: str) -> LoadedPlugin | None:
    """Return the discovered plugin ``plugin_id``, or None."""
    return _registry().get(plugin_id)


def reset_registry() -> None:
    """Forget what was discovered (tests register plugins of their own)."""
    _registry.cache_clear()
