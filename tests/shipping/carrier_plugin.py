"""
A shipping-rate plugin for the tests: quotes two options per route, priced by
weight, in any currency; :class:`CarrierState` makes it fail on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from merchantry.plugins.providers import (
    Address,
    Money,
    Parcel,
    ProviderRejected,
    ProviderUnavailable,
    RateOption,
)
from merchantry.plugins.spec import Plugin, PluginManifest, ProviderKind


class CarrierState:
    """What the next quotes do: ``ok``, ``unavailable``, ``rejected`` or ``crash``."""

    mode: ClassVar[str] = "ok"
    calls: ClassVar[list[dict[str, Any]]] = []


class TestCarrierRates:
    """Ground at 1 per kg started, Express at 3 per kg started; 2 and 1 days."""

    def rates(
        self, *, origin: Address, destination: Address, parcels: Sequence[Parcel], currency: str
    ) -> list[RateOption]:
        if not parcels:
            raise ValueError("rates need at least one parcel")
        CarrierState.calls.append(
            {"origin": origin, "destination": destination, "parcels": list(parcels)}
        )
        if CarrierState.mode == "unavailable":
            raise ProviderUnavailable("carrier API timed out", retry_after=30)
        if CarrierState.mode == "rejected":
            raise ProviderRejected("no service to this destination", code="route")
        if CarrierState.mode == "crash":
            raise RuntimeError("the SDK blew up")
        kilos = sum(-(-p.weight_grams // 1000) for p in parcels)
        return [
            RateOption(
                id="ground",
                name="Ground",
                price=Money.rounded(Decimal(kilos), currency),
                carrier="testcarrier",
                service="ground",
                min_days=2,
                max_days=5,
            ),
            RateOption(
                id="express",
                name="Express",
                price=Money.rounded(Decimal(3 * kilos), currency),
                carrier="testcarrier",
                service="express",
                min_days=1,
                max_days=1,
            ),
        ]


class TestCarrierPlugin(Plugin):
    manifest = PluginManifest(
        id="test_carrier",
        name="Test carrier",
        version="1.0.0",
        requires_core=">=0.1",
        providers=(ProviderKind.SHIPPING_RATES,),
    )

    def provider(self, kind: ProviderKind, *, installation: Any, settings: Any) -> Any:
        if kind == ProviderKind.SHIPPING_RATES:
            return TestCarrierRates()
        return super().provider(kind, installation=installation, settings=settings)


class NoRatesPlugin(Plugin):
    """A plugin that provides no shipping rates."""

    manifest = PluginManifest(
        id="not_a_carrier", name="Not a carrier", version="1.0.0", requires_core=">=0.1"
    )
