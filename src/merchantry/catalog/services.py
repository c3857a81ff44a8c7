"""
Every change to the catalog: products, options, variants, channel listings, prices.

Services take the shop and the acting ``Actor`` explicitly, check
``catalog.manage``, run in one transaction and record a ``product.changed``
event in it, so webhooks and caches learn of a change exactly when it commits.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import nh3
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Min
from django.utils.text import slugify

from merchantry.catalog.attributes import clean_attribute_values
from merchantry.catalog.models import (
    Product,
    ProductChannelListing,
    ProductOption,
    ProductOptionValue,
    ProductStatus,
    ProductVariant,
    VariantChannelPrice,
)
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    Conflict,
    NotFound,
    invalid_field,
    validation_failed_from_django,
)
from merchantry.core.events import record_event
from merchantry.core.money import Money, minor_unit_exponent
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "MAX_VARIANTS",
    "listing_publish",
    "listing_unpublish",
    "options_set",
    "price_set",
    "product_archive",
    "product_create",
    "product_get",
    "product_update",
    "refresh_price_ranges",
    "sanitize_description",
    "variant_create",
    "variant_delete",
    "variant_get",
    "variant_update",
    "variants_generate",
]

MAX_VARIANTS = 250
MAX_TAGS = 50
HANDLE_MAX_LENGTH = 255

# What a rich-text description may contain: formatting and links, nothing that
# runs (no <script>, no on* attributes, no javascript: URLs: nh3 drops them).
_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h2", "h3", "h4", "hr", "i", "li",
    "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan"}}
_PRODUCT_FIELDS = (
    "title", "handle", "description", "product_type", "vendor", "tags", "status",
    "seo_title", "seo_description", "metadata_public", "metadata_private", "attributes",
)  # fmt: skip
_VARIANT_FIELDS = (
    "title", "sku", "barcode", "weight_grams", "length_mm", "width_mm", "height_mm",
    "track_inventory", "allow_backorder", "position",
)  # fmt: skip


def sanitize_description(html: str) -> str:
    """Return ``html`` with only the allowed tags and attributes left."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def _changed(product: Product) -> None:
    record_event(
        shop_id=product.shop_id,
        type="product.changed",
        payload={"product_id": str(product.pk), "handle": product.handle},
    )


def _save(instance: Any, *, unique_field: str | None = None) -> None:
    try:
        instance.full_clean(validate_constraints=False)
    except ValidationError as exc:
        raise validation_failed_from_django(exc) from None
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        # Uniqueness is left to the database constraint: checked there, it
        # cannot be raced past.
        raise invalid_field(
            unique_field or "__all__", "This value is already in use.", "unique"
        ) from None


# -- products ---------------------------------------------------------------------


def product_get(*, shop: Shop, product_id: int, lock: bool = False) -> Product:
    queryset = Product.objects.for_shop(shop)
    if lock:
        queryset = queryset.select_for_update()
    product = queryset.filter(pk=product_id).first()
    if product is None:
        raise NotFound("No such product.")
    return product


def _unique_handle(shop: Shop, base: str, *, exclude: int | None = None) -> str:
    base = (slugify(base) or "product")[: HANDLE_MAX_LENGTH - 8]
    taken = set(
        Product.objects.for_shop(shop)
        .filter(handle__startswith=base)
        .exclude(pk=exclude)
        .values_list("handle", flat=True)
    )
    if base not in taken:
        return base
    for suffix in itertools.count(2):
        candidate = f"{base}-{suffix}"
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


def _clean_tags(tags: Iterable[str]) -> list[str]:
    cleaned = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    if len(cleaned) > MAX_TAGS:
        raise invalid_field("tags", f"At most {MAX_TAGS} tags.", "too_many")
    for index, tag in enumerate(cleaned):
        if len(tag) > 60 or "|" in tag:
            raise invalid_field(("tags", index), "A tag is at most 60 characters, without '|'.")
    return cleaned


