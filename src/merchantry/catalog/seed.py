"""
Sample catalogs for development, demos and benchmarks: ``merchantry seed catalog``.

Generates realistic products (titles, vendors, types, tags, sanitized HTML
descriptions, a category tree of about 30 nodes, one to three options, about
three variants each, exact prices in the channel's currency, publication)
and writes them with ``bulk_create`` in batches of :data:`BATCH` products,
one transaction each, instead of calling the per-product services: 10,000
products take seconds, not minutes. The rows are what the services would
write (unique handles, ``tags_index``, sanitized descriptions,
``was_published``, the listings' price ranges); what is skipped is the
per-product ``product.changed`` event (one audit record covers the run).

The same ``seed`` and starting catalog give the same products. Running it
again adds more products; handles and SKUs stay unique.
"""

from __future__ import annotations

import io
import itertools
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils.text import slugify

from merchantry.catalog import cache as store_cache
from merchantry.catalog.bulk import default_channel
from merchantry.catalog.category_paths import CategoryPaths
from merchantry.catalog.models import (
    Category,
    Product,
    ProductChannelListing,
    ProductMedia,
    ProductOption,
    ProductOptionValue,
    ProductStatus,
    ProductVariant,
    VariantChannelPrice,
    media_upload_to,
)
from merchantry.catalog.services import HANDLE_MAX_LENGTH, sanitize_description
from merchantry.core import audit
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.money import Money, minor_unit_exponent
from merchantry.tenancy.models import Channel, Shop

__all__ = ["BATCH", "MAX_PRODUCTS", "SeedError", "SeedReport", "seed_catalog", "seed_command"]

BATCH = 1000
MAX_PRODUCTS = 1_000_000

# The category tree, as paths to its leaves (30 nodes).
CATEGORY_PATHS = [
    "Apparel > Tops > T-shirts", "Apparel > Tops > Shirts", "Apparel > Tops > Sweaters",
    "Apparel > Bottoms > Jeans", "Apparel > Bottoms > Shorts", "Apparel > Outerwear > Jackets",
    "Apparel > Outerwear > Raincoats", "Shoes > Sneakers", "Shoes > Boots", "Shoes > Sandals",
    "Home > Kitchen > Mugs", "Home > Kitchen > Cookware", "Home > Decor > Cushions",
    "Home > Decor > Candles", "Home > Bedding", "Accessories > Bags", "Accessories > Hats",
    "Accessories > Scarves", "Outdoor > Camping", "Outdoor > Cycling",
]  # fmt: skip
# What each leaf sells: the product noun and the options it varies in.
KINDS = {
    "T-shirts": ("T-shirt", ["Size", "Color"]), "Shirts": ("Shirt", ["Size", "Color"]),
    "Sweaters": ("Sweater", ["Size", "Color"]), "Jeans": ("Jeans", ["Waist", "Length"]),
    "Shorts": ("Shorts", ["Size", "Color"]), "Jackets": ("Jacket", ["Size", "Color"]),
    "Raincoats": ("Raincoat", ["Size", "Color"]), "Sneakers": ("Sneakers", ["Size", "Color"]),
    "Boots": ("Boots", ["Size", "Color"]), "Sandals": ("Sandals", ["Size", "Color"]),
    "Mugs": ("Mug", ["Color", "Capacity"]), "Cookware": ("Pan", ["Diameter", "Finish"]),
    "Cushions": ("Cushion", ["Color", "Cover"]), "Candles": ("Candle", ["Scent", "Size"]),
    "Bedding": ("Duvet cover", ["Size", "Color"]), "Bags": ("Tote bag", ["Color", "Material"]),
    "Hats": ("Beanie", ["Color", "Size"]), "Scarves": ("Scarf", ["Color", "Pattern"]),
    "Camping": ("Tent", ["Capacity", "Color"]), "Cycling": ("Bike light", ["Color", "Mount"]),
}  # fmt: skip
VALUES = {
    "Size": ["XS", "S", "M", "L", "XL", "XXL"], "Waist": ["28", "30", "32", "34", "36"],
    "Length": ["30", "32", "34"], "Color": ["Black", "White", "Navy", "Olive", "Red", "Sand"],
    "Capacity": ["Small", "Medium", "Large"], "Diameter": ["20 cm", "24 cm", "28 cm"],
    "Finish": ["Steel", "Copper", "Black"], "Cover": ["Linen", "Velvet", "Cotton"],
    "Scent": ["Cedar", "Fig", "Sea salt", "Amber"], "Material": ["Canvas", "Leather", "Jute"],
    "Pattern": ["Plain", "Check", "Stripe"], "Mount": ["Handlebar", "Seatpost", "Helmet"],
    "Style": ["Classic", "Slim", "Relaxed"],
}  # fmt: skip
ADJECTIVES = [
    "Classic", "Everyday", "Heritage", "Urban", "Coastal", "Alpine", "Vintage", "Modern",
    "Essential", "Premium", "Lightweight", "Cozy", "Rugged", "Organic", "Nordic", "Weekend",
]  # fmt: skip
MATERIALS = [
    "Linen", "Cotton", "Wool", "Merino", "Denim", "Canvas", "Leather", "Bamboo", "Hemp",
    "Cashmere", "Recycled", "Stoneware", "Cast iron", "Oak",
]  # fmt: skip
VENDORS = [
    "Northwind", "Acme Goods", "Fjord & Co", "Maple Lane", "Blue Harbor", "Terra Works",
    "Oak & Ash", "Lumen", "Atlas Supply", "Wren Studio", "Kestrel", "Juniper Street",
]  # fmt: skip
TAGS = [
    "new", "bestseller", "sale", "summer", "winter", "eco", "gift", "limited", "handmade",
    "vegan", "organic", "outdoor", "classic", "bundle",
]  # fmt: skip
SENTENCES = [
    "Made to last and easy to care for.", "Cut from responsibly sourced {material}.",
    "A {adjective} staple for every day.", "Designed in small batches by {vendor}.",
    "Pairs well with the rest of the collection.", "Machine washable at 30 °C.",
    "Each piece is checked by hand before it ships.", "Ships in plastic-free packaging.",
]  # fmt: skip


