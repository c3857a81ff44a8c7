"""
The plugins' outbox sink: every dispatched domain event goes to the
``merchantry_on_event`` hook of the plugins enabled in its shop.

Registered from :meth:`merchantry.plugins.apps.PluginsConfig.ready` (the
core cannot import the plugins app, so the app plugs itself in). A plugin
that raises fails the sink for that plugin only: the outbox retries the event
later, calling just the plugins that failed.
"""

from __future__ import annotations

from merchantry.core.events import DomainEvent, SinkFailed, register_sink

__all__ = ["SINK_NAME", "plugin_hooks_sink", "register"]

SINK_NAME = "plugins"


def plugin_hooks_sink(event: DomainEvent) -> None:
    """Deliver ``event`` to the enabled plugins' hooks; raise to retry the ones that failed."""
    # Imported here: the hooks module loads the plugin manager, which has no
    # business loading while the app registry is still being populated.
    from merchantry.plugins.hooks import dispatch_event

    failures = dispatch_event(event, plugin_ids=event.retry_only)
    if failures:
        raise SinkFailed(
            "; ".join(f"{failure.plugin_id}: {failure.error}" for failure in failures),
            retry_only=[failure.plugin_id for failure in failures],
        )


def register() -> None:
    """Register the plugins' sink with the outbox."""
    register_sink(SINK_NAME, plugin_hooks_sink)
