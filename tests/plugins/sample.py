"""
Plugin objects that entry points in the registry and hook tests name
(``tests.plugins.sample:<attribute>``), one per way a plugin can be good or bad.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from merchantry.plugins.hookspecs import hookimpl
from merchantry.plugins.spec import Plugin, PluginManifest


def manifest(plugin_id: str, *, requires_core: str = ">=0.1,<1.0") -> PluginManifest:
    return PluginManifest(
        id=plugin_id, name=plugin_id.title(), version="2.3.4", requires_core=requires_core
    )


class SamplePlugin(Plugin):
    manifest = manifest("sample")

    @hookimpl
    def merchantry_on_event(self, event: Any) -> None:
        return None


class FuturePlugin(Plugin):
    manifest = manifest("future", requires_core=">=99.0")


class NonsenseVersionPlugin(Plugin):
    manifest = manifest("nonsense", requires_core="the latest")


class TypoHookPlugin(Plugin):
    manifest = manifest("typo")

    @hookimpl
    def merchantry_on_evnt(self, event: Any) -> None:
        return None


class UnknownArgumentPlugin(Plugin):
    manifest = manifest("unknown_arg")

    @hookimpl
    def merchantry_on_event(self, event: Any, order: Any) -> None:
        return None


class WrapperPlugin(Plugin):
    manifest = manifest("wrapper")

    @hookimpl(wrapper=True)
    def merchantry_on_event(self, event: Any) -> Iterator[None]:
        return (yield)


plugin = SamplePlugin()
future = FuturePlugin()
nonsense = NonsenseVersionPlugin()
typo = TypoHookPlugin()
unknown_arg = UnknownArgumentPlugin()
wrapper = WrapperPlugin()
not_a_plugin = object()
