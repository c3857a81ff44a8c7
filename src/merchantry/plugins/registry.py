"""
Finding plugins: every ``merchantry.plugins`` entry point, checked once.

A plugin whose ``requires_core`` does not admit this Merchantry version, or
that fails to import, or whose hook implementations do not match
:mod:`merchantry.plugins.hookspecs`, is refused with one clear log line and
listed with its reason; the platform starts anyway.

The usable plugins are registered, under their ids, in one pluggy
:class:`~pluggy.PluginManager` (:func:`plugin_manager`); refused ones never
are, so none of their code runs. Tests add plugins without installing a
distribution through :func:`add_plugin` (``merchantry.testing.registered_plugin``
wraps it).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from merchantry import __version__
from merchantry.core.logging import get_logger
from merchantry.plugins import hookspecs
from merchantry.plugins.spec import Plugin, PluginManifest

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugin",
    "PluginStatus",
    "add_plugin",
    "all_plugins",
    "check_plugin",
    "discover_plugins",
    "get_plugin",
    "load_entry_point",
    "new_plugin_manager",
    "plugin_manager",
    "remove_plugin",
    "reset_registry",
    "usable_plugin",
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

    @property
    def manifest(self) -> PluginManifest | None:
        """Return the plugin's manifest, when its code could be imported."""
        return getattr(self.plugin, "manifest", None)


def new_plugin_manager() -> pluggy.PluginManager:
    """Return an empty PluginManager that knows Merchantry's hook specifications."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _hook_problem(plugin: Plugin, plugin_id: str) -> str:
    """Return why ``plugin``'s hook implementations are unacceptable, or ''."""
    manager = new_plugin_manager()
    try:
        manager.register(plugin, name=plugin_id)
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        return f"invalid hook implementation: {exc}"
    except Exception as exc:  # e.g. a property that raises while pluggy inspects it
        return f"hook implementations could not be read: {exc!r}"
    for caller in manager.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                # Each plugin's implementation is called on its own (failure
                # isolation), so a wrapper would only ever wrap itself.
                return f"{caller.name} is a wrapper; Merchantry hooks do not take wrappers"
    return ""


def check_plugin(
    plugin: object, *, name: str, source: str, core_version: str = __version__
) -> LoadedPlugin:
    """
    Check that ``plugin`` (exposed as ``name`` by ``source``) is a usable
    plugin for Merchantry ``core_version``, and say why not.
    """
    manifest = getattr(plugin, "manifest", None)
    if not isinstance(plugin, Plugin) or not isinstance(manifest, PluginManifest):
        reason = "the entry point does not name a merchantry.plugins.spec.Plugin instance"
        logger.error("plugin_refused", entry_point=source, reason=reason)
        return LoadedPlugin(name, source, PluginStatus.BROKEN, reason)
    if not PLUGIN_ID_RE.fullmatch(manifest.id) or manifest.id != name:
        reason = f"manifest id {manifest.id!r} must match the entry point name and [a-z0-9_]"
        logger.error("plugin_refused", entry_point=source, reason=reason)
        return LoadedPlugin(name, source, PluginStatus.BROKEN, reason)
    try:
        compatible = Version(core_version) in SpecifierSet(manifest.requires_core)
    except InvalidSpecifier:
        reason = f"requires_core {manifest.requires_core!r} is not a version specifier"
        logger.error("plugin_refused", plugin=manifest.id, reason=reason)
        return LoadedPlugin(manifest.id, source, PluginStatus.BROKEN, reason)
    if not compatible:
        reason = f"needs Merchantry {manifest.requires_core}; this is {core_version}"
        logger.error("plugin_refused", plugin=manifest.id, reason=reason)
        return LoadedPlugin(manifest.id, source, PluginStatus.INCOMPATIBLE, reason, plugin)
    problem = _hook_problem(plugin, manifest.id)
    if problem:
        logger.error("plugin_refused", plugin=manifest.id, reason=problem)
        return LoadedPlugin(manifest.id, source, PluginStatus.BROKEN, problem, plugin)
    return LoadedPlugin(manifest.id, source, PluginStatus.OK, "", plugin)


