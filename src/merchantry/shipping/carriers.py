"""
Carrier-calculated rates: the seam between shipping methods and the plugins
that implement :class:`~merchantry.plugins.providers.ShippingRateProvider`
(Shippo, a carrier's own API, a test double).

A carrier-calculated method names a plugin, or none to ask every plugin
enabled in the shop whose manifest provides ``shipping_rates``. Each plugin
is asked on its own; whatever goes wrong with one (it is not enabled, not
configured, unavailable, or it raises) becomes a :class:`Refusal` for that
plugin, logged and counted in the installation's health, never an error of
the request: checkout must not break because a carrier is down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from merchantry.core.errors import MerchantryError
from merchantry.core.logging import get_logger
from merchantry.plugins import registry
from merchantry.plugins.configuration import plugin_settings
from merchantry.plugins.models import PluginInstallation
from merchantry.plugins.providers import (
    Address,
    Parcel,
    ProviderRejected,
    ProviderUnavailable,
    RateOption,
    ShippingRateProvider,
)
from merchantry.plugins.services import installation_record_outcome
from merchantry.plugins.spec import ProviderKind
from merchantry.shipping.rates import Refusal

__all__ = ["CarrierAnswer", "ask_carriers", "provides_shipping_rates", "rate_plugin_ids"]

logger = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CarrierAnswer:
    """One plugin's answer: its options, or why it gave none."""

    plugin_id: str
    options: tuple[RateOption, ...] = ()
    refusal: Refusal | None = None


def provides_shipping_rates(plugin_id: str) -> bool:
    """Return whether ``plugin_id`` is a usable plugin that provides shipping rates."""
    plugin = registry.usable_plugin(plugin_id)
    return plugin is not None and ProviderKind.SHIPPING_RATES in plugin.manifest.providers


def rate_plugin_ids(shop_id: int) -> list[str]:
    """Return, in id order, the plugins enabled in the shop that provide shipping rates."""
    enabled = PluginInstallation.objects.enabled_plugin_ids(shop_id)
    return sorted(pid for pid in enabled if provides_shipping_rates(pid))


def _ask(
    installation: PluginInstallation,
    *,
    origin: Address,
    destination: Address,
    parcels: Sequence[Parcel],
    currency: str,
) -> CarrierAnswer:
    plugin_id = installation.plugin_id
    plugin = registry.usable_plugin(plugin_id)
    if plugin is None or ProviderKind.SHIPPING_RATES not in plugin.manifest.providers:
        return CarrierAnswer(
            plugin_id,
            refusal=Refusal("carrier_unavailable", f"{plugin_id} cannot price shipping here."),
        )
    try:
        settings = plugin_settings(installation)
        provider = plugin.provider(
            ProviderKind.SHIPPING_RATES, installation=installation, settings=settings
        )
        if not isinstance(provider, ShippingRateProvider):
            raise TypeError("provider() did not return a ShippingRateProvider")
        options = provider.rates(
            origin=origin, destination=destination, parcels=list(parcels), currency=currency
        )
    except MerchantryError as exc:  # not enabled, not configured
        return CarrierAnswer(
            plugin_id, refusal=Refusal("carrier_unavailable", f"{plugin_id}: {exc.detail}")
        )
    except ProviderUnavailable as exc:
        installation_record_outcome(installation.pk, error=f"rates: {exc.message}")
        logger.warning("shipping_rates_unavailable", plugin=plugin_id, error=exc.message)
        return CarrierAnswer(
            plugin_id,
            refusal=Refusal(
                "carrier_unavailable", f"{plugin_id} could not be reached; try again shortly."
            ),
        )
    except ProviderRejected as exc:
        installation_record_outcome(installation.pk)
        return CarrierAnswer(
            plugin_id, refusal=Refusal("carrier_rejected", f"{plugin_id}: {exc.message}")
        )
    except Exception as exc:  # a plugin bug must not break checkout
        installation_record_outcome(installation.pk, error=f"rates: {type(exc).__name__}")
        logger.exception("shipping_rates_failed", plugin=plugin_id)
        return CarrierAnswer(
            plugin_id, refusal=Refusal("carrier_error", f"{plugin_id} failed to price shipping.")
        )
    installation_record_outcome(installation.pk)
    valid = tuple(o for o in options if isinstance(o, RateOption) and o.price.currency == currency)
    if len(valid) != len(options):
        logger.warning(
            "shipping_rates_dropped", plugin=plugin_id, dropped=len(options) - len(valid)
        )
    if not valid:
        return CarrierAnswer(
            plugin_id, refusal=Refusal("carrier_no_rates", f"{plugin_id} offers no rate here.")
        )
    return CarrierAnswer(plugin_id, options=valid)


def ask_carriers(
    *,
    shop_id: int,
    plugin_id: str,
    origin: Address,
    destination: Address,
    parcels: Sequence[Parcel],
    currency: str,
) -> list[CarrierAnswer]:
    """
    Ask ``plugin_id`` (or, when empty, every enabled shipping-rate plugin)
    for rates in ``currency``; return one answer per plugin asked.
    """
    installations = PluginInstallation.objects.for_shop(shop_id).enabled().order_by("plugin_id")
    if plugin_id:
        installations = installations.filter(plugin_id=plugin_id)
    else:
        wanted = rate_plugin_ids(shop_id)
        installations = installations.filter(plugin_id__in=wanted)
    answers = [
        _ask(i, origin=origin, destination=destination, parcels=parcels, currency=currency)
        for i in installations
    ]
    if not answers:
        name = plugin_id or "A shipping-rate plugin"
        answers.append(
            CarrierAnswer(
                plugin_id,
                refusal=Refusal("carrier_not_enabled", f"{name} is not enabled in this shop."),
            )
        )
    return answers
