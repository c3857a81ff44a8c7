"""
The product list's filters and bulk actions, and the "variants and prices" grid.

The grid edits every variant of a product and its price on every channel of
the shop on one screen. All cells are validated by the services; one bad cell
shows its message beside it and nothing of the submission is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from unfold.forms import ActionForm

from merchantry.catalog import services
from merchantry.catalog.models import (
    Category,
    Collection,
    Product,
    ProductChannelListing,
    ProductVariant,
    VariantChannelPrice,
)
from merchantry.core.errors import MerchantryError, ValidationFailed
from merchantry.tenancy.admin_scope import AdminScope, get_admin_scope
from merchantry.tenancy.models import Channel

__all__ = [
    "CategoryFilter",
    "ChannelFilter",
    "CollectionFilter",
    "ProductActionForm",
    "StockFilter",
    "bulk_action",
    "variants_grid_view",
]


# -- list filters ----------------------------------------------------------------------


class _ShopFilter(admin.SimpleListFilter):
    """A filter whose choices are the current shop's rows."""

    def _shop_id(self, request: HttpRequest) -> int | None:
        scope = get_admin_scope(request)
        return scope.shop.pk if scope is not None and scope.shop is not None else None


class CategoryFilter(_ShopFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        rows = Category.objects.filter(shop_id=self._shop_id(request)).order_by("path")
        return [(str(c.pk), "— " * (c.depth - 1) + c.name) for c in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not (self.value() or "").isdigit():
            return queryset
        node = Category.objects.filter(shop_id=self._shop_id(request), pk=self.value()).first()
        if node is None:
            return queryset.none()
        return queryset.filter(
            categories__shop_id=node.shop_id, categories__path__startswith=node.path
        ).distinct()


class CollectionFilter(_ShopFilter):
    title = "collection"
    parameter_name = "collection"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        rows = Collection.objects.filter(shop_id=self._shop_id(request)).order_by("title")
        return [(str(c.pk), c.title) for c in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not (self.value() or "").isdigit():
            return queryset
        collection = Collection.objects.filter(
            shop_id=self._shop_id(request), pk=self.value()
        ).first()
        if collection is None:
            return queryset.none()
        from merchantry.catalog.collections import collection_product_filter

        return queryset.filter(collection_product_filter(collection, None))


class ChannelFilter(_ShopFilter):
    title = "published on"
    parameter_name = "channel"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        rows = Channel.objects.filter(shop_id=self._shop_id(request)).order_by("name")
        return [(str(c.pk), c.name) for c in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not (self.value() or "").isdigit():
            return queryset
        listed = ProductChannelListing.objects.filter(
            shop_id=self._shop_id(request), channel_id=self.value(), is_published=True
        )
        return queryset.filter(pk__in=listed.values("product_id"))


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("in", "In stock on a channel"), ("out", "Out of stock on a channel")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in ("in", "out"):
            return queryset
        listed = ProductChannelListing.objects.filter(in_stock=self.value() == "in")
        return queryset.filter(pk__in=listed.values("product_id"))


# -- bulk actions ------------------------------------------------------------------------


class ProductActionForm(ActionForm):
    value = forms.CharField(
        required=False,
        max_length=60,
        label="",
        widget=forms.TextInput(attrs={"placeholder": "Tag, or channel slug (blank: all)"}),
    )


def _channels(shop: Any, slug: str) -> list[Channel]:
    channels = Channel.objects.filter(shop=shop).order_by("pk")
    if slug:
        channels = channels.filter(slug=slug)
    return list(channels)


def bulk_action(
    request: HttpRequest, scope: AdminScope | None, queryset: QuerySet[Product], kind: str
) -> None:
    """Apply ``kind`` to every selected product through the services, all or nothing."""
    if scope is None or scope.shop is None:
        return
    actor, shop = scope.current()
    value = (request.POST.get("value") or "").strip()
    ids = list(queryset.filter(shop=shop).values_list("pk", flat=True))
    if kind in ("publish", "unpublish"):
        channels = _channels(shop, value)
        if not channels:
            messages.error(request, f"No channel with the slug {value!r}.")
            return
    if kind in ("tag", "untag") and not value:
        messages.error(request, "Type the tag in the box beside the action.")
        return
    try:
        with transaction.atomic():
            for product_id in ids:
                if kind == "publish":
                    for channel in channels:
                        services.listing_publish(
                            actor=actor, shop=shop, product_id=product_id, channel_id=channel.pk
                        )
                elif kind == "unpublish":
                    for channel in channels:
                        services.listing_unpublish(
                            actor=actor, shop=shop, product_id=product_id, channel_id=channel.pk
                        )
                elif kind in ("tag", "untag"):
                    product = Product.objects.get(pk=product_id)
                    tags = [t for t in product.tags if t.lower() != value.lower()]
                    if kind == "tag":
                        tags.append(value)
                    if tags != product.tags:
                        services.product_update(
                            actor=actor, shop=shop, product_id=product_id, changes={"tags": tags}
                        )
                elif kind in ("active", "draft"):
                    services.product_update(
                        actor=actor, shop=shop, product_id=product_id, changes={"status": kind}
                    )
    except MerchantryError as exc:
        messages.error(request, f"Nothing changed: {exc.detail}")
        return
    messages.success(request, f"Done for {len(ids)} product(s).")


# -- the variants and prices grid ---------------------------------------------------------


@dataclass
class Cell:
    name: str
    value: str
    error: str = ""


@dataclass
class Row:
    variant: ProductVariant
    fields: dict[str, Cell] = field(default_factory=dict)
    prices: list[tuple[Cell, Cell]] = field(default_factory=list)


_VARIANT_INPUTS = ("sku", "barcode", "weight_grams")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _rows(product: Product, channels: list[Channel], data: Any = None) -> list[Row]:
    prices = {
        (p.variant_id, p.channel_id): p
        for p in VariantChannelPrice.objects.filter(variant__product=product)
    }
    rows = []
    for variant in product.variants.order_by("position", "pk"):
        row = Row(variant)
        for name in _VARIANT_INPUTS:
            key = f"v{variant.pk}-{name}"
            current = _text(getattr(variant, name))
            row.fields[name] = Cell(key, data.get(key, current) if data else current)
        for channel in channels:
            price = prices.get((variant.pk, channel.pk))
            cells = []
            for name in ("price", "compare_at_price"):
                key = f"p{variant.pk}-{channel.pk}-{name}"
                current = _text(getattr(price, name, None) if price else None)
                if current and price is not None:
                    current = _text(Decimal(current).normalize() if "E" not in current else current)
                cells.append(Cell(key, data.get(key, current).strip() if data else current))
            row.prices.append((cells[0], cells[1]))
        rows.append(row)
    return rows


def _save_grid(scope: AdminScope, product: Product, channels: list[Channel], rows: list[Row]):
    """Apply every changed cell; return the number of errors (and roll back if any)."""
    actor, shop = scope.current()
    errors = 0
    with transaction.atomic():
        for row in rows:
            variant = row.variant
            changes = {}
            for name, cell in row.fields.items():
                old = _text(getattr(variant, name))
                if cell.value.strip() != old:
                    value: Any = cell.value.strip() or None
                    if name == "weight_grams" and value is not None:
                        if not value.isdigit():
                            cell.error = "A whole number of grams."
                            errors += 1
                            continue
                        value = int(value)
                    if name == "barcode":
                        value = value or ""
                    changes[name] = value
            if changes:
                try:
                    services.variant_update(
                        actor=actor, shop=shop, variant_id=variant.pk, changes=changes
                    )
                except ValidationFailed as exc:
                    errors += 1
                    for error in exc.errors or []:
                        name = str(error.loc[0]) if error.loc else ""
                        target = row.fields.get(name) or next(iter(row.fields.values()))
                        target.error = error.message
            for channel, (price, compare) in zip(channels, row.prices, strict=True):
                existing = VariantChannelPrice.objects.filter(
                    variant=variant, channel=channel
                ).first()
                old_price = _text(existing.price if existing else None)
                old_compare = _text(existing.compare_at_price if existing else None)
                unchanged = _same(price.value, old_price) and _same(compare.value, old_compare)
                if unchanged or (not price.value and not compare.value):
                    continue
                if not price.value:
                    price.error = "A price is needed."
                    errors += 1
                    continue
                try:
                    services.price_set(
                        actor=actor,
                        shop=shop,
                        variant_id=variant.pk,
                        channel_id=channel.pk,
                        price=price.value,
                        compare_at_price=compare.value or None,
                    )
                except ValidationFailed as exc:
                    errors += 1
                    for error in exc.errors or []:
                        name = str(error.loc[0]) if error.loc else "price"
                        (compare if name == "compare_at_price" else price).error = error.message
        if errors:
            transaction.set_rollback(True)
    return errors


def _same(new: str, old: str) -> bool:
    if new == old:
        return True
    try:
        return bool(new) and bool(old) and Decimal(new) == Decimal(old)
    except ArithmeticError:
        return False


def variants_grid_view(
    request: HttpRequest, model_admin: Any, scope: AdminScope, product_id: int
) -> HttpResponse:
    """Show (GET) or save (POST) the variants and prices of one product."""
    product = Product.objects.filter(shop=scope.shop, pk=product_id).first()
    if product is None:
        messages.error(request, "No such product in this shop.")
        return HttpResponseRedirect(reverse("admin:catalog_product_changelist"))
    channels = list(Channel.objects.filter(shop=scope.shop).order_by("pk"))
    may_edit = model_admin.has_change_permission(request, product)
    if request.method == "POST" and may_edit:
        rows = _rows(product, channels, request.POST)
        if _save_grid(scope, product, channels, rows) == 0:
            messages.success(request, "Variants and prices saved.")
            return HttpResponseRedirect(request.path)
        messages.error(request, "Nothing was saved: correct the marked cells.")
    else:
        rows = _rows(product, channels)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Variants and prices: {product.title}",
        "product": product,
        "channels": channels,
        "rows": rows,
        "may_edit": may_edit,
        "opts": model_admin.model._meta,
        "change_url": reverse("admin:catalog_product_change", args=[product.pk]),
    }
    return render(request, "admin/catalog/variants_grid.html", context)
