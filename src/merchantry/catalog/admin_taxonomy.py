"""
Admin screens for the category tree and for collections, one shop at a time.

Categories use treebeard's tree changelist (expand a branch, drag a category
onto another) and its "position / relative to" form, both limited to the
current shop; every change, a drop included, goes through
:mod:`merchantry.catalog.categories`.

Collections are edited through :mod:`merchantry.catalog.collections`. A
manual collection's products are an ordered inline (drag to reorder), saved
in one call to ``collection_set_products``; an automated collection shows a
read-only preview of the first products its rules match. The inline is
validated after the form's service call has run: when it is invalid, the
whole request is rolled back (as treebeard's own admin does), so the page
never half-saves.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from treebeard.admin import TreeAdmin
from treebeard.forms import MoveNodeForm, movenodeform_factory
from unfold.admin import TabularInline
from unfold.decorators import display
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from merchantry.catalog import categories, collections
from merchantry.catalog.models import (
    Category,
    Collection,
    CollectionKind,
    CollectionProduct,
    Product,
)
from merchantry.core.errors import MerchantryError
from merchantry.core.ids import pk_or_none
from merchantry.tenancy.admin_scope import (
    AdminScope,
    ServiceModelForm,
    ShopScopedAdmin,
    get_admin_scope,
    scope_permission,
)
from merchantry.tenancy.permissions import Perm

__all__ = ["CategoryAdmin", "CollectionAdmin"]

PREVIEW_SIZE = 20
_TREE_FIELDS = ("treebeard_position", "treebeard_ref_node")


def _rollback_on_errors(response: HttpResponse) -> HttpResponse:
    # The form's service call has committed its savepoint before the inlines
    # were validated; a page shown again with errors must leave no change.
    if getattr(response, "context_data", {}).get("errors"):
        transaction.set_rollback(True)
    return response


# -- categories -----------------------------------------------------------------------


class CategoryForm(ServiceModelForm, MoveNodeForm):
    """Treebeard's move form, limited to the shop, saved through the category services."""

    handle = forms.SlugField(
        required=False,
        max_length=120,
        help_text="Made from the name when left empty.",
        widget=UnfoldAdminTextInputWidget,
    )

    class Meta:
        model = Category
        fields = ("name", "handle", "description", "seo_title", "seo_description")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["treebeard_ref_node"].empty_label = "(the top level)"
        # Declared by treebeard with Django's plain widgets; styled like the rest.
        for name in _TREE_FIELDS:
            field = self.fields[name]
            field.widget = UnfoldAdminSelectWidget(choices=field.choices)

    def _shop(self) -> Any:
        scope = self.admin_scope
        return scope.shop if scope is not None else None

    def _get_initial(self, instance: Category) -> dict[str, Any]:
        # Treebeard's would look at every shop's top-level categories.
        siblings = categories.category_siblings(instance.shop_id, instance)
        index = [s.pk for s in siblings].index(instance.pk)
        if index:
            return {"treebeard_position": "right", "treebeard_ref_node": siblings[index - 1]}
        parent = categories.category_parent(instance)
        return {"treebeard_position": "first-child", "treebeard_ref_node": parent}

    def _set_ref_model_queryset(self, opts: Any, instance: Category | None) -> None:
        shop = self._shop()
        choices = Category.objects.for_shop(shop) if shop else Category.objects.none()
        if instance is not None and instance.pk:
            # Nothing can be placed relative to itself or its own branch.
            choices = choices.exclude(path__startswith=instance.path)
        self.fields["treebeard_ref_node"].queryset = choices.order_by("path")

    def _placement(self, *, adding: bool) -> dict[str, Any]:
        """Return the service arguments the two treebeard fields ask for."""
        position = self.cleaned_data.get("treebeard_position")
        ref = self.cleaned_data.get("treebeard_ref_node")
        if ref is None:
            # As treebeard does: a new category goes last, a moved one first.
            return {"parent_id": None, "position": None if adding else 0}
        if position == "first-child":
            return {"parent_id": ref.pk, "position": 0}
        if not adding:
            return {"before_id" if position == "left" else "after_id": ref.pk}
        siblings = [s.pk for s in categories.category_siblings(ref.shop_id, ref)]
        parent = categories.category_parent(ref)
        return {
            "parent_id": parent.pk if parent else None,
            "position": siblings.index(ref.pk) + (position == "right"),
        }

    def commit(self, scope: AdminScope) -> Category:
        actor, shop = scope.current()
        fields = {k: v for k, v in self.cleaned_data.items() if k not in _TREE_FIELDS}
        if self.instance._state.adding:
            handle = fields.pop("handle") or None
            return categories.category_create(
                actor=actor, shop=shop, handle=handle, **fields, **self._placement(adding=True)
            )
        changes = {k: v for k, v in self.changes().items() if k not in _TREE_FIELDS}
        if "handle" in changes and not changes["handle"]:
            changes.pop("handle")
        category = self.instance
        with transaction.atomic():
            if changes:
                category = categories.category_update(
                    actor=actor, shop=shop, category_id=category.pk, changes=changes
                )
            if set(self.changed_data) & set(_TREE_FIELDS):
                category = categories.category_move(
                    actor=actor, shop=shop, category_id=category.pk, **self._placement(adding=False)
                )
        return category

    def save(self, commit: bool = True) -> Category:
        # The services have saved (and placed) it; treebeard's save would move it again.
        return forms.ModelForm.save(self, commit=False)


