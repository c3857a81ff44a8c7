"""
The demo shop that ``make run`` seeds, so a new installation has something to
sign in to and call. Idempotent: running it again creates only what is
missing, and never shows a secret that was shown before.

It makes:

- the demo staff account, a platform superuser, owner of the demo shop;
- the shop ``demo`` (Demo Shop, USD, United States);
- its web channel ``web``, which browsers on http://127.0.0.1:8000 and
  http://localhost:8000 may call;
- a publishable key for the channel and a secret key with every permission,
  printed once, when they are made;
- a "Domestic" shipping zone (the United States) for the channel, with a
  flat-rate "Standard" method;
- a catalog of :data:`DEMO_PRODUCTS` products (categories, options, variants,
  prices, a generated image each) published on the channel, made once;
- the stock location ``main`` (Main warehouse) the channel sells from, with
  25 units of every variant that has no stock there yet.
"""

from __future__ import annotations

from django.db import transaction

from merchantry.accounts.models import Membership
from merchantry.accounts.services import membership_create, superuser_ensure
from merchantry.catalog.models import Product, ProductVariant
from merchantry.catalog.seed import seed_catalog
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.inventory.models import ChannelLocation, StockLevel, StockLocation
from merchantry.inventory.services import channel_locations_set, location_create, stock_receive
from merchantry.shipping.models import ShippingZone
from merchantry.shipping.services import method_create, zone_create
from merchantry.tenancy.models import ApiKey, ApiKeyKind, Channel, ChannelKind, Shop
from merchantry.tenancy.permissions import ALL
from merchantry.tenancy.services import apikey_create, channel_create, shop_create

__all__ = [
    "DEMO_CHANNEL_SLUG",
    "DEMO_LOCATION_HANDLE",
    "DEMO_ORIGINS",
    "DEMO_PRODUCTS",
    "DEMO_PUBLISHABLE_KEY_NAME",
    "DEMO_SECRET_KEY_NAME",
    "DEMO_SHOP_SLUG",
    "DEMO_STAFF_EMAIL",
    "DEMO_ZONE_NAME",
    "seed_demo",
]

DEMO_STAFF_EMAIL = "admin@demo.merchantry.test"
DEMO_SHOP_SLUG = "demo"
DEMO_CHANNEL_SLUG = "web"
DEMO_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")
DEMO_PUBLISHABLE_KEY_NAME = "Demo storefront"
DEMO_SECRET_KEY_NAME = "Demo integration"  # noqa: S105 (a label, not a key)
DEMO_ZONE_NAME = "Domestic"
DEMO_PRODUCTS = 60
DEMO_LOCATION_HANDLE = "main"
DEMO_STOCK = 25


def _staff_lines(created: bool, email: str, password: str | None) -> list[str]:
    if created:
        return [
            "Demo staff account created (the password is shown only this once):",
            f"    email     {email}",
            f"    password  {password}",
        ]
    return [
        f"Demo staff account {email} already exists; its password was shown when it was created.",
        f"    To set a new one: merchantry changepassword {email}",
    ]


def _ensure_shop() -> tuple[Shop, Channel]:
    shop = Shop.objects.filter(slug=DEMO_SHOP_SLUG).first()
    if shop is None:
        shop = shop_create(
            actor=SYSTEM_ACTOR, slug=DEMO_SHOP_SLUG, name="Demo Shop", currency="USD", country="US"
        )
    channel = Channel.objects.for_shop(shop).filter(slug=DEMO_CHANNEL_SLUG).first()
    if channel is None:
        channel = channel_create(
            actor=SYSTEM_ACTOR,
            shop=shop,
            slug=DEMO_CHANNEL_SLUG,
            name="Web store",
            kind=ChannelKind.WEB,
            currency="USD",
            allowed_origins=DEMO_ORIGINS,
        )
    return shop, channel


def _live_key(shop: Shop, kind: str, name: str) -> ApiKey | None:
    return ApiKey.objects.for_shop(shop).live().filter(kind=kind, name=name).first()