class SeedError(Exception):
    """The seed cannot run as asked (unknown shop or channel, bad count)."""


@dataclass(slots=True)
class SeedReport:
    products: int
    variants: int
    categories: int
    seconds: float


def seed_command(
    *, shop_slug: str, products: int, channel_slug: str | None, images: bool, seed: int
) -> Iterator[str]:
    """Resolve the command line's names, seed, and yield lines to print."""
    shop = Shop.objects.filter(slug=shop_slug).first()
    if shop is None:
        raise SeedError(f"No shop {shop_slug!r}; create it with `merchantry shop create`.")
    if channel_slug:
        channel = Channel.objects.for_shop(shop).filter(slug=channel_slug).first()
        if channel is None:
            raise SeedError(f"Shop {shop_slug!r} has no channel {channel_slug!r}.")
    else:
        channel = default_channel(shop)
        if channel is None:
            raise SeedError(f"Shop {shop_slug!r} has no channel; create one or name one.")
    report = seed_catalog(shop=shop, channel=channel, products=products, seed=seed, images=images)
    yield (
        f"Seeded {report.products} products with {report.variants} variants "
        f"({report.categories} categories) in shop {shop.slug}, priced in {channel.currency} "
        f"on channel {channel.slug}, in {report.seconds:.1f} s."
    )