def load_entry_point(entry_point: EntryPoint, *, core_version: str = __version__) -> LoadedPlugin:
    """Import one entry point and check its manifest against ``core_version``."""
    label = f"{entry_point.name} = {entry_point.value}"
    try:
        plugin = entry_point.load()
    except Exception as exc:  # a broken plugin must not stop the platform
        logger.error("plugin_refused", entry_point=label, reason=f"import failed: {exc!r}")
        return LoadedPlugin(entry_point.name, label, PluginStatus.BROKEN, f"import failed: {exc}")
    return check_plugin(plugin, name=entry_point.name, source=label, core_version=core_version)


# Plugins added in-process (tests), by id; they take precedence over entry points.
_added: dict[str, LoadedPlugin] = {}


@functools.cache
def _discovered() -> dict[str, LoadedPlugin]:
    found: dict[str, LoadedPlugin] = {}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        loaded = load_entry_point(entry_point)
        if loaded.id in found:
            logger.error("plugin_refused", plugin=loaded.id, reason="a plugin with this id exists")
            continue
        found[loaded.id] = loaded
    return found


def _registry() -> dict[str, LoadedPlugin]:
    plugins = {**_discovered(), **_added}
    for loaded in plugins.values():
        if loaded.usable:
            _schedule(loaded)
    return plugins


def _schedule(loaded: LoadedPlugin) -> None:
    """Register a usable plugin's periodic jobs with the scheduler (idempotent)."""
    # The jobs module loads models: outside a configured Django (a plugin's
    # own unit tests) or before the models are ready, there is no scheduler;
    # the next lookup after start-up registers the jobs.
    from django.apps import apps

    if not apps.models_ready:
        return
    from merchantry.core.jobs import periodic

    for scheduled in loaded.plugin.manifest.periodic_jobs:  # type: ignore[union-attr]
        name = f"plugin:{loaded.id}:{scheduled.task.name}"
        if name not in _scheduled:
            periodic(every=scheduled.every, name=name)(scheduled.task)
            _scheduled.add(name)


_scheduled: set[str] = set()


@functools.cache
def _manager() -> pluggy.PluginManager:
    manager = new_plugin_manager()
    for plugin_id, loaded in sorted(_registry().items()):
        if loaded.usable:
            manager.register(loaded.plugin, name=plugin_id)
    return manager


def all_plugins() -> dict[str, LoadedPlugin]:
    """Return every discovered plugin by id, usable or not."""
    return dict(_registry())


def get_plugin(plugin_id: str) -> LoadedPlugin | None:
    """Return the discovered plugin ``plugin_id``, or None."""
    return _registry().get(plugin_id)


def usable_plugin(plugin_id: str) -> Plugin | None:
    """Return the plugin object of ``plugin_id`` if it may be used, else None."""
    loaded = _registry().get(plugin_id)
    return loaded.plugin if loaded is not None and loaded.usable else None


def plugin_manager() -> pluggy.PluginManager:
    """
    Return the PluginManager holding every usable plugin, registered under
    its id in id order (so, pluggy being LIFO, hooks without ``tryfirst`` or
    ``trylast`` run in reverse id order).
    """
    return _manager()


def discover_plugins() -> dict[str, LoadedPlugin]:
    """Load every plugin now and log one summary line (called at start-up)."""
    plugins = all_plugins()
    logger.info(
        "plugins_loaded",
        usable=sorted(pid for pid, p in plugins.items() if p.usable),
        refused=sorted(pid for pid, p in plugins.items() if not p.usable),
    )
    return plugins


def add_plugin(plugin: object, *, source: str = "added in-process") -> LoadedPlugin:
    """
    Check ``plugin`` and add it under its manifest id, replacing a discovered
    plugin with that id; for tests (see ``merchantry.testing.registered_plugin``).
    """
    plugin_id = getattr(getattr(plugin, "manifest", None), "id", "") or repr(plugin)
    loaded = check_plugin(plugin, name=plugin_id, source=source)
    _added[loaded.id] = loaded
    _manager.cache_clear()
    return loaded


def remove_plugin(plugin_id: str) -> None:
    """Remove a plugin added with :func:`add_plugin` (discovered ones stay)."""
    _added.pop(plugin_id, None)
    _manager.cache_clear()


def reset_registry() -> None:
    """Forget what was discovered, so the next call looks at entry points again."""
    _discovered.cache_clear()
    _manager.cache_clear()