def _apply(product: Product, changes: Mapping[str, Any]) -> None:
    for field, value in changes.items():
        if field not in _PRODUCT_FIELDS:
            raise TypeError(f"unknown product field {field!r}")
        if field == "attributes":
            # Merged into the current values (null removes one), each checked
            # against the shop's definitions.
            value = clean_attribute_values(product.shop, product.attributes or {}, value or {})
        setattr(product, field, value)
    if "description" in changes:
        product.description = sanitize_description(product.description or "")
    if "tags" in changes:
        product.tags = _clean_tags(product.tags or [])
    product.tags_index = (
        "".join(f"|{t.lower()}" for t in product.tags) + "|" if product.tags else ""
    )


def product_create(
    *, actor: Actor, shop: Shop, title: str, handle: str | None = None, **fields: Any
) -> Product:
    """Create a product (a draft unless told) with its one default variant."""
    actor.require(Perm.CATALOG_MANAGE)
    product = Product(shop=shop)
    with transaction.atomic():
        _apply(product, {"title": title, **fields})
        product.handle = handle or _unique_handle(shop, title)
        _save(product, unique_field="handle")
        ProductVariant.objects.create(shop=shop, product=product, title=product.title)
        _changed(product)
    return product


def product_update(
    *, actor: Actor, shop: Shop, product_id: int, changes: Mapping[str, Any]
) -> Product:
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        new_handle = changes.get("handle")
        if new_handle is not None and new_handle != product.handle and product.was_published:
            # Links, feeds and search engines point at a published handle.
            raise invalid_field("handle", "A published product's handle cannot change.", "frozen")
        _apply(product, changes)
        _save(product, unique_field="handle")
        _changed(product)
    return product


def product_archive(*, actor: Actor, shop: Shop, product_id: int) -> Product:
    """Archive a product: it leaves every channel but orders can still name it."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        product.status = ProductStatus.ARCHIVED
        product.save(update_fields=["status", "updated_at"])
        audit.record(actor, "product.archive", product, {"handle": product.handle}, shop_id=shop.pk)
        _changed(product)
    return product


# -- options and variants ---------------------------------------------------------


def options_set(
    *, actor: Actor, shop: Shop, product_id: int, options: Sequence[Mapping[str, Any]]
) -> list[ProductOption]:
    """Replace a product's options (``[{"name": "Size", "values": ["S", "M"]}]``)."""
    actor.require(Perm.CATALOG_MANAGE)
    names = [str(o["name"]).strip() for o in options]
    if len({n.lower() for n in names}) != len(names) or not all(names):
        raise invalid_field("options", "Option names are non-empty and distinct.", "duplicate")
    combinations = 1
    for index, option in enumerate(options):
        values = [str(v).strip() for v in option["values"]]
        if not values or len({v.lower() for v in values}) != len(values) or not all(values):
            raise invalid_field(("options", index, "values"), "Values are non-empty and distinct.")
        combinations *= len(values)
    if combinations > MAX_VARIANTS:
        raise invalid_field("options", f"At most {MAX_VARIANTS} combinations.", "too_many")
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        product.options.all().delete()
        created = []
        for position, option in enumerate(options):
            row = ProductOption.objects.create(
                product=product, name=names[position], position=position
            )
            ProductOptionValue.objects.bulk_create(
                ProductOptionValue(option=row, value=str(v).strip(), position=i)
                for i, v in enumerate(option["values"])
            )
            created.append(row)
        _changed(product)
    return created