def seed_catalog(
    *,
    shop: Shop,
    channel: Channel,
    products: int,
    seed: int = 0,
    images: bool = False,
) -> SeedReport:
    """Add ``products`` generated products to ``shop``, priced and listed on ``channel``."""
    if not 1 <= products <= MAX_PRODUCTS:
        raise SeedError(f"Seed between 1 and {MAX_PRODUCTS} products.")
    if channel.shop_id != shop.pk:
        raise SeedError("The channel belongs to another shop.")
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 -- sample data, reproducible on purpose
    with transaction.atomic():
        paths = CategoryPaths(shop)
        leaves = {
            path.rsplit(">", 1)[1].strip(): paths.ensure(_names(path)) for path in CATEGORY_PATHS
        }
    generator = _Generator(shop, channel, rng, leaves)
    variants = 0
    for start in range(0, products, BATCH):
        with transaction.atomic():
            variants += generator.batch(min(BATCH, products - start), images=images)
    categories = Category.objects.filter(shop=shop).count()
    if connection.vendor == "postgresql":
        # Fresh statistics, or the planner takes a just-seeded table for empty
        # and sorts whole catalogs instead of walking the sort indexes.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    # No per-product events were recorded: tell the Store cache directly.
    store_cache.bump(shop.pk)
    audit.record(
        SYSTEM_ACTOR,
        "catalog.seed",
        None,
        {"products": products, "variants": variants, "channel": channel.slug, "seed": seed},
        shop_id=shop.pk,
    )
    return SeedReport(products, variants, categories, time.perf_counter() - started)


def _names(path: str) -> list[str]:
    return [name.strip() for name in path.split(">")]


