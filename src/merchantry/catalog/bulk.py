"""
Bulk upsert: create or update up to :data:`MAX_BATCH` products in one call.

Items are keyed by product ``handle``; their variants by ``sku`` (else by
their option values). Each item is validated on its own and written in its
own savepoint, so one bad item is reported in its result while the others
are written, and no product is ever half-written. An item that would change
nothing writes nothing and is reported ``unchanged``: sending the same batch
twice is safe.

The batch reads what exists with a fixed number of queries (products by
handle with their options, variants, prices and listing on the channel; the
owners of the batch's SKUs; the category tree), refreshes the listings'
price ranges once, and leaves one audit record. Each changed product records
a ``product.changed`` event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import Prefetch
from django.utils import timezone

from merchantry.catalog.bulk_plan import Plan, duplicates, plan_item
from merchantry.catalog.category_paths import CategoryPaths
from merchantry.catalog.models import (
    Category,
    Product,
    ProductChannelListing,
    ProductOption,
    ProductOptionValue,
    ProductVariant,
    VariantChannelPrice,
)
from merchantry.catalog.schemas_io import MAX_BATCH
from merchantry.catalog.services import _changed, refresh_price_ranges
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, FieldError, ValidationFailed, invalid_field
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = ["MAX_BATCH", "BatchResult", "ItemResult", "default_channel", "products_upsert"]


@dataclass(slots=True)
class ItemResult:
    """What became of one item: ``created``, ``updated``, ``unchanged`` or ``error``."""

    index: int
    handle: str | None
    status: str = "error"
    product_id: int | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass(slots=True)
class BatchResult:
    channel: Channel | None
    results: list[ItemResult]

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)


def default_channel(shop: Shop) -> Channel | None:
    """The channel prices go to when none is named: the shop's first (oldest) one."""
    return Channel.objects.for_shop(shop).order_by("pk").first()


# -- the batch ------------------------------------------------------------------------------


def products_upsert(
    *,
    actor: Actor,
    shop: Shop,
    items: Sequence[Any],
    channel_id: int | None = None,
) -> BatchResult:
    """
    Create or update the products ``items`` describe (see
    :class:`~merchantry.catalog.schemas_io.ProductItem`); return one result per
    item, in order. Prices and ``published`` apply to the channel
    ``channel_id`` names, else to the shop's first channel.
    """
    actor.require(Perm.CATALOG_MANAGE)
    if len(items) > MAX_BATCH:
        raise invalid_field("items", f"At most {MAX_BATCH} items per batch.", "too_many")
    if channel_id is None:
        channel = default_channel(shop)
    else:
        channel = Channel.objects.for_shop(shop).filter(pk=channel_id).first()
        if channel is None:
            raise invalid_field("channel_id", "No such channel.", "not_found")
    currency = channel.currency if channel else None
    results = []
    plans: dict[int, Plan] = {}
    for index, raw in enumerate(items):
        handle = raw.get("handle") if isinstance(raw, Mapping) else None
        result = ItemResult(index=index, handle=handle if isinstance(handle, str) else None)
        results.append(result)
        try:
            plans[index] = plan_item(index, raw, currency)
        except ValidationFailed as exc:
            result.errors = exc.errors
        else:
            result.handle = plans[index].handle
    for index, errors in duplicates(plans).items():
        results[index].errors = errors
        del plans[index]
    if plans:
        with transaction.atomic():
            _write_batch(actor, shop, channel, plans, results)
    return BatchResult(channel=channel, results=results)


def _existing(shop: Shop, channel: Channel | None, handles: list[str]) -> dict[str, Product]:
    prices = VariantChannelPrice.objects.filter(channel=channel) if channel else None
    listings = ProductChannelListing.objects.filter(channel=channel) if channel else None
    variants = ProductVariant.objects.order_by("position", "pk").prefetch_related(
        Prefetch(
            "prices",
            queryset=prices if prices is not None else VariantChannelPrice.objects.none(),
            to_attr="channel_prices",
        )
    )
    products = (
        Product.objects.for_shop(shop)
        .filter(handle__in=handles)
        .select_for_update()
        .prefetch_related(
            "options__values",
            Prefetch("categories", queryset=Category.objects.only("id", "path")),
            Prefetch("variants", queryset=variants),
            Prefetch(
                "channel_listings",
                queryset=listings if listings is not None else ProductChannelListing.objects.none(),
                to_attr="channel_listing",
            ),
        )
    )
    return {product.handle: product for product in products}