def _key_lines(shop: Shop, channel: Channel) -> list[str]:
    publishable = _live_key(shop, ApiKeyKind.PUBLISHABLE, DEMO_PUBLISHABLE_KEY_NAME)
    secret = _live_key(shop, ApiKeyKind.SECRET, DEMO_SECRET_KEY_NAME)
    lines = []
    if publishable is None or secret is None:
        lines.append("Demo API keys (shown only this once; store them now):")
    if publishable is None:
        created = apikey_create(
            actor=SYSTEM_ACTOR,
            shop=shop,
            kind=ApiKeyKind.PUBLISHABLE,
            name=DEMO_PUBLISHABLE_KEY_NAME,
            channel=channel,
        )
        lines.append(f"    publishable  {created.raw}   (Store API: X-Publishable-Key)")
    if secret is None:
        created = apikey_create(
            actor=SYSTEM_ACTOR,
            shop=shop,
            kind=ApiKeyKind.SECRET,
            name=DEMO_SECRET_KEY_NAME,
            permissions=sorted(ALL),
        )
        lines.append(f"    secret       {created.raw}   (Admin API: Authorization: Bearer)")
    if publishable is not None or secret is not None:
        shown = [key.prefix + "…" for key in (publishable, secret) if key is not None]
        lines += [
            f"Demo API keys {', '.join(shown)} already exist; they were shown when created.",
            "    To mint new ones:",
            f"      merchantry apikey create --shop {shop.slug} --kind publishable "
            f"--channel {channel.slug} --name Storefront",
            f"      merchantry apikey create --shop {shop.slug} --kind secret "
            "--permissions all --name Integration",
        ]
    return lines


def _ensure_shipping(shop: Shop, channel: Channel) -> None:
    if ShippingZone.objects.for_shop(shop).filter(name=DEMO_ZONE_NAME).exists():
        return
    zone = zone_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        name=DEMO_ZONE_NAME,
        countries=["US"],
        channel_ids=[channel.pk],
    )
    method_create(
        actor=SYSTEM_ACTOR,
        shop=shop,
        zone_id=zone.pk,
        name="Standard",
        description="Tracked, 3 to 5 business days.",
        min_days=3,
        max_days=5,
        rate_type="flat",
        rates=[{"currency": "USD", "amount": "5.00"}],
    )


def _ensure_stock(shop: Shop, channel: Channel) -> list[str]:
    location = StockLocation.objects.for_shop(shop).filter(handle=DEMO_LOCATION_HANDLE).first()
    if location is None:
        location = location_create(
            actor=SYSTEM_ACTOR,
            shop=shop,
            name="Main warehouse",
            handle=DEMO_LOCATION_HANDLE,
            country=shop.default_country,
        )
    if not ChannelLocation.objects.filter(channel=channel).exists():
        channel_locations_set(
            actor=SYSTEM_ACTOR, shop=shop, channel_id=channel.pk, location_ids=[location.pk]
        )
    stocked = StockLevel.objects.filter(location=location).values("variant_id")
    for variant in ProductVariant.objects.for_shop(shop).exclude(pk__in=stocked):
        stock_receive(
            actor=SYSTEM_ACTOR,
            shop=shop,
            variant_id=variant.pk,
            location_id=location.pk,
            quantity=DEMO_STOCK,
            note="demo stock",
        )
    return [
        f"Stock location {location.handle!r} ({location.name}) supplies channel {channel.slug!r}."
    ]


def seed_demo() -> list[str]:
    """Create the demo data that is missing; return lines to show the user."""
    with transaction.atomic():
        staff = superuser_ensure(email=DEMO_STAFF_EMAIL, full_name="Demo Admin")
        lines = _staff_lines(staff.created, staff.user.email, staff.password)
        shop, channel = _ensure_shop()
        if not Membership.objects.filter(user=staff.user, shop=shop).exists():
            membership_create(
                actor=SYSTEM_ACTOR,
                shop=shop,
                email=staff.user.email,
                role="owner",
                full_name=staff.user.full_name,
            )
        lines.append(
            f"Demo shop {shop.slug!r} ({shop.name}), channel {channel.slug!r}; "
            f"{staff.user.email} is its owner."
        )
        _ensure_shipping(shop, channel)
        if not Product.objects.for_shop(shop).exists():
            report = seed_catalog(
                shop=shop, channel=channel, products=DEMO_PRODUCTS, seed=1, images=True
            )
            lines.append(f"Demo catalog: {report.products} products, {report.variants} variants.")
        lines += _key_lines(shop, channel)
        lines += _ensure_stock(shop, channel)
    return lines