@admin.register(Category)
class CategoryAdmin(TreeAdmin, ShopScopedAdmin):
    form = movenodeform_factory(Category, form=CategoryForm)
    view_permission = Perm.CATALOG_VIEW
    manage_permission = Perm.CATALOG_MANAGE
    list_display = ("name", "handle", "updated_at")
    search_fields = ("name", "handle")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Category]:
        # Treebeard lists one level with its own query; keep it to the shop.
        queryset = super().get_queryset(request)
        scope = self.scope(request)
        if scope is None or scope.shop is None:
            return queryset.none()
        return queryset.filter(shop=scope.shop)

    def children_view(self, request: HttpRequest, parent_id: str) -> HttpResponse:
        scope = self.scope(request)
        shop = scope.shop if scope is not None else None
        pk = pk_or_none(parent_id)
        if shop is None or pk is None or not Category.objects.for_shop(shop).filter(pk=pk).exists():
            raise Http404("No such category.")
        return super().children_view(request, parent_id)

    def move_node(self, request: HttpRequest) -> HttpResponse:
        """Handle a drop from the tree: onto a category (child) or before it (sibling)."""
        scope = self.scope(request)
        if request.method != "POST" or scope is None or not self.has_change_permission(request):
            raise PermissionDenied
        actor, shop = scope.current()
        rows = Category.objects.for_shop(shop)
        node = rows.filter(pk=pk_or_none(request.POST.get("node"))).first()
        target = rows.filter(pk=pk_or_none(request.POST.get("target"))).first()
        relation = request.POST.get("relation")
        if node is None or target is None or relation not in ("child", "sibling"):
            return HttpResponseBadRequest("Invalid form data provided")
        where = {"parent_id": target.pk} if relation == "child" else {"before_id": target.pk}
        try:
            categories.category_move(actor=actor, shop=shop, category_id=node.pk, **where)
        except MerchantryError as exc:
            # The tree's script reloads the page on an error, which shows this.
            messages.error(request, "; ".join(e.message for e in exc.errors) or exc.detail)
            return HttpResponseBadRequest("Move refused")
        messages.info(request, f"Moved {node.name!r}.")
        return HttpResponse("OK")

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Category) -> None:
        actor, shop = scope.current()
        categories.category_delete(actor=actor, shop=shop, category_id=obj.pk)


# -- collections ----------------------------------------------------------------------


