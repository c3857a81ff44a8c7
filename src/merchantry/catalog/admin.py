"""
Admin screens for products: a searchable, filterable list and an editor.

Every change goes through :mod:`merchantry.catalog.services` (handles,
sanitized descriptions, audit, ``product.changed`` events). Variants are shown
inline, read-only, until the variant grid of the next iteration.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from unfold.admin import TabularInline
from unfold.decorators import action, display

from merchantry.catalog.admin_grid import (
    CategoryFilter,
    ChannelFilter,
    CollectionFilter,
    ProductActionForm,
    StockFilter,
    bulk_action,
    variants_grid_view,
)
from merchantry.catalog.admin_media import ProductMediaInline
from merchantry.catalog.attributes import attribute_create, attribute_delete, attribute_update
from merchantry.catalog.models import Attribute, Product, ProductStatus, ProductVariant
from merchantry.catalog.services import product_archive, product_create, product_update
from merchantry.core.errors import MerchantryError
from merchantry.tenancy.admin_scope import AdminScope, ServiceModelForm, ShopScopedAdmin
from merchantry.tenancy.permissions import Perm

__all__ = ["AttributeAdmin", "ProductAdmin"]


class TagsField(forms.CharField):
    """Tags typed as a comma-separated line, stored as a list."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(tag) for tag in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            return [str(tag) for tag in value]
        return [tag.strip() for tag in str(value or "").split(",") if tag.strip()]


class ProductForm(ServiceModelForm):
    tags = TagsField(required=False, help_text="Comma-separated, e.g. summer, linen.")
    handle = forms.SlugField(
        required=False, max_length=255, help_text="Made from the title when left empty."
    )

    class Meta:
        model = Product
        fields = (
            "title",
            "handle",
            "status",
            "description",
            "product_type",
            "vendor",
            "tags",
            "seo_title",
            "seo_description",
            "attributes",
        )

    def commit(self, scope: AdminScope) -> Product:
        actor, shop = scope.current()
        data = dict(self.cleaned_data)
        if self.instance._state.adding:
            handle = data.pop("handle") or None
            return product_create(actor=actor, shop=shop, handle=handle, **data)
        changes = self.changes()
        if "handle" in changes and not changes["handle"]:
            changes.pop("handle")
        return product_update(actor=actor, shop=shop, product_id=self.instance.pk, changes=changes)


class VariantInline(TabularInline):
    model = ProductVariant
    fields = ("title", "sku", "barcode", "option_values", "weight_grams", "track_inventory")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = (
        "Variants (edit SKUs, weights and prices with “Variants and prices” above)"
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # the parent screen has already checked catalog.view

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProductVariant]:
        return super().get_queryset(request).order_by("position", "pk")


@admin.register(Product)
class ProductAdmin(ShopScopedAdmin):
    form = ProductForm
    view_permission = Perm.CATALOG_VIEW
    manage_permission = Perm.CATALOG_MANAGE
    inlines = (VariantInline, ProductMediaInline)
    list_display = ("title", "handle", "status_label", "product_type", "vendor", "updated_at")
    list_filter = (
        "status",
        CategoryFilter,
        CollectionFilter,
        ChannelFilter,
        StockFilter,
        "product_type",
        "vendor",
    )
    search_fields = ("title", "handle", "variants__sku")
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-updated_at", "-id")
    action_form = ProductActionForm
    actions = (
        "publish_products",
        "unpublish_products",
        "tag_products",
        "untag_products",
        "activate_products",
        "archive_products",
    )
    actions_detail = ("open_variants_grid",)
    list_per_page = 50

    def get_urls(self) -> list[Any]:
        grid = path(
            "<int:product_id>/variants/",
            self.admin_site.admin_view(self.variants_grid),
            name="catalog_product_variants",
        )
        return [grid, *super().get_urls()]

    def variants_grid(self, request: HttpRequest, product_id: int) -> HttpResponse:
        scope = self.scope(request)
        if scope is None or scope.shop is None or not self.has_view_permission(request):
            raise PermissionDenied
        return variants_grid_view(request, self, scope, product_id)

    @action(description="Variants and prices", url_path="variants-grid", icon="table")
    def open_variants_grid(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:catalog_product_variants", args=[object_id]))

    @action(
        description="Publish (channel slug in the box; blank: every channel)",
        permissions=["manage"],
    )
    def publish_products(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        bulk_action(request, self.scope(request), queryset, "publish")

    @action(
        description="Unpublish (channel slug in the box; blank: every channel)",
        permissions=["manage"],
    )
    def unpublish_products(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        bulk_action(request, self.scope(request), queryset, "unpublish")

    @action(description="Add the tag in the box", permissions=["manage"])
    def tag_products(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        bulk_action(request, self.scope(request), queryset, "tag")

    @action(description="Remove the tag in the box", permissions=["manage"])
    def untag_products(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        bulk_action(request, self.scope(request), queryset, "untag")

    @action(description="Set active", permissions=["manage"])
    def activate_products(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        bulk_action(request, self.scope(request), queryset, "active")

    @display(
        description="Status",
        ordering="status",
        label={"Active": "success", "Draft": "info", "Archived": "warning"},
    )
    def status_label(self, obj: Product) -> str:
        return ProductStatus(obj.status).label

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Product], search_term: str
    ) -> tuple[QuerySet[Product], bool]:
        queryset, _ = super().get_search_results(request, queryset, search_term)
        # The SKU join can repeat a product; distinct keeps one row each.
        return queryset.distinct(), False

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Product) -> None:
        # Orders name products: "delete" archives, as in the Admin API.
        actor, shop = scope.current()
        product_archive(actor=actor, shop=shop, product_id=obj.pk)

    @action(description="Archive selected products", permissions=["manage"])
    def archive_products(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        scope = self.scope(request)
        if scope is None or scope.shop is None:
            return
        actor, shop = scope.current()
        done = 0
        for product_id in queryset.values_list("pk", flat=True):
            try:
                product_archive(actor=actor, shop=shop, product_id=product_id)
            except MerchantryError as exc:
                messages.error(request, exc.detail)
                return
            done += 1
        messages.success(request, f"Archived {done} product(s).")


class AttributeForm(ServiceModelForm):
    class Meta:
        model = Attribute
        fields = ("name", "slug", "type", "choices", "is_facet", "position")

    def commit(self, scope: AdminScope) -> Attribute:
        actor, shop = scope.current()
        data = dict(self.cleaned_data)
        if self.instance._state.adding:
            return attribute_create(actor=actor, shop=shop, **data)
        changes = {k: v for k, v in self.changes().items() if k not in ("slug", "type")}
        return attribute_update(
            actor=actor, shop=shop, attribute_id=self.instance.pk, changes=changes
        )


@admin.register(Attribute)
class AttributeAdmin(ShopScopedAdmin):
    form = AttributeForm
    view_permission = Perm.CATALOG_VIEW
    manage_permission = Perm.CATALOG_MANAGE
    list_display = ("name", "slug", "type", "is_facet", "position")
    list_filter = ("type", "is_facet")
    search_fields = ("name", "slug")
    ordering = ("position", "id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Stored values are keyed by slug and typed: both are fixed once made.
        return ("slug", "type") if obj is not None else ()

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Attribute) -> None:
        actor, shop = scope.current()
        attribute_delete(actor=actor, shop=shop, attribute_id=obj.pk)


# The other catalog screens register themselves when imported.
from merchantry.catalog import admin_io, admin_taxonomy  # noqa: E402, F401
