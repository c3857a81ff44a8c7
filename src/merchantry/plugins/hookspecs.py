"""
The hooks a plugin may implement, as pluggy specifications.

A plugin implements a hook by defining a method of the same name on its
:class:`~merchantry.plugins.spec.Plugin` object, marked with :data:`hookimpl`::

    from merchantry.plugins.hookspecs import hookimpl

    class AcmePlugin(Plugin):
        @hookimpl
        def merchantry_on_event(self, event):
            ...

Every hook is called for one shop, and may also take ``installation`` (the
plugin's :class:`~merchantry.plugins.models.PluginInstallation` in that shop)
and ``settings`` (its decrypted settings, an instance of the manifest's
``settings_model``); accept them only when needed, since they cost a query
and a decryption.

Hook names come in families, like Datasette's: ``merchantry_on_*`` react to
something that happened, ``merchantry_adjust_*`` filter a value, and
``merchantry_validate_*`` may object to an action. Merchantry calls hooks
with keyword arguments only; an implementation may accept any subset of a
spec's arguments, so a spec can gain arguments without breaking plugins.

Each plugin's implementation is called on its own, only for the shops where
the plugin is enabled, and an exception in one is logged and isolated (see
:mod:`merchantry.plugins.hooks`). For that reason wrapper implementations
(``wrapper=True`` or ``hookwrapper=True``) are refused when a plugin loads.
Every hook here has a heading in ``docs/plugins.md``; a test enforces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from merchantry.plugins.models import PluginInstallation
    from merchantry.plugins.providers import (
        CheckoutProblem,
        CheckoutSnapshot,
        CheckoutTotals,
    )

__all__ = ["PROJECT", "HookEvent", "hookimpl", "hookspec"]

PROJECT = "merchantry"
hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks a hook specification (used only in this module)."""
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's hook implementation; accepts ``tryfirst=True`` or ``trylast=True``."""


@runtime_checkable
class HookEvent(Protocol):
    """What ``merchantry_on_event`` receives: one domain event from the outbox."""

    @property
    def id(self) -> Any:
        """The event's id, unique in the installation; the same on a retried delivery."""

    @property
    def type(self) -> str:
        """Dotted event name, e.g. ``"order.placed"``, ``"product.changed"``."""

    @property
    def shop_id(self) -> Any:
        """The shop the event belongs to."""

    @property
    def payload(self) -> Mapping[str, Any]:
        """JSON-compatible data describing the change (ids, not whole rows)."""

    @property
    def occurred_at(self) -> datetime:
        """When the change was committed; order by it, not by arrival."""


# -- merchantry_on_*: react to what happened ------------------------------------------


@hookspec
def merchantry_on_event(
    event: HookEvent, installation: PluginInstallation, settings: BaseModel | None
) -> None:
    """React to a domain event of a shop where the plugin is enabled (runs in a job)."""


# -- merchantry_adjust_*: filters --------------------------------------------------


@hookspec
def merchantry_adjust_checkout_totals(
    checkout: CheckoutSnapshot,
    totals: CheckoutTotals,
    installation: PluginInstallation,
    settings: BaseModel | None,
) -> CheckoutTotals | None:
    """Return changed checkout totals, or None to leave ``totals`` as they are."""


# -- merchantry_validate_*: objections -------------------------------------------


@hookspec
def merchantry_validate_checkout(
    checkout: CheckoutSnapshot, installation: PluginInstallation, settings: BaseModel | None
) -> list[CheckoutProblem] | None:
    """Return the reasons the checkout may not be completed, or None if there are none."""