@dataclass(slots=True)
class _Context:
    shop: Shop
    channel: Channel | None
    categories: CategoryPaths
    sku_owners: dict[str, tuple[int, str]]
    deleted_variants: list[dict[str, Any]] = field(default_factory=list)


def _write_batch(
    actor: Actor,
    shop: Shop,
    channel: Channel | None,
    plans: dict[int, Plan],
    results: list[ItemResult],
) -> None:
    existing = _existing(shop, channel, [plan.handle for plan in plans.values()])
    skus = [v.sku for plan in plans.values() for v in plan.variants or () if v.sku is not None]
    owners = (
        ProductVariant.objects.for_shop(shop)
        .filter(sku__in=skus)
        .values_list("sku", "product_id", "product__handle")
        if skus
        else []
    )
    ctx = _Context(
        shop=shop,
        channel=channel,
        categories=CategoryPaths(shop),
        sku_owners={sku: (product_id, handle) for sku, product_id, handle in owners},
    )
    changed: list[Product] = []
    for index, plan in plans.items():
        result = results[index]
        product = existing.get(plan.handle)
        try:
            changes = _diff(ctx, plan, product)
            if changes is None:
                assert product is not None
                result.status, result.product_id = "unchanged", product.pk
                continue
            with transaction.atomic():
                product = _apply(ctx, plan, product, changes)
                _changed(product)
        except ValidationFailed as exc:
            ctx.categories.rollback()
            result.errors = exc.errors
            continue
        except Conflict as exc:
            # The state refuses this item (e.g. inventory keeps a variant whose
            # stock orders hold): the savepoint undid it, the rest goes on.
            ctx.categories.rollback()
            result.errors = [FieldError((), exc.detail, exc.code)]
            continue
        except (IntegrityError, DataError):
            # A race (the same handle or SKU written meanwhile) or a value the
            # database refuses: the savepoint undid this item, the rest goes on.
            ctx.categories.rollback()
            result.errors = [FieldError((), "This item could not be saved; retry it.", "conflict")]
            continue
        ctx.categories.commit()
        ctx.deleted_variants.extend({"id": v.pk, "sku": v.sku} for v in changes.deletes)
        result.status = "updated" if changes.product_exists else "created"
        result.product_id = product.pk
        changed.append(product)
    if not changed:
        return
    refresh_price_ranges([product.pk for product in changed])
    audit.record(
        actor,
        "product.bulk_upsert",
        None,
        {
            "channel": channel.slug if channel else None,
            "created": [r.handle for r in results if r.status == "created"],
            "updated": [r.handle for r in results if r.status == "updated"],
            "unchanged": sum(1 for r in results if r.status == "unchanged"),
            "failed": sum(1 for r in results if r.status == "error"),
            "deleted_variants": ctx.deleted_variants,
        },
        shop_id=shop.pk,
    )


# -- one item: what differs, then the writes --------------------------------------------------


@dataclass(slots=True)
class _Changes:
    product_exists: bool
    fields: dict[str, Any] = field(default_factory=dict)
    categories: list[tuple[str, ...]] | None = None
    options: list[tuple[str, list[str]]] | None = None
    deletes: list[ProductVariant] = field(default_factory=list)
    updates: list[tuple[ProductVariant, dict[str, Any]]] = field(default_factory=list)
    creates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    matched: dict[int, ProductVariant] = field(default_factory=dict)
    prices: list[tuple[int, Decimal | None, bool, Decimal | None]] = field(default_factory=list)
    """(variant position, price or None to keep, whether compare is given, compare)"""
    listing: bool | None = None

    def any(self) -> bool:
        return not self.product_exists or bool(
            self.fields
            or self.categories is not None
            or self.options is not None
            or self.deletes
            or self.updates
            or self.creates
            or self.prices
            or self.listing is not None
        )


