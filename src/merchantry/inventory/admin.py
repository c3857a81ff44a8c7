"""
Admin screens for inventory.

- **Stock locations**: create, change, deactivate; deleting one that never
  held stock.
- **Inventory** (stock levels): every variant at every location, filtered by
  location and low stock, searched by SKU; the ``on hand`` column is editable
  in the list, and saving it records a stock count through the services.
- **Stock by variant**: a variant's stock at each location, a form to
  adjust or count it, and its latest movements (the ledger).
- **Stock movements**: the ledger, read-only.
- **Products** (the catalog's editor, extended): each variant row shows its
  stock per location and links to its "Stock by variant" page. Catalog sits
  below inventory and may not import it, so inventory re-registers the
  catalog's product admin with a stock-aware variant inline.

Every write goes through :mod:`merchantry.inventory.services`, so the ledger,
the locks and the events are the same as through the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import F, Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import TabularInline
from unfold.decorators import display

from merchantry.catalog.admin import ProductAdmin, VariantInline
from merchantry.catalog.models import Product, ProductVariant
from merchantry.inventory import services
from merchantry.inventory.models import (
    MAX_QUANTITY,
    StockLevel,
    StockLocation,
    StockMovement,
    VariantStock,
)
from merchantry.tenancy.admin_scope import (
    AdminScope,
    ServiceModelForm,
    ShopScopedAdmin,
    get_admin_scope,
)
from merchantry.tenancy.permissions import Perm

__all__ = [
    "StockLevelAdmin",
    "StockLocationAdmin",
    "StockMovementAdmin",
    "StockedProductAdmin",
    "StockedVariantInline",
    "VariantStockAdmin",
]

HISTORY_ROWS = 50


# -- locations ----------------------------------------------------------------------


class LocationForm(ServiceModelForm):
    handle = forms.SlugField(
        required=False, max_length=60, help_text="Made from the name when left empty."
    )

    class Meta:
        model = StockLocation
        fields = (
            "name",
            "handle",
            "is_active",
            "can_ship",
            "can_pickup",
            "line1",
            "line2",
            "city",
            "postal_code",
            "country",
            "subdivision",
            "phone",
        )

    def commit(self, scope: AdminScope) -> StockLocation:
        actor, shop = scope.current()
        data = dict(self.cleaned_data)
        if self.instance._state.adding:
            handle = data.pop("handle") or None
            return services.location_create(actor=actor, shop=shop, handle=handle, **data)
        changes = self.changes()
        if "handle" in changes and not changes["handle"]:
            changes.pop("handle")
        return services.location_update(
            actor=actor, shop=shop, location_id=self.instance.pk, changes=changes
        )


@admin.register(StockLocation)
class StockLocationAdmin(ShopScopedAdmin):
    form = LocationForm
    view_permission = Perm.INVENTORY_VIEW
    manage_permission = Perm.INVENTORY_MANAGE
    list_display = ("name", "handle", "city", "country", "can_ship", "can_pickup", "is_active")
    list_filter = ("is_active", "can_ship", "can_pickup")
    search_fields = ("name", "handle", "city")
    readonly_fields = ("created_at", "updated_at")

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        # The ledger's rows RESTRICT their location; rather than list them as
        # protected, let the service refuse with its advice (deactivate it).
        deleted, counts, perms_needed, _protected = super().get_deleted_objects(objs, request)
        return deleted, counts, perms_needed, []

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: StockLocation) -> None:
        actor, shop = scope.current()
        services.location_delete(actor=actor, shop=shop, location_id=obj.pk)


# -- the inventory screen -------------------------------------------------------------------


class LowStockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("low", "Low stock"), ("out", "Nothing available")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StockLevel]) -> QuerySet:
        if self.value() == "low":
            return queryset.low_stock()
        if self.value() == "out":
            return queryset.filter(on_hand__lte=F("reserved") + F("allocated"))
        return queryset


class CountForm(forms.ModelForm):
    """A row of the inventory list: its ``on_hand`` is a count, recorded by the service."""

    on_hand = forms.IntegerField(min_value=0, max_value=MAX_QUANTITY, label="On hand")

    class Meta:
        model = StockLevel
        fields = ("on_hand",)


@admin.register(StockLevel)
class StockLevelAdmin(ShopScopedAdmin):
    view_permission = Perm.INVENTORY_VIEW
    manage_permission = Perm.INVENTORY_MANAGE
    list_display = (
        "sku",
        "variant_title",
        "location",
        "on_hand",
        "reserved",
        "allocated",
        "available_label",
        "low_stock_threshold",
    )
    list_display_links = ("sku",)
    list_editable = ("on_hand",)
    list_filter = (("location", admin.RelatedOnlyFieldListFilter), LowStockFilter)
    search_fields = ("variant__sku", "variant__title", "variant__product__title")
    list_select_related = ("variant", "variant__product", "location")
    fields = (
        "variant",
        "location",
        "on_hand",
        "reserved",
        "allocated",
        "low_stock_threshold",
        "backorder_limit",
        "updated_at",
    )
    readonly_fields = ("variant", "location", "on_hand", "reserved", "allocated", "updated_at")
    ordering = ("variant__sku", "location__name", "pk")
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # a level appears when stock is received, counted or moved

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger keeps it

    @display(description="SKU", ordering="variant__sku")
    def sku(self, obj: StockLevel) -> str:
        return obj.variant.sku or "—"

    @display(description="Variant")
    def variant_title(self, obj: StockLevel) -> str:
        return f"{obj.variant.product.title} · {obj.variant.title}"

    @display(description="Available", label=True)
    def available_label(self, obj: StockLevel) -> Any:
        available = obj.available
        if available <= 0:
            return "danger", str(available)
        threshold = obj.low_stock_threshold
        if threshold is not None and available <= threshold:
            return "warning", str(available)
        return "success", str(available)

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> type[forms.ModelForm]:
        return CountForm

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        scope = self.scope(request)
        if scope is None:
            raise PermissionError("No current shop.")
        actor, shop = scope.current()
        if "on_hand" in form.changed_data:
            # The list's edit is a count; the service locks the row and writes the ledger.
            services.stock_set(
                actor=actor,
                shop=shop,
                variant_id=obj.variant_id,
                location_id=obj.location_id,
                on_hand=form.cleaned_data["on_hand"],
                note="counted in the admin",
            )
        settings_changed = {
            field: form.cleaned_data[field]
            for field in ("low_stock_threshold", "backorder_limit")
            if field in form.changed_data
        }
        if settings_changed:
            services.level_settings_update(
                actor=actor,
                shop=shop,
                variant_id=obj.variant_id,
                location_id=obj.location_id,
                **settings_changed,
            )


# -- stock by variant ---------------------------------------------------------------------


class LevelInline(TabularInline):
    model = StockLevel
    fk_name = "variant"
    fields = ("location", "on_hand", "reserved", "allocated", "available", "low_stock_threshold")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Stock per location"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # the parent screen has already checked inventory.view

    def get_queryset(self, request: HttpRequest) -> QuerySet[StockLevel]:
        return super().get_queryset(request).select_related("location").order_by("location__name")


class VariantStockForm(ServiceModelForm):
    """Adjust or count a variant's stock at one location."""

    location = forms.ModelChoiceField(queryset=StockLocation.objects.none(), required=False)
    adjust_by = forms.IntegerField(
        required=False,
        min_value=-MAX_QUANTITY,
        max_value=MAX_QUANTITY,
        help_text="Units to add (or remove, negative): a delivery, damage, a found box.",
    )
    count = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_QUANTITY,
        help_text="Or: the number counted; on hand becomes this.",
    )
    note = forms.CharField(required=False, max_length=500)

    class Meta:
        model = VariantStock
        fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope = self.admin_scope
        if scope is not None and scope.shop is not None:
            self.fields["location"].queryset = StockLocation.objects.for_shop(scope.shop)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        adjust, count = data.get("adjust_by"), data.get("count")
        if adjust is not None and count is not None:
            raise forms.ValidationError("Adjust or count, not both.")
        if (adjust is not None or count is not None) and data.get("location") is None:
            self.add_error("location", "Choose the location.")
        if adjust == 0:
            self.add_error("adjust_by", "A change of zero changes nothing.")
        return data

    def commit(self, scope: AdminScope) -> VariantStock:
        actor, shop = scope.current()
        data = self.cleaned_data
        location = data.get("location")
        common = {
            "actor": actor,
            "shop": shop,
            "variant_id": self.instance.pk,
            "note": data["note"],
        }
        if data.get("adjust_by") is not None:
            services.stock_adjust(location_id=location.pk, delta=data["adjust_by"], **common)
        elif data.get("count") is not None:
            services.stock_set(location_id=location.pk, on_hand=data["count"], **common)
        return self.instance


