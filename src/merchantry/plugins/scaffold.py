"""
``merchantry plugin new``: write a new plugin package that works as generated.

The package has a ``pyproject.toml`` registering the ``merchantry.plugins``
entry point, a manifest, a settings model with a secret field, a shipping
rate provider, an event hook, and tests that use :mod:`merchantry.testing`
(run them with ``pytest`` inside the package's folder).
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from packaging.version import Version

from merchantry import __version__

__all__ = ["NAME_RE", "ScaffoldError", "plugin_names", "scaffold_plugin"]

NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_ID_LENGTH = 50


class ScaffoldError(ValueError):
    """The plugin cannot be generated as asked (bad name, folder in the way)."""


def plugin_names(name: str) -> dict[str, str]:
    """Return the names derived from ``name`` (e.g. ``acme-rates``)."""
    if not NAME_RE.fullmatch(name) or len(name) > MAX_ID_LENGTH or len(name) < 2:
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use 2-50 lowercase letters and digits, "
            "words separated by '-' or '_', starting with a letter (e.g. acme-rates)."
        )
    plugin_id = name.replace("-", "_")
    words = plugin_id.split("_")
    version = Version(__version__)
    return {
        "plugin_id": plugin_id,
        "dist": f"merchantry-{plugin_id.replace('_', '-')}",
        "package": f"merchantry_{plugin_id}",
        "class_name": "".join(word.capitalize() for word in words) + "Plugin",
        "title": " ".join(word.capitalize() for word in words),
        "requires_core": f">={version.major}.{version.minor},<{version.major + 1}.0",
    }


def scaffold_plugin(name: str, directory: Path) -> Path:
    """Write plugin ``name`` into a new folder under ``directory`` and return it."""
    names = plugin_names(name)
    root = directory / names["dist"]
    if root.exists() and any(root.iterdir()):
        raise ScaffoldError(f"{root} exists and is not empty; choose another --dir.")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{names['package']}/__init__.py": INIT,
        f"src/{names['package']}/integration.py": INTEGRATION,
        "tests/__init__.py": "",
        "tests/conftest.py": CONFTEST,
        "tests/test_plugin.py": TESTS,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(names), encoding="utf-8")
    return root


PYPROJECT = """\
[project]
name = "${dist}"
version = "0.1.0"
description = "${title} for Merchantry."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["merchantry${requires_core}"]

[project.optional-dependencies]
test = ["pytest>=8.3", "pytest-httpserver>=1.1"]

# How Merchantry finds the plugin: the name is the plugin id.
[project.entry-points."merchantry.plugins"]
${plugin_id} = "${package}:plugin"

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/${package}"]

[tool.pytest.ini_options]
pythonpath = ["src"]
testpaths = ["tests"]
addopts = "-p no:cacheprovider"

[tool.ruff]
line-length = 100
src = ["src", "tests"]

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]
"""

README = """\
# ${title}

