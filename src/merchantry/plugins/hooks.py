"""
Calling plugin hooks: only the plugins enabled in the shop, each on its own.

Every helper here calls one plugin's implementation at a time, in pluggy's
order (``tryfirst`` implementations first, ``trylast`` last, the rest last
registered first), and only for plugins enabled in the shop concerned. An
exception in one implementation is logged with the plugin's id, collected as
a :class:`HookFailure`, and never propagated: the next plugin is still
called, and checkout never breaks because of a plugin.

- :func:`dispatch_event` delivers a domain event (the outbox job calls it and
  retries the plugins that failed).
- :func:`adjust_checkout_totals` runs the totals filter chain.
- :func:`validate_checkout` collects plugins' objections to a checkout.
- :func:`call_hook` is the general form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pluggy import HookImpl
from pydantic import SecretBytes, SecretStr

from merchantry.core.logging import get_logger
from merchantry.plugins.hookspecs import HookEvent
from merchantry.plugins.providers import CheckoutProblem, CheckoutSnapshot, CheckoutTotals
from merchantry.plugins.registry import plugin_manager
from merchantry.plugins.spec import secret_fields

__all__ = [
    "CONTEXT_ARGUMENTS",
    "HookFailure",
    "HookResults",
    "adjust_checkout_totals",
    "call_hook",
    "dispatch_event",
    "enabled_plugin_ids",
    "hook_implementations",
    "validate_checkout",
]

logger = get_logger(__name__)
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4
"""Shorter secret values are not scrubbed from messages (they would match everywhere)."""


@dataclass(frozen=True, slots=True)
class HookFailure:
    """One plugin's implementation raised (or answered something unusable)."""

    plugin_id: str
    hook: str
    error: str
    """The exception's type and message, e.g. ``"TimeoutError: read timed out"``."""


@dataclass(slots=True)
class HookResults:
    """What a hook call gave: each answering plugin's result, and the failures."""

    results: list[tuple[str, Any]] = field(default_factory=list)
    failures: list[HookFailure] = field(default_factory=list)
    called: list[str] = field(default_factory=list)
    """The ids of the plugins whose implementation ran, in call order."""


def enabled_plugin_ids(shop_id: Any) -> frozenset[str]:
    """Return the ids of the plugins enabled in shop ``shop_id``."""
    # Imported here: this module is imported by code that runs before the app
    # registry is ready (e.g. plugin packages at discovery), the model is not.
    from merchantry.plugins.models import PluginInstallation

    return frozenset(PluginInstallation.objects.enabled_plugin_ids(shop_id))


def hook_implementations(hook_name: str) -> list[HookImpl]:
    """Return the usable plugins' implementations of ``hook_name``, in call order."""
    caller = getattr(plugin_manager().hook, hook_name)
    # pluggy keeps implementations in reverse call order (it calls them LIFO).
    return list(reversed(caller.get_hookimpls()))


CONTEXT_ARGUMENTS = frozenset({"installation", "settings"})
"""Arguments resolved per plugin, and only for implementations that accept them."""


def _context(impl: HookImpl, shop_id: Any) -> dict[str, Any]:
    wanted = CONTEXT_ARGUMENTS.intersection((*impl.argnames, *impl.kwargnames))
    if not wanted:
        return {}
    # Imported here, like the model above; services also imports the registry.
    from merchantry.plugins.models import PluginInstallation
    from merchantry.plugins.services import plugin_settings

    installation = PluginInstallation.objects.get(shop_id=shop_id, plugin_id=impl.plugin_name)
    context: dict[str, Any] = {"installation": installation}
    if "settings" in wanted:
        context["settings"] = plugin_settings(installation)
    return context


def _call(impl: HookImpl, kwargs: Mapping[str, Any], shop_id: Any) -> Any:
    kwargs = {**kwargs, **_context(impl, shop_id)}
    # What pluggy's own caller does: positional parameters by name, plus the
    # keyword parameters with defaults that the call provides.
    args = [kwargs[name] for name in impl.argnames]
    extra = {name: kwargs[name] for name in impl.kwargnames if name in kwargs}
    return impl.function(*args, **extra)


def _secret_strings(plugin_id: str, shop_id: Any) -> list[str]:
    """Return the plugin's secret setting values in the shop (to keep them out of logs)."""
    try:
        from merchantry.plugins.models import PluginInstallation
        from merchantry.plugins.services import plugin_settings

        installation = PluginInstallation.objects.get(shop_id=shop_id, plugin_id=plugin_id)
        settings = plugin_settings(installation)
    except Exception:  # no installation, no settings, or no database: nothing to hide
        return []
    values = []
    for name in secret_fields(type(settings)) if settings is not None else ():
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr | SecretBytes):
            value = value.get_secret_value()
        if isinstance(value, bytes):
            value = value.decode(errors="ignore")
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            values.append(value)
    return values


def _failure(
    plugin_id: str, hook: str, exc: BaseException, *, shop_id: Any, **context: Any
) -> HookFailure:
    message = f"{type(exc).__name__}: {exc}"
    secrets = [secret for secret in _secret_strings(plugin_id, shop_id) if secret in message]
    for secret in secrets:
        message = message.replace(secret, REDACTED)
    logger.error(
        "plugin_hook_failed",
        plugin=plugin_id,
        hook=hook,
        error=message,
        shop_id=shop_id,
        # A traceback repeats the message; leave it out when the message held a secret.
        exc_info=None if secrets else exc,
        **context,
    )
    return HookFailure(plugin_id, hook, message)


