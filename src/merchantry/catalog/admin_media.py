"""
The images of a product in its admin screen: previews, alt text, drag to reorder.

Every change goes through :mod:`merchantry.catalog.media`: an upload is checked
by the same validator as the Admin API (in the form's ``clean``, so a bad file
is an error on its row), then stored, ordered and audited by the services when
the page is saved. The inline appears once the product exists (the add page
has none: images need a product to belong to).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from unfold.admin import TabularInline
from unfold.decorators import display
from unfold.forms import PaginationInlineFormSet
from unfold.widgets import UnfoldAdminImageSmallFieldWidget

from merchantry.catalog.media import (
    MAX_MEDIA_PER_PRODUCT,
    media_delete,
    media_reorder,
    media_update,
    media_upload,
    validate_image,
)
from merchantry.catalog.models import ProductMedia
from merchantry.catalog.thumbnails import thumbnail_url
from merchantry.core.errors import ValidationFailed
from merchantry.tenancy.admin_scope import AdminScope, get_admin_scope, scope_permission
from merchantry.tenancy.permissions import Perm

__all__ = ["ProductMediaForm", "ProductMediaFormSet", "ProductMediaInline"]

PREVIEW_SIZE = 160
# A new row nobody dragged goes after the existing images.
_LAST = 1_000_000


class ProductMediaForm(forms.ModelForm):
    """One image row: a file to upload (new rows only), its alt text, its position."""

    image = forms.FileField(
        required=False,
        widget=UnfoldAdminImageSmallFieldWidget,
        help_text="JPEG, PNG, WebP or GIF.",
    )

    class Meta:
        model = ProductMedia
        fields = ("image", "alt", "position")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # An image is replaced by deleting it and adding another: its
            # name (and so every cached copy) never changes.
            self.fields["image"].disabled = True

    def has_changed(self) -> bool:
        if self.instance.pk:
            return super().has_changed()
        # Dragging renumbers every row's position, blank ones too; a new row
        # counts only once it has a file or a text.
        file = self.files.get(self.add_prefix("image"))
        return bool(file or self.data.get(self.add_prefix("alt"), "").strip())

    def clean_image(self) -> Any:
        image = self.cleaned_data.get("image")
        if self.instance.pk:
            return self.instance.image
        if not image:
            raise forms.ValidationError("Choose an image file.", code="required")
        try:
            validate_image(image)
        except ValidationFailed as exc:
            raise forms.ValidationError([e.message for e in exc.errors] or exc.detail) from None
        return image


class ProductMediaFormSet(PaginationInlineFormSet):
    """Saves the rows through the media services instead of ``Model.save()``."""

    admin_scope: ClassVar[AdminScope | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The admin builds the formsets, then validates the product's form,
        # which saves the product through its service (ServiceModelForm), then
        # validates the formsets. A savepoint taken now lets an invalid image
        # undo that save, so the page is saved entirely or not at all (the
        # admin runs the request in a transaction; outside one there is none).
        self._savepoint = (
            transaction.savepoint() if self.is_bound and connection.in_atomic_block else None
        )

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self._savepoint is not None:
            if valid:
                transaction.savepoint_commit(self._savepoint)
            else:
                transaction.savepoint_rollback(self._savepoint)
            self._savepoint = None
        return valid

    def clean(self) -> None:
        super().clean()
        kept = sum(
            1
            for form in self.forms
            if (form.instance.pk or form.has_changed()) and not self._should_delete_form(form)
        )
        if kept > MAX_MEDIA_PER_PRODUCT:
            raise forms.ValidationError(f"A product has at most {MAX_MEDIA_PER_PRODUCT} images.")

    def save(self, commit: bool = True) -> list[Any]:
        if self.admin_scope is None:
            raise PermissionError("No current shop.")
        actor, shop = self.admin_scope.current()
        product_id = self.instance.pk
        self.new_objects: list[Any] = []
        self.changed_objects: list[Any] = []
        self.deleted_objects: list[Any] = []
        order: list[tuple[int, int, int]] = []
        for index, form in enumerate(self.forms):
            if self.can_delete and self._should_delete_form(form):
                if form.instance.pk:
                    media_delete(actor=actor, shop=shop, media_id=form.instance.pk)
                    self.deleted_objects.append(form.instance)
                continue
            if form.instance.pk:
                media = form.instance
                if "alt" in form.changed_data:
                    media = media_update(
                        actor=actor,
                        shop=shop,
                        media_id=media.pk,
                        changes={"alt": form.cleaned_data["alt"]},
                    )
                    self.changed_objects.append((media, ["alt"]))
                position = form.cleaned_data.get("position")
            elif form.has_changed():
                media = media_upload(
                    actor=actor,
                    shop=shop,
                    product_id=product_id,
                    file=form.cleaned_data["image"],
                    alt=form.cleaned_data.get("alt") or "",
                )
                self.new_objects.append(media)
                dragged = "position" in form.changed_data
                position = form.cleaned_data.get("position") if dragged else None
            else:
                continue
            order.append((_LAST if position is None else position, index, media.pk))
        wanted = [pk for _, _, pk in sorted(order)]
        current = list(
            ProductMedia.objects.filter(product_id=product_id)
            .order_by("position", "pk")
            .values_list("pk", flat=True)
        )
        # Skipped when someone added or removed an image meanwhile (the API):
        # the order sent no longer names exactly the product's images.
        if wanted != current and sorted(wanted) == sorted(current):
            media_reorder(actor=actor, shop=shop, product_id=product_id, media_ids=wanted)
        return [*self.new_objects, *(media for media, _ in self.changed_objects)]


class ProductMediaInline(TabularInline):
    model = ProductMedia
    form = ProductMediaForm
    formset = ProductMediaFormSet
    fields = ("preview", "image", "alt", "position")
    readonly_fields = ("preview",)
    ordering_field = "position"
    hide_ordering_field = True
    extra = 0
    max_num = MAX_MEDIA_PER_PRODUCT
    verbose_name = "image"
    verbose_name_plural = "Images"

    @display(description="Preview")
    def preview(self, obj: ProductMedia) -> str:
        if not obj.pk or not obj.image:
            return "-"
        return format_html(
            '<img src="{}" alt="{}" style="max-width:80px;max-height:80px">',
            thumbnail_url(obj.image.name, PREVIEW_SIZE),
            obj.alt,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProductMedia]:
        scope = get_admin_scope(request)
        if scope is None or scope.shop is None:
            return ProductMedia.objects.none()
        return ProductMedia.objects.for_shop(scope.shop).order_by("position", "pk")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        # Hand the scope to the formset, which calls the services.
        return type(formset.__name__, (formset,), {"admin_scope": get_admin_scope(request)})

    # Only on an existing product (obj), with Merchantry's permission codes.

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and (
            scope_permission(request, Perm.CATALOG_VIEW)
            or scope_permission(request, Perm.CATALOG_MANAGE)
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and scope_permission(request, Perm.CATALOG_MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and scope_permission(request, Perm.CATALOG_MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and scope_permission(request, Perm.CATALOG_MANAGE)