@admin.register(VariantStock)
class VariantStockAdmin(ShopScopedAdmin):
    """The stock side of a variant: per location, adjustable, with its history."""

    form = VariantStockForm
    view_permission = Perm.INVENTORY_VIEW
    manage_permission = Perm.INVENTORY_MANAGE
    inlines = (LevelInline,)
    list_display = ("sku_label", "product_title", "title", "track_inventory", "allow_backorder")
    search_fields = ("sku", "title", "product__title")
    list_select_related = ("product",)
    readonly_fields = ("summary", "history")
    fieldsets = (
        (None, {"fields": ("summary",)}),
        ("Adjust or count", {"fields": ("location", "adjust_by", "count", "note")}),
        ("Latest movements", {"fields": ("history",)}),
    )
    ordering = ("product__title", "position", "pk")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # variants are made in the catalog

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @display(description="SKU", ordering="sku")
    def sku_label(self, obj: VariantStock) -> str:
        return obj.sku or "—"

    @display(description="Product", ordering="product__title")
    def product_title(self, obj: VariantStock) -> str:
        return obj.product.title

    @display(description="Variant")
    def summary(self, obj: VariantStock) -> str:
        tracking = "tracked" if obj.track_inventory else "not tracked (unlimited)"
        backorder = "backorder allowed" if obj.allow_backorder else "no backorder"
        return format_html(
            "<strong>{}</strong> · {} · SKU {} · {}, {}",
            obj.product.title,
            obj.title,
            obj.sku or "—",
            tracking,
            backorder,
        )

    @display(description="History")
    def history(self, obj: VariantStock) -> str:
        rows = list(
            StockMovement.objects.filter(variant_id=obj.pk)
            .select_related("location")
            .order_by("-created_at", "-pk")[:HISTORY_ROWS]
        )
        if not rows:
            return "No movements yet."
        link = reverse("admin:inventory_stockmovement_changelist") + f"?variant__id__exact={obj.pk}"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    row.get_reason_display(),
                    row.location.name,
                    f"{row.on_hand_delta:+d}",
                    f"{row.reserved_delta:+d}",
                    f"{row.allocated_delta:+d}",
                    row.actor,
                    row.reference,
                    row.note,
                )
                for row in rows
            ),
        )
        return format_html(
            '<table class="w-full text-sm"><thead><tr><th>When</th><th>Reason</th>'
            "<th>Location</th><th>On hand</th><th>Reserved</th><th>Allocated</th><th>By</th>"
            "<th>Reference</th><th>Note</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All movements of this variant</a></p>',
            body,
            link,
        )


