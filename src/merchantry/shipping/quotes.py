"""
Which shipping methods can ship an order to an address, and at what price.

:func:`available_methods` is the one entry point: the Store API, the admin's
rate tester and (later) checkout call it with the channel, the destination
and the lines (weights, totals, product types and tags). It reads the
channel's zones once, picks the most specific zone covering the address, and
prices each of its methods in the channel's currency. It never raises for an
order it cannot ship: the answer lists the methods that can, cheapest first,
and says why the others cannot (``unavailable``) and, when none can, why
(``reasons``), so a storefront can tell the shopper.

:func:`lines_from_variants` builds the lines from variant ids and quantities
(weights from the catalog, prices from the channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch

from merchantry.catalog.models import Product, ProductVariant, VariantChannelPrice
from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.core.money import Money
from merchantry.core.validators import is_country
from merchantry.inventory.models import ChannelLocation, StockLocation
from merchantry.plugins.providers import Address, Parcel
from merchantry.shipping import geo
from merchantry.shipping.carriers import ask_carriers
from merchantry.shipping.models import ShippingMethod, ShippingZone
from merchantry.shipping.rates import RateType, Refusal, clean_amount, compute_rate, parse_rates
from merchantry.tenancy.models import Channel

__all__ = [
    "MAX_LINES",
    "AvailableMethod",
    "ShippingLine",
    "ShippingQuote",
    "UnavailableMethod",
    "address_from_input",
    "available_methods",
    "lines_from_variants",
    "location_address",
]

MAX_LINES = 250


@dataclass(frozen=True, slots=True)
class ShippingLine:
    """One line of the order to ship: ``total`` is the line's price in the channel currency."""

    quantity: int
    total: Decimal
    unit_weight_grams: int = 0
    product_type: str = ""
    tags: tuple[str, ...] = ()
    variant_id: int | None = None
    sku: str = ""


@dataclass(frozen=True, slots=True)
class AvailableMethod:
    """A way to ship this order, priced. ``id`` is what a checkout stores to name it."""

    id: str
    method_id: int
    zone_id: int
    name: str
    description: str
    price: Money
    min_days: int | None = None
    max_days: int | None = None
    carrier: str = ""
    service: str = ""
    pickup: bool = False
    pickup_locations: tuple[StockLocation, ...] = ()
    position: int = 0


@dataclass(frozen=True, slots=True)
class UnavailableMethod:
    """A method of the zone that cannot ship this order, and why."""

    method_id: int
    name: str
    code: str
    message: str


@dataclass(slots=True)
class ShippingQuote:
    """The answer of :func:`available_methods`."""

    currency: str
    weight_grams: int
    subtotal: Money
    zone: ShippingZone | None = None
    methods: list[AvailableMethod] = field(default_factory=list)
    unavailable: list[UnavailableMethod] = field(default_factory=list)
    reasons: list[Refusal] = field(default_factory=list)


# -- inputs -------------------------------------------------------------------------------


def address_from_input(
    *,
    country: str,
    region: str = "",
    postal_code: str = "",
    city: str = "",
    line1: str = "",
    line2: str = "",
    loc: tuple[str | int, ...] = ("address",),
) -> Address:
    """Return a destination :class:`Address`, or raise a 422 for an unknown country or region."""
    country = country.strip().upper()
    if not is_country(country):
        raise ValidationFailed(
            errors=[
                FieldError((*loc, "country"), "Not an ISO 3166-1 country code.", "unknown_country")
            ]
        )
    code = geo.normalize_region(country, region)
    if code and (not geo.is_subdivision(code) or not code.startswith(f"{country}-")):
        raise ValidationFailed(
            errors=[
                FieldError(
                    (*loc, "region"),
                    f"Not an ISO 3166-2 subdivision of {country} (e.g. {country}-XX).",
                    "unknown_subdivision",
                )
            ]
        )
    return Address(
        country=country,
        region=code,
        postal_code=postal_code.strip(),
        city=city.strip(),
        line1=line1.strip(),
        line2=line2.strip(),
    )


def location_address(location: StockLocation) -> Address:
    """Return a stock location's address, as providers take it."""
    return Address(
        country=location.country,
        postal_code=location.postal_code,
        region=location.subdivision,
        city=location.city,
        line1=location.line1,
        line2=location.line2,
        name=location.name,
        phone=location.phone,
    )


