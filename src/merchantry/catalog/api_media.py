"""Admin API for product media: upload (multipart), list, change, reorder, delete."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from merchantry.catalog import media as services
from merchantry.catalog.models import Product, ProductMedia, ProductVariant
from merchantry.catalog.schemas_media import MediaOrderIn, MediaOut, MediaPatch, MediaUploadForm
from merchantry.core.errors import NotFound
from merchantry.core.ids import parse_id
from merchantry.tenancy.context import request_context
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm

__all__ = ["admin_router"]

admin_router = Router(tags=["catalog"])


def _media(shop: Shop) -> QuerySet[ProductMedia]:
    return ProductMedia.objects.for_shop(shop).prefetch_related(
        Prefetch("variants", queryset=ProductVariant.objects.only("pk").order_by("pk"))
    )


def _one(shop: Shop, media_id: int) -> ProductMedia:
    media = _media(shop).filter(pk=media_id).first()
    if media is None:
        raise NotFound("No such media.")
    return media


def _product_media(shop: Shop, product_id: int) -> list[ProductMedia]:
    if not Product.objects.for_shop(shop).filter(pk=product_id).exists():
        raise NotFound("No such product.")
    return list(_media(shop).filter(product_id=product_id).order_by("position", "pk"))


@admin_router.get(
    "/products/{product_id}/media", response=list[MediaOut], summary="A product's images, in order"
)
def media_list(request: HttpRequest, product_id: str) -> list[ProductMedia]:
    ctx = request_context(request)
    ctx.actor.require(Perm.CATALOG_VIEW)
    return _product_media(ctx.shop, parse_id(product_id, what="product"))


@admin_router.post(
    "/products/{product_id}/media",
    response={201: MediaOut},
    summary="Upload an image (multipart/form-data: file, alt)",
)
def media_create(
    request: HttpRequest,
    product_id: str,
    file: File[UploadedFile],
    form: Form[MediaUploadForm],
) -> Status[ProductMedia]:
    ctx = request_context(request)
    media = services.media_upload(
        actor=ctx.actor,
        shop=ctx.shop,
        product_id=parse_id(product_id, what="product"),
        file=file,
        alt=form.alt,
    )
    return Status(201, _one(ctx.shop, media.pk))


@admin_router.patch(
    "/media/{media_id}",
    response=MediaOut,
    summary="Change an image's alt text, position or variants",
)
def media_patch(request: HttpRequest, media_id: str, payload: MediaPatch) -> ProductMedia:
    ctx = request_context(request)
    pk = parse_id(media_id, what="media")
    changes = payload.model_dump(exclude_unset=True)
    services.media_update(actor=ctx.actor, shop=ctx.shop, media_id=pk, changes=changes)
    return _one(ctx.shop, pk)


@admin_router.delete("/media/{media_id}", response={204: None}, summary="Delete an image")
def media_delete(request: HttpRequest, media_id: str) -> Status[None]:
    ctx = request_context(request)
    services.media_delete(actor=ctx.actor, shop=ctx.shop, media_id=parse_id(media_id, what="media"))
    return Status(204, None)


@admin_router.put(
    "/products/{product_id}/media/order",
    response=list[MediaOut],
    summary="Put the product's images in this order (all of them)",
)
def media_order(request: HttpRequest, product_id: str, payload: MediaOrderIn) -> list:
    ctx = request_context(request)
    pk = parse_id(product_id, what="product")
    services.media_reorder(
        actor=ctx.actor, shop=ctx.shop, product_id=pk, media_ids=payload.media_ids
    )
    return _product_media(ctx.shop, pk)