class CollectionForm(ServiceModelForm):
    handle = forms.SlugField(
        required=False,
        max_length=255,
        help_text="Made from the title when left empty.",
        widget=UnfoldAdminTextInputWidget,
    )

    class Meta:
        model = Collection
        fields = (
            "title",
            "handle",
            "kind",
            "is_published",
            "rules",
            "rules_match_all",
            "description",
            "seo_title",
            "seo_description",
        )
        help_texts = {
            "rules": (
                'Automated only, e.g. [{"field": "tag", "op": "equals", "value": "summer"}, '
                '{"field": "price", "op": "lte", "value": "50"}]. Fields: tag, product_type, '
                "vendor (op equals), price (op gte or lte)."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.fields["kind"].disabled = True
            self.fields["kind"].help_text = "Fixed once the collection exists."

    def commit(self, scope: AdminScope) -> Collection:
        actor, shop = scope.current()
        data = dict(self.cleaned_data)
        if data.get("rules") is None:
            data["rules"] = []
        if self.instance._state.adding:
            handle = data.pop("handle") or None
            return collections.collection_create(actor=actor, shop=shop, handle=handle, **data)
        changes = {k: data[k] for k in self.changed_data if k != "kind"}
        if "handle" in changes and not changes["handle"]:
            changes.pop("handle")
        return collections.collection_update(
            actor=actor, shop=shop, collection_id=self.instance.pk, changes=changes
        )


class MemberInline(TabularInline):
    model = CollectionProduct
    fields = ("product", "position")
    ordering_field = "position"
    hide_ordering_field = True
    autocomplete_fields = ("product",)
    extra = 0
    verbose_name = "product"
    verbose_name_plural = "Products (drag to reorder)"

    def _may(self, request: HttpRequest, *codes: str) -> bool:
        return any(scope_permission(request, code) for code in codes)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, Perm.CATALOG_VIEW, Perm.CATALOG_MANAGE)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, Perm.CATALOG_MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, Perm.CATALOG_MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, Perm.CATALOG_MANAGE)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[CollectionProduct]:
        return super().get_queryset(request).select_related("product").order_by("position", "pk")

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "product":
            scope = get_admin_scope(request)
            shop = scope.shop if scope is not None else None
            kwargs["queryset"] = Product.objects.for_shop(shop) if shop else Product.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Collection)
class CollectionAdmin(ShopScopedAdmin):
    form = CollectionForm
    view_permission = Perm.CATALOG_VIEW
    manage_permission = Perm.CATALOG_MANAGE
    list_display = ("title", "handle", "kind_label", "is_published", "updated_at")
    list_filter = ("kind", "is_published")
    search_fields = ("title", "handle")
    readonly_fields = ("rule_preview", "created_at", "updated_at")
    ordering = ("title", "id")

    @display(description="Kind", ordering="kind", label={"Manual": "info", "Automated": "success"})
    def kind_label(self, obj: Collection) -> str:
        return "Manual" if obj.kind == CollectionKind.MANUAL else "Automated"

    @display(description=f"Products the rules match (first {PREVIEW_SIZE})")
    def rule_preview(self, obj: Collection | None) -> str:
        if obj is None or obj.pk is None:
            return "Save the collection to see what its rules match."
        if obj.kind != CollectionKind.AUTOMATED:
            return "A manual collection holds the products listed below."
        # The page renders a read-only field more than once; query once.
        if not hasattr(obj, "_rule_preview"):
            obj._rule_preview = self._preview(obj)  # type: ignore[attr-defined]
        return obj._rule_preview  # type: ignore[attr-defined]

    def _preview(self, collection: Collection) -> str:
        products = list(collections.collection_products(collection)[: PREVIEW_SIZE + 1])
        if not products:
            return "No product matches these rules yet."
        items = format_html_join(
            "",
            '<li><a href="{}" class="underline">{}</a></li>',
            (
                (reverse("admin:catalog_product_change", args=[p.pk]), p.title)
                for p in products[:PREVIEW_SIZE]
            ),
        )
        more = format_html("<li>{}</li>", "…and more") if len(products) > PREVIEW_SIZE else ""
        return format_html('<ul class="list-disc ml-4">{}{}</ul>', items, more)

    def get_inlines(self, request: HttpRequest, obj: Collection | None) -> list[type]:
        if obj is not None and obj.kind == CollectionKind.MANUAL:
            return [MemberInline]
        return []

    def _changeform_view(self, *args: Any, **kwargs: Any) -> HttpResponse:
        return _rollback_on_errors(super()._changeform_view(*args, **kwargs))

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not CollectionProduct:
            super().save_formset(request, form, formset, change)
            return
        scope = self.scope(request)
        if scope is None:
            raise PermissionDenied
        actor, shop = scope.current()
        # The admin's change message reads these; the audit trail has the details.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        rows = []
        for index, member in enumerate(formset.forms):
            data = getattr(member, "cleaned_data", None) or {}
            if not data.get("product") or formset._should_delete_form(member):
                continue
            rows.append((data.get("position") or 0, index, data["product"].pk))
        try:
            collections.collection_set_products(
                actor=actor,
                shop=shop,
                collection_id=form.instance.pk,
                product_ids=[pk for *_, pk in sorted(rows)],
            )
        except MerchantryError as exc:
            transaction.set_rollback(True)
            messages.error(request, f"Nothing was saved: {exc.detail}")

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: Collection) -> None:
        actor, shop = scope.current()
        collections.collection_delete(actor=actor, shop=shop, collection_id=obj.pk)