def _selected(hook_name: str, shop_id: Any, only: Collection[str] | None) -> Iterator[HookImpl]:
    impls = hook_implementations(hook_name)
    if not impls or shop_id is None:  # nothing to call; platform events have no shop
        return
    enabled = enabled_plugin_ids(shop_id)
    for impl in impls:
        if impl.plugin_name in enabled and (only is None or impl.plugin_name in only):
            yield impl


def call_hook(
    hook_name: str,
    *,
    shop_id: Any,
    only: Collection[str] | None = None,
    log_context: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> HookResults:
    """
    Call ``hook_name`` with ``kwargs`` on each plugin enabled in ``shop_id``
    (restricted to the ids in ``only``, if given), isolating failures.
    ``installation`` and ``settings`` are added for the implementations that
    take them.
    """
    outcome = HookResults()
    for impl in _selected(hook_name, shop_id, only):
        outcome.called.append(impl.plugin_name)
        started = time.perf_counter()
        try:
            result = _call(impl, kwargs, shop_id)
        except Exception as exc:  # one plugin must never break the caller
            outcome.failures.append(
                _failure(impl.plugin_name, hook_name, exc, shop_id=shop_id, **(log_context or {}))
            )
            continue
        logger.debug(
            "plugin_hook_called",
            plugin=impl.plugin_name,
            hook=hook_name,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if result is not None:
            outcome.results.append((impl.plugin_name, result))
    return outcome


def dispatch_event(
    event: HookEvent, *, plugin_ids: Collection[str] | None = None
) -> list[HookFailure]:
    """
    Deliver ``event`` to ``merchantry_on_event`` of every plugin enabled in
    its shop, and return the failures (empty when all succeeded). To retry,
    call again with ``plugin_ids`` set to the failed plugins only.
    """
    outcome = call_hook(
        "merchantry_on_event",
        shop_id=event.shop_id,
        only=plugin_ids,
        log_context={"event_id": event.id, "event_type": event.type},
        event=event,
    )
    _record_outcomes(event.shop_id, outcome)
    return outcome.failures


def _record_outcomes(shop_id: Any, outcome: HookResults) -> None:
    """Count each called plugin's success or failure in its installation's health."""
    # Imported here, like the model above: services load the app's models.
    from merchantry.plugins.models import PluginInstallation
    from merchantry.plugins.services import installation_record_outcome

    if not outcome.called and not outcome.failures:
        return
    errors = {failure.plugin_id: failure.error for failure in outcome.failures}
    plugin_ids = set(outcome.called) | set(errors)
    installations = dict(
        PluginInstallation.objects.filter(shop_id=shop_id, plugin_id__in=plugin_ids).values_list(
            "plugin_id", "pk"
        )
    )
    for plugin_id in sorted(plugin_ids):
        if plugin_id in installations:
            installation_record_outcome(installations[plugin_id], error=errors.get(plugin_id))


def adjust_checkout_totals(
    *,
    checkout: CheckoutSnapshot,
    totals: CheckoutTotals,
    on_failure: Callable[[HookFailure], None] | None = None,
) -> CheckoutTotals:
    """
    Run the ``merchantry_adjust_checkout_totals`` filter chain: each plugin
    gets the totals the previous one returned. A plugin that raises, or
    returns something other than :class:`CheckoutTotals` in the checkout's
    currency, is skipped (logged, and passed to ``on_failure``).
    """
    hook = "merchantry_adjust_checkout_totals"
    for impl in _selected(hook, checkout.shop_id, None):
        try:
            result = _call(impl, {"checkout": checkout, "totals": totals}, checkout.shop_id)
            if result is None:
                continue
            if not isinstance(result, CheckoutTotals):
                raise TypeError(
                    f"returned {type(result).__name__}; expected CheckoutTotals or None"
                )
            if result.currency != checkout.currency:
                raise ValueError(
                    f"returned totals in {result.currency}; the checkout is in {checkout.currency}"
                )
        except Exception as exc:  # checkout must not break because of a plugin
            failure = _failure(
                impl.plugin_name, hook, exc, shop_id=checkout.shop_id, checkout_id=checkout.id
            )
            if on_failure is not None:
                on_failure(failure)
            continue
        totals = result
    return totals


def validate_checkout(
    *, checkout: CheckoutSnapshot, on_failure: Callable[[HookFailure], None] | None = None
) -> list[CheckoutProblem]:
    """
    Return the problems plugins enabled in the checkout's shop find with it,
    each marked with the plugin's id. A plugin that raises is skipped (it
    fails open: a crashing plugin does not block every sale).
    """
    hook = "merchantry_validate_checkout"
    outcome = call_hook(
        hook, shop_id=checkout.shop_id, log_context={"checkout_id": checkout.id}, checkout=checkout
    )
    problems: list[CheckoutProblem] = []
    for plugin_id, answer in outcome.results:
        items = list(answer) if isinstance(answer, list | tuple) else [answer]
        if not all(isinstance(item, CheckoutProblem) for item in items):
            error = TypeError(f"returned {answer!r}; expected a list of CheckoutProblem")
            outcome.failures.append(
                _failure(plugin_id, hook, error, shop_id=checkout.shop_id, checkout_id=checkout.id)
            )
            continue
        problems.extend(replace(item, plugin_id=plugin_id) for item in items)
    if on_failure is not None:
        for failure in outcome.failures:
            on_failure(failure)
    return problems