def variants_generate(*, actor: Actor, shop: Shop, product_id: int) -> list[ProductVariant]:
    """
    Make one variant per combination of option values, keeping existing ones.

    A variant whose option values equal a combination keeps it. A variant left
    over is then matched to the first free combination that contains its
    (still valid) values, so adding an option keeps the SKUs, prices and stock
    of the variants that existed (the default variant becomes the first
    combination), and removing one keeps one variant per remaining value.
    Variants matching no combination are deleted.
    """
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        options = list(product.options.prefetch_related("values"))
        axes = [[(o.name, v.value) for v in o.values.all()] for o in options]
        combos = [dict(c) for c in itertools.product(*axes)] if options else [{}]
        valid = {(o.name, v.value) for o in options for v in o.values.all()}
        chosen: dict[int, ProductVariant] = {}
        leftovers = []
        index = {_key(c): i for i, c in enumerate(combos)}
        for variant in product.variants.order_by("position", "pk"):
            slot = index.get(_key(variant.option_values))
            if slot is not None and slot not in chosen:
                chosen[slot] = variant
            else:
                leftovers.append(variant)
        doomed = []
        for variant in leftovers:
            kept_values = set(variant.option_values.items()) & valid
            slot = next(
                (
                    i
                    for i, combo in enumerate(combos)
                    if i not in chosen and kept_values <= set(combo.items())
                ),
                None,
            )
            if slot is None:
                doomed.append(variant.pk)
            else:
                chosen[slot] = variant
        if doomed:
            gone = ProductVariant.objects.filter(pk__in=doomed)
            # A deleted variant takes its SKU and prices with it (inventory writes
            # its stock off, or refuses while checkouts or orders hold it): audited.
            audit.record(
                actor,
                "variant.delete",
                product,
                {"variants": [{"id": v.pk, "sku": v.sku} for v in gone]},
                shop_id=shop.pk,
            )
            gone.delete()
        result: list[ProductVariant] = []
        for position, combo in enumerate(combos):
            variant = chosen.get(position) or ProductVariant(shop=shop, product=product)
            variant.option_values = combo
            variant.position = position
            variant.title = " / ".join(combo.values()) or product.title
            variant.save()
            result.append(variant)
        _changed(product)
    return result