def lines_from_variants(
    *, channel: Channel, items: Sequence[tuple[int | None, int]]
) -> list[ShippingLine]:
    """
    Return shipping lines for ``(variant_id, quantity)`` pairs: weights from
    the catalog, prices from the channel. A variant that is not for sale on
    the channel (another shop's, unpublished, unpriced) is a 422 at
    ``("lines", index, "variant_id")``. Two queries whatever the number of lines.
    """
    ids = {pk for pk, _ in items if pk is not None}
    variants = {
        v.pk: v
        for v in ProductVariant.objects.filter(
            shop_id=channel.shop_id,
            pk__in=ids,
            product__in=Product.objects.visible_in(channel),
        )
        .select_related("product")
        .prefetch_related(
            Prefetch(
                "prices",
                queryset=VariantChannelPrice.objects.filter(channel=channel),
                to_attr="channel_prices",
            )
        )
    }
    lines = []
    errors = []
    for index, (variant_id, quantity) in enumerate(items):
        variant = variants.get(variant_id) if variant_id is not None else None
        if variant is None or not variant.channel_prices:
            errors.append(
                FieldError(
                    ("lines", index, "variant_id"),
                    "No such variant for sale on this channel.",
                    "not_found",
                )
            )
            continue
        price = variant.channel_prices[0]
        product = variant.product
        lines.append(
            ShippingLine(
                quantity=quantity,
                total=price.price * quantity,
                unit_weight_grams=variant.weight_grams or 0,
                product_type=product.product_type,
                tags=tuple(product.tags or ()),
                variant_id=variant.pk,
                sku=variant.sku or "",
            )
        )
    if errors:
        raise ValidationFailed("Some lines cannot be shipped; see errors.", errors=errors)
    return lines


# -- the quote ----------------------------------------------------------------------------


def _zones(channel: Channel) -> list[ShippingZone]:
    methods = (
        ShippingMethod.objects.filter(is_active=True)
        .select_related("origin")
        .prefetch_related(
            "channels",
            Prefetch(
                "pickup_locations",
                queryset=StockLocation.objects.order_by("name", "pk"),
            ),
        )
        .order_by("position", "name", "pk")
    )
    return list(
        ShippingZone.objects.filter(shop_id=channel.shop_id, channels=channel)
        .prefetch_related(Prefetch("methods", queryset=methods))
        .order_by("pk")
    )


def _best_zone(zones: Sequence[ShippingZone], address: Address) -> ShippingZone | None:
    postal = geo.normalize_postal_code(address.postal_code)
    region = geo.normalize_region(address.country, address.region)
    best: tuple[tuple[int, int, int, int], ShippingZone] | None = None
    for zone in zones:
        area = geo.ZoneArea(
            tuple(zone.countries), tuple(zone.subdivisions), tuple(zone.postal_codes)
        )
        level = geo.match_level(area, country=address.country, region=region, postal_code=postal)
        if not level:
            continue
        # Between zones that cover the address by postal code, the narrower
        # pattern wins: an exact code over a range, a short range over a
        # long one; then the zone of fewer countries, then the older zone.
        breadth = geo.postal_code_breadth(area, postal) if level == geo.MATCH_POSTAL_CODE else 0
        rank = (level, -(breadth or 0), -len(zone.countries), -zone.pk)
        if best is None or rank > best[0]:
            best = (rank, zone)
    return best[1] if best else None


def _limits(method: ShippingMethod, lines: Sequence[ShippingLine], weight: int) -> Refusal | None:
    if method.max_weight_grams is not None and weight > method.max_weight_grams:
        return Refusal(
            "over_max_weight",
            f"The order weighs {weight} g; this method takes up to {method.max_weight_grams} g.",
        )
    types = {t.lower() for t in method.excluded_product_types}
    tags = {t.lower() for t in method.excluded_tags}
    for line in lines:
        if line.product_type and line.product_type.lower() in types:
            return Refusal(
                "excluded_product_type",
                f"This method does not ship products of type {line.product_type!r}.",
            )
        excluded = sorted(tags & {t.lower() for t in line.tags})
        if excluded:
            return Refusal(
                "excluded_tag", f"This method does not ship products tagged {excluded[0]!r}."
            )
    return None


def _origin(method: ShippingMethod, channel: Channel) -> StockLocation | None:
    origin = method.origin
    if origin is not None and origin.is_active and origin.can_ship:
        return origin
    link = (
        ChannelLocation.objects.filter(
            channel=channel, location__is_active=True, location__can_ship=True
        )
        .select_related("location")
        .order_by("position", "pk")
        .first()
    )
    if link is not None:
        return link.location
    return (
        StockLocation.objects.for_shop(channel.shop_id)
        .filter(is_active=True, can_ship=True)
        .order_by("name", "pk")
        .first()
    )


def _carrier_methods(
    method: ShippingMethod,
    channel: Channel,
    address: Address,
    weight: int,
) -> list[AvailableMethod] | Refusal:
    if weight <= 0:
        return Refusal("no_weight", "Carrier rates need the weight of the items.")
    origin = _origin(method, channel)
    if origin is None:
        return Refusal("no_origin", "No active stock location ships this order.")
    answers = ask_carriers(
        shop_id=channel.shop_id,
        plugin_id=method.carrier_plugin,
        origin=location_address(origin),
        destination=address,
        parcels=[Parcel(weight_grams=weight)],
        currency=channel.currency,
    )
    found = []
    for answer in answers:
        for option in answer.options:
            if method.carrier_service and method.carrier_service not in (option.service, option.id):
                continue
            found.append(
                AvailableMethod(
                    id=f"{method.pk}:{answer.plugin_id}:{option.id}",
                    method_id=method.pk,
                    zone_id=method.zone_id,
                    name=f"{method.name}: {option.name}" if option.name else method.name,
                    description=method.description,
                    price=option.price,
                    min_days=option.min_days if option.min_days is not None else method.min_days,
                    max_days=option.max_days if option.max_days is not None else method.max_days,
                    carrier=option.carrier,
                    service=option.service,
                    position=method.position,
                )
            )
    if found:
        return found
    refusals = [a.refusal for a in answers if a.refusal is not None]
    if refusals:
        return refusals[0]
    return Refusal("carrier_no_rates", f"No option with service {method.carrier_service!r}.")


