"""
The plugin testing kit: what a plugin's own test suite needs.

- :func:`registered_plugin` makes a plugin object discovered for a test,
  without installing a distribution; :func:`plugins_enabled` enables it in
  shops without a database; :class:`SampleEvent` and :func:`sample_checkout`
  are ready-made hook inputs.
- :func:`sign_webhook` / :func:`signed_webhook` sign a webhook body the way
  providers do (HMAC-SHA256 over timestamp and body, header layout chosen).
- ``check_*`` run a provider against its interface's contract
  (:mod:`merchantry.testing.conformance`); :mod:`merchantry.testing.dummies`
  holds in-memory providers that pass them.
- :class:`FakeServer` / :func:`fake_server` (pytest-httpserver) fake the
  provider's API; ``merchantry.testing.pytest_plugin`` has the fixtures.
"""

from __future__ import annotations

from typing import Any

from merchantry.testing.conformance import (
    ConformanceError,
    check_catalog_source,
    check_fulfillment_provider,
    check_page_content_provider,
    check_payment_provider,
    check_sales_channel_connector,
    check_shipping_rate_provider,
    check_tax_provider,
)
from merchantry.testing.plugins import (
    SampleEvent,
    plugins_enabled,
    registered_plugin,
    sample_checkout,
)
from merchantry.testing.webhooks import sign_webhook, signed_webhook, webhook_body

__all__ = [
    "ConformanceError",
    "FakeServer",
    "SampleEvent",
    "check_catalog_source",
    "check_fulfillment_provider",
    "check_page_content_provider",
    "check_payment_provider",
    "check_sales_channel_connector",
    "check_shipping_rate_provider",
    "check_tax_provider",
    "fake_server",
    "plugins_enabled",
    "registered_plugin",
    "sample_checkout",
    "sign_webhook",
    "signed_webhook",
    "webhook_body",
]


def __getattr__(name: str) -> Any:
    # pytest-httpserver is a test dependency: import it only when asked for.
    if name in ("FakeServer", "fake_server"):
        from merchantry.testing import httpserver

        return getattr(httpserver, name)
    raise AttributeError(f"module 'merchantry.testing' has no attribute {name!r}")