class _Generator:
    def __init__(
        self, shop: Shop, channel: Channel, rng: random.Random, leaves: dict[str, Category]
    ) -> None:
        self.shop, self.channel, self.rng, self.leaves = shop, channel, rng, leaves
        self.currency = channel.currency
        self.exponent = minor_unit_exponent(self.currency)
        self.handles = set(Product.objects.for_shop(shop).values_list("handle", flat=True))
        self.skus = set(
            ProductVariant.objects.for_shop(shop).exclude(sku=None).values_list("sku", flat=True)
        )
        self.counter = itertools.count(len(self.handles) + 1)

    # -- one product, in memory --------------------------------------------------------

    def _handle(self, title: str) -> str:
        base = (slugify(title) or "product")[: HANDLE_MAX_LENGTH - 8]
        handle, suffix = base, 2
        while handle in self.handles:
            handle, suffix = f"{base}-{suffix}", suffix + 1
        self.handles.add(handle)
        return handle

    def _sku(self, handle: str, position: int) -> str:
        base = f"{handle[:50].upper()}-{position + 1}"
        sku, suffix = base, 2
        while sku in self.skus:
            sku, suffix = f"{base}-{suffix}", suffix + 1
        self.skus.add(sku)
        return sku

    def _price(self) -> Decimal:
        # Whole-ish prices (x.99, x.50) in the currency's minor units: exact.
        units = self.rng.randrange(5, 250) * 10**self.exponent
        if self.exponent:
            units -= self.rng.choice([1, 5 * 10 ** (self.exponent - 1), 0])
        return Money.from_minor_units(units, self.currency).amount

    def _options(self, names: list[str]) -> list[tuple[str, list[str]]]:
        # 1 option (70%, 1-4 values), 2 (25%, 2x2) or 3 (5%, 2x2x2): ~3 variants on average.
        roll = self.rng.random()
        count, sizes = (
            (1, [self.rng.randint(1, 4)])
            if roll < 0.70
            else ((2, [2, 2]) if roll < 0.95 else (3, [2, 2, 2]))
        )
        chosen = [*names, "Style"][:count]
        return [
            (
                name,
                sorted(
                    self.rng.sample(VALUES[name], min(size, len(VALUES[name]))),
                    key=VALUES[name].index,
                ),
            )
            for name, size in zip(chosen, sizes, strict=True)
        ]

    def _description(self, adjective: str, material: str, vendor: str) -> str:
        sentences = self.rng.sample(SENTENCES, 3)
        text = " ".join(sentences).format(
            adjective=adjective.lower(), material=material.lower(), vendor=vendor
        )
        html = f"<p>{text}</p><ul><li>{material}</li><li>By {vendor}</li></ul>"
        return sanitize_description(html)

    # -- a batch, written with bulk_create -----------------------------------------------

    def batch(self, size: int, *, images: bool) -> int:
        rng, shop, channel = self.rng, self.shop, self.channel
        leaf_names = list(self.leaves)
        products, plans = [], []
        for _ in range(size):
            leaf = rng.choice(leaf_names)
            noun, option_names = KINDS[leaf]
            adjective, material = rng.choice(ADJECTIVES), rng.choice(MATERIALS)
            vendor = rng.choice(VENDORS)
            title = f"{adjective} {material} {noun}"
            status = rng.choices(
                [ProductStatus.ACTIVE, ProductStatus.DRAFT, ProductStatus.ARCHIVED], [85, 10, 5]
            )[0]
            tags = sorted(rng.sample(TAGS, rng.randint(1, 4)))
            product = Product(
                shop=shop,
                title=title,
                handle=self._handle(f"{title} {next(self.counter)}"),
                description=self._description(adjective, material, vendor),
                product_type=noun,
                vendor=vendor,
                tags=tags,
                tags_index="".join(f"|{t.lower()}" for t in tags) + "|",
                status=status,
                seo_title=f"{title} | {vendor}",
                seo_description=f"{title} by {vendor}.",
                was_published=status == ProductStatus.ACTIVE,
            )
            products.append(product)
            plans.append((leaf, self._options(option_names)))
        Product.objects.bulk_create(products)
        Product.categories.through.objects.bulk_create(
            Product.categories.through(product_id=p.pk, category_id=self.leaves[leaf].pk)
            for p, (leaf, _) in zip(products, plans, strict=True)
        )
        options, values, variants, prices, listings = [], [], [], [], []
        for product, (_, product_options) in zip(products, plans, strict=True):
            for position, (name, option_values) in enumerate(product_options):
                option = ProductOption(product=product, name=name, position=position)
                options.append(option)
                values.extend(
                    ProductOptionValue(option=option, value=value, position=i)
                    for i, value in enumerate(option_values)
                )
            names = [name for name, _ in product_options]
            base = self._price()
            compare = base * 2 if rng.random() < 0.2 else None
            combos = itertools.product(*(vals for _, vals in product_options))
            amounts = []
            for position, combo in enumerate(combos):
                option_values = dict(zip(names, combo, strict=True))
                variant = ProductVariant(
                    shop=shop,
                    product=product,
                    title=" / ".join(combo) or product.title,
                    sku=self._sku(product.handle, position),
                    barcode=f"{rng.randrange(10**12, 10**13)}",
                    option_values=option_values,
                    weight_grams=rng.randrange(50, 3000, 10),
                    allow_backorder=rng.random() < 0.1,
                    position=position,
                )
                variants.append(variant)
                # Later variants (bigger sizes) cost a whole unit or two more.
                amount = base + Decimal(position % 3)
                amounts.append(amount)
                prices.append(
                    VariantChannelPrice(
                        shop=shop,
                        variant=variant,
                        channel=channel,
                        currency=self.currency,
                        price=amount,
                        compare_at_price=compare,
                    )
                )
            listings.append(
                ProductChannelListing(
                    shop=shop,
                    product=product,
                    channel=channel,
                    is_published=product.status == ProductStatus.ACTIVE,
                    price_min=min(amounts),
                    price_max=max(amounts),
                )
            )
        ProductOption.objects.bulk_create(options, batch_size=BATCH)
        ProductOptionValue.objects.bulk_create(values, batch_size=BATCH)
        ProductVariant.objects.bulk_create(variants, batch_size=BATCH)
        VariantChannelPrice.objects.bulk_create(prices, batch_size=BATCH)
        ProductChannelListing.objects.bulk_create(listings, batch_size=BATCH)
        if images:
            self._images(products)
        return len(variants)

    def _images(self, products: list[Product]) -> None:
        from PIL import Image

        media = []
        for product in products:
            colour = tuple(self.rng.randrange(256) for _ in range(3))
            buffer = io.BytesIO()
            Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
            row = ProductMedia(
                shop=self.shop,
                product=product,
                alt=product.title,
                position=0,
                width=64,
                height=64,
                format="png",
                size_bytes=buffer.tell(),
            )
            name = media_upload_to(row, f"{secrets.token_urlsafe(12)}.png")
            row.image.name = default_storage.save(name, ContentFile(buffer.getvalue()))
            media.append(row)
        ProductMedia.objects.bulk_create(media, batch_size=BATCH)
        for product, row in zip(products, media, strict=True):
            product.featured_media = row
        Product.objects.bulk_update(products, ["featured_media"], batch_size=BATCH)