def _price(
    method: ShippingMethod,
    channel: Channel,
    address: Address,
    lines: Sequence[ShippingLine],
    weight: int,
    subtotal: Decimal,
) -> list[AvailableMethod] | Refusal:
    refusal = _limits(method, lines, weight)
    if refusal is not None:
        return refusal
    if method.rate_type == RateType.CARRIER:
        return _carrier_methods(method, channel, address, weight)
    pickup_locations: tuple[StockLocation, ...] = ()
    if method.pickup_only:
        pickup_locations = tuple(
            loc for loc in method.pickup_locations.all() if loc.is_active and loc.can_pickup
        )
        if not pickup_locations:
            return Refusal("no_pickup_location", "No location is open for pickup.")
    price = compute_rate(
        method.rate_type,
        parse_rates(method.rates),
        currency=channel.currency,
        weight_grams=weight,
        subtotal=subtotal,
    )
    if isinstance(price, Refusal):
        return price
    return [
        AvailableMethod(
            id=str(method.pk),
            method_id=method.pk,
            zone_id=method.zone_id,
            name=method.name,
            description=method.description,
            price=price,
            min_days=method.min_days,
            max_days=method.max_days,
            pickup=method.pickup_only,
            pickup_locations=pickup_locations,
            position=method.position,
        )
    ]


def _sort_key(option: AvailableMethod) -> tuple[Any, ...]:
    return (option.price.amount, option.position, option.name, option.method_id, option.id)


def _where(address: Address) -> str:
    parts = [address.country, address.region, address.postal_code]
    return " ".join(p for p in parts if p)


def available_methods(
    *,
    channel: Channel,
    address: Address,
    lines: Sequence[ShippingLine],
    discounted_subtotal: Decimal | str | None = None,
) -> ShippingQuote:
    """
    Return the methods that can ship ``lines`` to ``address`` on ``channel``,
    priced in the channel's currency, cheapest first (then by position, name
    and id), with the reasons for everything left out.

    ``discounted_subtotal`` is the order's subtotal after discounts; the
    subtotal rules (tiers, free from a threshold) compare it, and the sum of
    the lines' totals when it is not given. Raises :class:`ValidationFailed`
    only for invalid input (a quantity below 1, a malformed amount).
    """
    currency = channel.currency
    if len(lines) > MAX_LINES:
        raise ValidationFailed(errors=[FieldError(("lines",), f"At most {MAX_LINES}.", "too_many")])
    for index, line in enumerate(lines):
        if line.quantity < 1:
            raise ValidationFailed(
                errors=[FieldError(("lines", index, "quantity"), "At least 1.", "too_small")]
            )
    if discounted_subtotal is not None:
        subtotal = clean_amount(discounted_subtotal, currency, ("discounted_subtotal",))
    else:
        subtotal = sum((line.total for line in lines), Decimal(0))
    weight = sum(max(line.unit_weight_grams, 0) * line.quantity for line in lines)
    quote = ShippingQuote(
        currency=currency, weight_grams=weight, subtotal=Money.rounded(subtotal, currency)
    )
    zones = _zones(channel)
    if not zones:
        quote.reasons.append(Refusal("no_zones", "This channel has no shipping zones yet."))
        return quote
    zone = _best_zone(zones, address)
    if zone is None:
        quote.reasons.append(
            Refusal("no_zone", f"No shipping zone of this channel covers {_where(address)}.")
        )
        return quote
    quote.zone = zone
    methods = [
        m
        for m in zone.methods.all()
        if not m.channels.all() or any(c.pk == channel.pk for c in m.channels.all())
    ]
    if not methods:
        quote.reasons.append(
            Refusal("no_methods", f"The zone {zone.name!r} has no method for this channel.")
        )
        return quote
    for method in methods:
        result = _price(method, channel, address, lines, weight, quote.subtotal.amount)
        if isinstance(result, Refusal):
            quote.unavailable.append(
                UnavailableMethod(method.pk, method.name, result.code, result.message)
            )
        else:
            quote.methods.extend(result)
    quote.methods.sort(key=_sort_key)
    if not quote.methods:
        quote.reasons.append(
            Refusal("no_method_available", "No method of the zone can ship this order.")
        )
    return quote