def _key(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def variant_get(*, shop: Shop, variant_id: int, product_id: int | None = None) -> ProductVariant:
    queryset = ProductVariant.objects.for_shop(shop).filter(pk=variant_id)
    if product_id is not None:
        queryset = queryset.filter(product_id=product_id)
    variant = queryset.select_related("product").first()
    if variant is None:
        raise NotFound("No such variant.")
    return variant


def _check_option_values(product: Product, values: Mapping[str, str]) -> dict[str, str]:
    allowed = {o.name: {v.value for v in o.values.all()} for o in product.options.all()}
    if set(values) != set(allowed) or any(v not in allowed[k] for k, v in values.items()):
        raise invalid_field(
            "option_values", "Give one existing value for each of the product's options."
        )
    return dict(values)


def variant_create(
    *,
    actor: Actor,
    shop: Shop,
    product_id: int,
    option_values: Mapping[str, str] | None = None,
    **fields: Any,
) -> ProductVariant:
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        values = _check_option_values(product, option_values or {})
        if product.variants.count() >= MAX_VARIANTS:
            raise invalid_field(
                "product", f"A product has at most {MAX_VARIANTS} variants.", "too_many"
            )
        if any(v.option_values == values for v in product.variants.all()):
            raise invalid_field(
                "option_values", "A variant with these option values exists.", "unique"
            )
        variant = ProductVariant(shop=shop, product=product, option_values=values)
        variant.title = " / ".join(values.values()) or product.title
        _set_variant_fields(variant, fields)
        _save(variant, unique_field="sku")
        _changed(product)
    return variant


def _set_variant_fields(variant: ProductVariant, fields: Mapping[str, Any]) -> None:
    for field, value in fields.items():
        if field not in _VARIANT_FIELDS:
            raise TypeError(f"unknown variant field {field!r}")
        setattr(variant, field, value)
    variant.sku = (variant.sku or "").strip() or None


def variant_update(
    *, actor: Actor, shop: Shop, variant_id: int, product_id: int | None = None,
    changes: Mapping[str, Any],
) -> ProductVariant:  # fmt: skip
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        variant = variant_get(shop=shop, variant_id=variant_id, product_id=product_id)
        _set_variant_fields(variant, changes)
        _save(variant, unique_field="sku")
        _changed(variant.product)
    return variant


def variant_delete(
    *, actor: Actor, shop: Shop, variant_id: int, product_id: int | None = None
) -> None:
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        variant = variant_get(shop=shop, variant_id=variant_id, product_id=product_id)
        product = product_get(shop=shop, product_id=variant.product_id, lock=True)
        if product.variants.count() == 1:
            raise Conflict("A product keeps at least one variant; archive the product instead.")
        audit.record(actor, "variant.delete", variant, {"sku": variant.sku}, shop_id=shop.pk)
        variant.delete()
        refresh_price_ranges([product.pk])
        _changed(product)


# -- channels: listings and prices -----------------------------------------------


def _channel(shop: Shop, channel_id: int) -> Channel:
    channel = Channel.objects.for_shop(shop).filter(pk=channel_id).first()
    if channel is None:
        raise invalid_field("channel_id", "No such channel.", "not_found")
    return channel


def listing_publish(
    *,
    actor: Actor,
    shop: Shop,
    product_id: int,
    channel_id: int,
    published_at: datetime | None = None,
) -> ProductChannelListing:
    """Publish a product on a channel, now or from ``published_at``."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        channel = _channel(shop, channel_id)
        listing, _ = ProductChannelListing.objects.update_or_create(
            product=product,
            channel=channel,
            defaults={"shop": shop, "is_published": True, "published_at": published_at},
        )
        refresh_price_ranges([product.pk])
        if not product.was_published:
            product.was_published = True
            product.save(update_fields=["was_published"])
        audit.record(
            actor,
            "product.publish",
            product,
            {
                "channel": channel.slug,
                "published_at": published_at.isoformat() if published_at else None,
            },
            shop_id=shop.pk,
        )
        _changed(product)
    return listing


def listing_unpublish(*, actor: Actor, shop: Shop, product_id: int, channel_id: int) -> None:
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        channel = _channel(shop, channel_id)
        ProductChannelListing.objects.filter(product=product, channel=channel).update(
            is_published=False
        )
        audit.record(
            actor, "product.unpublish", product, {"channel": channel.slug}, shop_id=shop.pk
        )
        _changed(product)


def _amount(value: Any, currency: str, field: str) -> Decimal:
    if isinstance(value, float | bool):
        raise invalid_field(
            field, 'Give the amount as a decimal string, e.g. "19.99".', "not_a_number"
        )
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise invalid_field(field, "Not a number.", "not_a_number") from None
    if not amount.is_finite():
        raise invalid_field(field, "Not a number.", "not_a_number")
    if amount < 0:
        raise invalid_field(field, "Must not be negative.", "negative")
    if amount >= Decimal(10) ** 11:
        raise invalid_field(field, "Too large.", "too_large")
    try:
        return Money(amount, currency).amount
    except ValueError:
        places = minor_unit_exponent(currency)
        raise invalid_field(
            field, f"{currency} amounts have at most {places} decimal places.", "too_many_decimals"
        ) from None


def price_set(
    *,
    actor: Actor,
    shop: Shop,
    variant_id: int,
    channel_id: int,
    price: Any,
    compare_at_price: Any = None,
    product_id: int | None = None,
) -> VariantChannelPrice:
    """Set a variant's price on a channel, in the channel's currency."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        variant = variant_get(shop=shop, variant_id=variant_id, product_id=product_id)
        channel = _channel(shop, channel_id)
        amount = _amount(price, channel.currency, "price")
        compare = (
            None
            if compare_at_price is None
            else _amount(compare_at_price, channel.currency, "compare_at_price")
        )
        row, _ = VariantChannelPrice.objects.update_or_create(
            variant=variant,
            channel=channel,
            defaults={
                "shop": shop,
                "currency": channel.currency,
                "price": amount,
                "compare_at_price": compare,
            },
        )
        audit.record(
            actor,
            "variant.price_set",
            variant,
            {"channel": channel.slug, "price": str(amount), "currency": channel.currency},
            shop_id=shop.pk,
        )
        refresh_price_ranges([variant.product_id])
        _changed(variant.product)
    return row


def refresh_price_ranges(product_ids: Iterable[int]) -> None:
    """
    Recompute ``price_min``/``price_max`` of the products' channel listings
    from their variants' prices. Call it in the transaction of any change to
    prices, variants or listings (two queries and one bulk update per call,
    whatever the number of products, so batch callers pass them all at once).
    """
    ids = list(product_ids)
    ranges = {
        (row["variant__product_id"], row["channel_id"]): (row["low"], row["high"])
        for row in VariantChannelPrice.objects.filter(variant__product_id__in=ids)
        .values("variant__product_id", "channel_id")
        .annotate(low=Min("price"), high=Max("price"))
    }
    listings = list(ProductChannelListing.objects.filter(product_id__in=ids))
    for listing in listings:
        listing.price_min, listing.price_max = ranges.get(
            (listing.product_id, listing.channel_id), (None, None)
        )
    ProductChannelListing.objects.bulk_update(listings, ["price_min", "price_max"])