def _diff(ctx: _Context, plan: Plan, product: Product | None) -> _Changes | None:
    """Return what must be written for ``plan``, or None when nothing differs."""
    changes = _Changes(product_exists=product is not None)
    if product is None:
        if "title" not in plan.fields:
            raise invalid_field("title", "A new product needs a title.", "required")
        changes.fields = dict(plan.fields)
    else:
        changes.fields = {k: v for k, v in plan.fields.items() if getattr(product, k) != v}
    if plan.categories is not None:
        wanted = [ctx.categories.find(names) for names in plan.categories]
        current = {c.pk for c in product.categories.all()} if product else set()
        if None in wanted or {c.pk for c in wanted if c} != current:
            changes.categories = plan.categories
    if plan.variants is not None:
        title = changes.fields.get("title", product.title if product else "")
        _diff_variants(ctx, plan, product, title, changes)
    listing = product.channel_listing[0] if product and product.channel_listing else None
    if plan.published and (listing is None or not listing.is_published):
        changes.listing = True
        if product is None or not product.was_published:
            changes.fields["was_published"] = True
    elif plan.published is False and listing is not None and listing.is_published:
        changes.listing = False
    return changes if changes.any() else None


def _diff_variants(
    ctx: _Context, plan: Plan, product: Product | None, title: str, changes: _Changes
) -> None:
    assert plan.variants is not None
    assert plan.options is not None
    current = (
        [(o.name, [v.value for v in o.values.all()]) for o in product.options.all()]
        if product
        else []
    )
    if current != plan.options:
        changes.options = plan.options
    existing = list(product.variants.all()) if product else []
    matched: dict[int, ProductVariant] = {}
    by_sku = {v.sku: v for v in existing if v.sku}
    for position, variant in enumerate(plan.variants):
        if variant.sku is not None and variant.sku in by_sku:
            matched[position] = by_sku[variant.sku]
    taken = {v.pk for v in matched.values()}
    for position, variant in enumerate(plan.variants):
        if position in matched:
            continue
        match = next(
            (v for v in existing if v.pk not in taken and v.option_values == variant.option_values),
            None,
        )
        if match is not None:
            matched[position] = match
            taken.add(match.pk)
    changes.matched = matched
    changes.deletes = [v for v in existing if v.pk not in taken]
    errors = []
    for position, variant in enumerate(plan.variants):
        owner = ctx.sku_owners.get(variant.sku) if variant.sku else None
        if owner is not None and (product is None or owner[0] != product.pk):
            errors.append(
                FieldError(
                    ("variants", position, "sku"),
                    f"This SKU belongs to another product ({owner[1]}).",
                    "unique",
                )
            )
        target = {
            "option_values": variant.option_values,
            "position": position,
            "title": " / ".join(variant.option_values.values()) or title,
            **variant.fields,
        }
        if variant.sku_given:
            target["sku"] = variant.sku
        row = matched.get(position)
        if row is None:
            changes.creates.append((position, target))
        else:
            differ = {k: v for k, v in target.items() if getattr(row, k) != v}
            if differ:
                changes.updates.append((row, differ))
        price_row = row.channel_prices[0] if row is not None and row.channel_prices else None
        if variant.price is not None:
            compare = variant.compare if variant.compare_given else None
            if price_row is None:
                changes.prices.append((position, variant.price, True, compare))
            elif price_row.price != variant.price or (
                variant.compare_given and price_row.compare_at_price != variant.compare
            ):
                changes.prices.append(
                    (position, variant.price, variant.compare_given, variant.compare)
                )
        elif variant.compare_given:
            if price_row is None and variant.compare is None:
                pass  # no price, and none to compare with: nothing to remove
            elif price_row is None:
                errors.append(
                    FieldError(
                        ("variants", position, "compare_at_price"),
                        "Give a price with the compare-at price.",
                        "price_required",
                    )
                )
            elif price_row.compare_at_price != variant.compare:
                changes.prices.append((position, None, True, variant.compare))
    if errors:
        raise ValidationFailed(errors=errors)


