"""The example plugin's shipping rates: one flat price per parcel."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from merchantry.plugins.providers import Address, Money, Parcel, RateOption

__all__ = ["FlatRateShipping"]


class FlatRateShipping:
    """A :class:`~merchantry.plugins.providers.ShippingRateProvider` charging per parcel."""

    def __init__(self, *, rate_per_parcel: Decimal) -> None:
        self.rate_per_parcel = rate_per_parcel

    def rates(
        self, *, origin: Address, destination: Address, parcels: Sequence[Parcel], currency: str
    ) -> list[RateOption]:
        """Return the flat rate for ``parcels``, quoted in ``currency``."""
        if not parcels:
            raise ValueError("rates need at least one parcel")
        # The setting is one number; in a currency without cents (JPY) it is rounded.
        per_parcel = Money.rounded(self.rate_per_parcel, currency)
        domestic = origin.country == destination.country
        return [
            RateOption(
                id="flat-standard",
                name="Standard",
                price=per_parcel * len(parcels),
                carrier="example",
                service="standard",
                min_days=2 if domestic else 5,
                max_days=4 if domestic else 10,
            )
        ]