A [Merchantry](https://github.com/) plugin: flat shipping rates per parcel,
and a hook that notices placed orders.

    pip install -e '.[test]'     # into the environment that runs Merchantry
    pytest                       # the tests use merchantry.testing
    merchantry plugins list      # shows ${plugin_id} as ok

Then install and configure it in a shop from the admin (Plugins) or the Admin
API. See Merchantry's plugin development guide (docs/plugins.md) for every
provider interface and hook, webhooks, and publishing.
"""

INIT = '''\
"""${title}: a Merchantry plugin."""

from ${package}.integration import ${class_name}, Settings

__all__ = ["${class_name}", "Settings", "plugin"]

plugin = ${class_name}()
"""The object the merchantry.plugins entry point names."""
'''

INTEGRATION = '''\
"""The ${title} plugin: manifest, settings, shipping rates and an event hook."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import structlog
from merchantry.plugins.hookspecs import HookEvent, hookimpl
from merchantry.plugins.providers import Address, Money, Parcel, RateOption
from merchantry.plugins.spec import HealthReport, Plugin, PluginManifest, ProviderKind
from pydantic import BaseModel, ConfigDict, Field, SecretStr

logger = structlog.get_logger(__name__)
ORDER_PLACED = "${plugin_id}_order_placed"
"""The log line the event hook writes for each placed order."""


class Settings(BaseModel):
    """A shop's settings for ${title}; secret fields are encrypted at rest."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=8, json_schema_extra={"secret": True})
    rate_per_parcel: Decimal = Field(default=Decimal("5.00"), ge=0, decimal_places=3)


class Rates:
    """A ShippingRateProvider: one price per parcel."""

    def __init__(self, *, rate_per_parcel: Decimal) -> None:
        self.rate_per_parcel = rate_per_parcel

    def rates(
        self, *, origin: Address, destination: Address, parcels: Sequence[Parcel], currency: str
    ) -> list[RateOption]:
        if not parcels:
            raise ValueError("rates need at least one parcel")
        price = Money.rounded(self.rate_per_parcel, currency) * len(parcels)
        option = RateOption(id="standard", name="Standard", price=price, min_days=2, max_days=5)
        return [option]


class ${class_name}(Plugin):
    manifest = PluginManifest(
        id="${plugin_id}",
        name="${title}",
        version="0.1.0",
        requires_core="${requires_core}",
        description="Flat shipping rates per parcel.",
        settings_model=Settings,
        providers=(ProviderKind.SHIPPING_RATES,),
    )

    def provider(self, kind: ProviderKind, *, installation: Any, settings: Any) -> Any:
        if kind == ProviderKind.SHIPPING_RATES:
            return Rates(rate_per_parcel=settings.rate_per_parcel)
        return super().provider(kind, installation=installation, settings=settings)

    def health(self, *, installation: Any, settings: Any) -> HealthReport:
        if settings is None:
            return HealthReport(ok=False, detail="Not configured.")
        return HealthReport(ok=True, detail="Configured.")

    @hookimpl
    def merchantry_on_event(self, event: HookEvent) -> None:
        # Hooks run in the outbox job: keep them quick, and hand slow work
        # (calls to your service) to a job of your own.
        if event.type == "order.placed":
            logger.info(ORDER_PLACED, event_id=event.id, shop_id=event.shop_id)
'''

CONFTEST = """\
pytest_plugins = ["merchantry.testing.pytest_plugin"]
"""

TESTS = """\
from decimal import Decimal

from merchantry.plugins.hooks import dispatch_event
from merchantry.plugins.providers import Address, Money, Parcel
from merchantry.plugins.registry import PluginStatus, check_plugin
from merchantry.plugins.spec import ProviderKind, secret_fields
from merchantry.testing import SampleEvent, check_shipping_rate_provider, plugins_enabled
from structlog.testing import capture_logs

from ${package} import Settings, plugin
from ${package}.integration import ORDER_PLACED

SETTINGS = Settings(api_key="test_key_123", rate_per_parcel=Decimal("5.00"))
PARCEL = Parcel(weight_grams=500)
US = Address(country="US", postal_code="10001")
FR = Address(country="FR", postal_code="75001")


def test_merchantry_accepts_the_plugin():
    loaded = check_plugin(plugin, name="${plugin_id}", source="tests")

    assert loaded.status == PluginStatus.OK, loaded.reason


def test_the_api_key_is_a_secret_setting():
    assert secret_fields(Settings) == {"api_key"}


def test_rates_follow_the_shipping_rate_contract():
    provider = plugin.provider(ProviderKind.SHIPPING_RATES, installation=None, settings=SETTINGS)

    check_shipping_rate_provider(
        provider, origin=US, destination=FR, parcels=[PARCEL], currency="EUR"
    )


def test_each_parcel_costs_the_rate():
    provider = plugin.provider(ProviderKind.SHIPPING_RATES, installation=None, settings=SETTINGS)

    options = provider.rates(origin=US, destination=US, parcels=[PARCEL] * 3, currency="USD")

    assert [option.price for option in options] == [Money(Decimal("15.00"), "USD")]


def test_a_placed_order_reaches_the_hook(register_plugin):
    register_plugin(plugin)

    with plugins_enabled("${plugin_id}"), capture_logs() as logs:
        failures = dispatch_event(SampleEvent(type="order.placed", shop_id=1, id=7))

    assert failures == []
    assert [log for log in logs if log["event"] == ORDER_PLACED] == [
        {"event": ORDER_PLACED, "event_id": 7, "shop_id": 1, "log_level": "info"}
    ]
"""