def _apply(ctx: _Context, plan: Plan, product: Product | None, changes: _Changes) -> Product:
    shop, channel = ctx.shop, ctx.channel
    if product is None:
        product = Product(shop=shop, handle=plan.handle, **changes.fields)
        product.save()
    elif changes.fields:
        for name, value in changes.fields.items():
            setattr(product, name, value)
        product.save(update_fields=[*changes.fields, "updated_at"])
    if changes.categories is not None:
        categories = [ctx.categories.ensure(names) for names in changes.categories]
        if changes.product_exists:
            product.categories.set(categories)
        else:  # nothing to compare with: one INSERT
            Product.categories.through.objects.bulk_create(
                Product.categories.through(product_id=product.pk, category_id=category.pk)
                for category in categories
            )
    if changes.options is not None:
        if changes.product_exists:
            ProductOption.objects.filter(product=product).delete()
        _create_options(product, changes.options)
    variants = _apply_variants(ctx, plan, product, changes)
    _apply_prices(ctx, variants, changes)
    if changes.listing is not None:
        assert channel is not None
        updated = changes.product_exists and (
            ProductChannelListing.objects.filter(product=product, channel=channel).update(
                is_published=changes.listing
            )
        )
        if not updated and changes.listing:
            ProductChannelListing.objects.create(
                shop=shop, product=product, channel=channel, is_published=True
            )
    return product


def _create_options(product: Product, options: list[tuple[str, list[str]]]) -> None:
    rows = ProductOption.objects.bulk_create(
        ProductOption(product=product, name=name, position=position)
        for position, (name, _) in enumerate(options)
    )
    ProductOptionValue.objects.bulk_create(
        ProductOptionValue(option=row, value=value, position=position)
        for row, (_, values) in zip(rows, options, strict=True)
        for position, value in enumerate(values)
    )


def _apply_variants(
    ctx: _Context, plan: Plan, product: Product, changes: _Changes
) -> dict[int, ProductVariant]:
    """Write the variant changes; return the variants by their position in the plan."""
    if plan.variants is None:
        if not changes.product_exists:
            ProductVariant.objects.create(shop=ctx.shop, product=product, title=product.title)
        return {}
    if changes.deletes:
        ProductVariant.objects.filter(pk__in=[v.pk for v in changes.deletes]).delete()
    renamed = [v.pk for v, differ in changes.updates if "sku" in differ and v.sku]
    if renamed:
        # Free the old SKUs first: two variants swapping SKUs would otherwise
        # collide on the unique index halfway through the update.
        ProductVariant.objects.filter(pk__in=renamed).update(sku=None)
    now = timezone.now()
    fields: set[str] = set()
    for variant, differ in changes.updates:
        for name, value in differ.items():
            setattr(variant, name, value)
        variant.updated_at = now
        fields.update(differ)
    if changes.updates:
        ProductVariant.objects.bulk_update(
            [v for v, _ in changes.updates], [*sorted(fields), "updated_at"]
        )
    created = ProductVariant.objects.bulk_create(
        ProductVariant(shop=ctx.shop, product=product, **target) for _, target in changes.creates
    )
    by_position = dict(changes.matched)
    by_position.update(zip((p for p, _ in changes.creates), created, strict=True))
    return by_position


def _apply_prices(ctx: _Context, variants: dict[int, ProductVariant], changes: _Changes) -> None:
    if not changes.prices:
        return
    channel = ctx.channel
    assert channel is not None
    now = timezone.now()
    new, updated = [], []
    for position, price, compare_given, compare in changes.prices:
        variant = variants[position]
        rows = getattr(variant, "channel_prices", None) or []
        if not rows:
            new.append(
                VariantChannelPrice(
                    shop=ctx.shop,
                    variant=variant,
                    channel=channel,
                    currency=channel.currency,
                    price=price,
                    compare_at_price=compare,
                )
            )
            continue
        row = rows[0]
        if price is not None:
            row.price = price
        if compare_given:
            row.compare_at_price = compare
        row.updated_at = now
        updated.append(row)
    VariantChannelPrice.objects.bulk_create(new)
    VariantChannelPrice.objects.bulk_update(updated, ["price", "compare_at_price", "updated_at"])