# -- the ledger ------------------------------------------------------------------------------


@admin.register(StockMovement)
class StockMovementAdmin(ShopScopedAdmin):
    """The stock ledger: append-only, so read-only here."""

    view_permission = Perm.INVENTORY_VIEW
    manage_permission = ""
    list_display = (
        "created_at",
        "reason",
        "sku_label",
        "location",
        "on_hand_delta",
        "reserved_delta",
        "allocated_delta",
        "actor",
        "reference",
    )
    list_filter = ("reason", ("location", admin.RelatedOnlyFieldListFilter))
    search_fields = ("sku", "reference", "note")
    list_select_related = ("location",)
    ordering = ("-created_at", "-pk")
    list_per_page = 100

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in StockMovement._meta.fields]

    @display(description="SKU", ordering="sku")
    def sku_label(self, obj: StockMovement) -> str:
        # The SKU written with the row: it stays when the variant is deleted.
        if obj.sku:
            return obj.sku
        return f"variant {obj.variant_id}" if obj.variant_id else "deleted variant"

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The link from a variant's stock screen filters by variant.
        return lookup == "variant__id__exact" or super().lookup_allowed(lookup, value, request)


# -- stock on the product editor ------------------------------------------------------------


class StockedVariantInline(VariantInline):
    """
    The catalog's read-only variant rows plus a "Stock" column: on hand and
    available at each location the variant has stock at, and a link to its
    "Stock by variant" page to adjust it. The levels of every row come in one
    prefetch query, whatever the number of variants.
    """

    fields = (*VariantInline.fields, "stock")
    readonly_fields = fields
    verbose_name_plural = (
        "Variants (edit SKUs, weights and prices with “Variants and prices” above, "
        "adjust stock with each variant's link)"
    )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        if _may_see_stock(request):
            return fields
        return [field for field in fields if field != "stock"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProductVariant]:
        queryset = super().get_queryset(request)
        if not _may_see_stock(request):
            return queryset
        levels = StockLevel.objects.select_related("location").order_by(
            "location__name", "location_id"
        )
        return queryset.prefetch_related(
            Prefetch("stock_levels", queryset=levels, to_attr="levels_shown")
        )

    @display(description="Stock")
    def stock(self, obj: ProductVariant) -> str:
        levels: list[StockLevel] = getattr(obj, "levels_shown", None) or []
        if levels:
            shown = format_html_join(
                "",
                "<div>{}: {} on hand, {} available</div>",
                ((level.location.name, level.on_hand, level.available) for level in levels),
            )
        else:
            shown = format_html("<div>{}</div>", "No stock yet")
        tracking = "" if obj.track_inventory else format_html("<div>{}</div>", "Not tracked")
        link = reverse("admin:inventory_variantstock_change", args=[obj.pk])
        return format_html(
            '{}{}<a class="text-primary-600 dark:text-primary-500" href="{}">Adjust stock</a>',
            tracking,
            shown,
            link,
        )


def _may_see_stock(request: HttpRequest) -> bool:
    scope = get_admin_scope(request)
    return scope is not None and (
        scope.has_perm(Perm.INVENTORY_VIEW) or scope.has_perm(Perm.INVENTORY_MANAGE)
    )


class StockedProductAdmin(ProductAdmin):
    """The catalog's product editor, with each variant's stock."""

    inlines = tuple(
        StockedVariantInline if inline is VariantInline else inline
        for inline in ProductAdmin.inlines
    )


# Importing merchantry.catalog.admin above registered its ProductAdmin (admin
# autodiscovery also imports catalog first: it is listed before inventory in
# INSTALLED_APPS); replace it with the stock-aware one.
admin.site.unregister(Product)
admin.site.register(Product, StockedProductAdmin)
