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
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import TabularInline
from unfold.decorators import action, display

from merchantry.catalog.models import Product, ProductStatus, ProductVariant
from merchantry.catalog.services import product_archive, product_create, product_update
from merchantry.core.errors import MerchantryError
from merchantry.tenancy.admin_scope import AdminScope, ServiceModelForm, ShopScopedAdmin
from merchantry.tenancy.permissions import Perm

__all__ = ["ProductAdmin"]


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
    verbose_name_plural = "Variants (edit through the Admin API for now)"

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
    inlines = (VariantInline,)
    list_display = ("title", "handle", "status_label", "product_type", "vendor", "updated_at")
    list_filter = ("status", "product_type", "vendor")
    search_fields = ("title", "handle", "variants__sku")
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-updated_at", "-id")
    actions = ("archive_products",)
    list_per_page = 50

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


from merchantry.catalog import admin_io  # noqa: E402, F401  (imports and exports, read-only)
