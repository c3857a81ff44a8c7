"""
Product media: image uploads checked with Pillow, their order, alt text and variants.

An upload is accepted only when Pillow decodes it as a JPEG, PNG, WebP or GIF
(the format is read from the data, never from the file name or the declared
content type), within the size and pixel limits of the installation
(``MERCHANTRY_MAX_IMAGE_BYTES``, ``MERCHANTRY_MAX_IMAGE_PIXELS``). It is stored
in the default storage under a random name with the extension of its real
format, so a name tells nothing about the shop's files and is never reused,
which is what lets thumbnails and originals be cached forever.

A product's media are numbered 0, 1, 2... by ``position``; every service keeps
that numbering and ``Product.featured_media`` (the first image) up to date, and
records ``product.changed`` in its transaction.
"""

from __future__ import annotations

import io
import logging
import secrets
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from merchantry.catalog.models import Product, ProductMedia, ProductVariant
from merchantry.catalog.services import product_get
from merchantry.catalog.thumbnails import THUMBNAIL_SIZES, thumbnail_name
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, FieldError, NotFound, ValidationFailed, invalid_field
from merchantry.core.events import record_event
from merchantry.core.ids import pk_or_none
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_MEDIA_PER_PRODUCT",
    "ImageInfo",
    "media_delete",
    "media_get",
    "media_reorder",
    "media_update",
    "media_upload",
    "validate_image",
]

logger = logging.getLogger(__name__)

# Pillow's format name -> the extension stored files get.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
MAX_MEDIA_PER_PRODUCT = 100
ALT_MAX_LENGTH = 255
_MEDIA_FIELDS = ("alt", "position", "variant_ids")


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What Pillow found in an upload: its real format and size."""

    format: str
    extension: str
    width: int
    height: int
    size_bytes: int


def _file_error(message: str, code: str) -> ValidationFailed:
    return invalid_field("file", message, code)


def _as_file(file: Any) -> IO[bytes]:
    """Return ``file`` as a readable, seekable binary file."""
    if isinstance(file, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(file))
    if not hasattr(file, "read"):
        raise TypeError(f"expected an uploaded file or bytes, not {type(file).__name__}")
    return file


def _size_of(fp: IO[bytes]) -> int:
    size = getattr(fp, "size", None)
    if isinstance(size, int):
        return size
    fp.seek(0, io.SEEK_END)
    size = fp.tell()
    fp.seek(0)
    return size


def _open(fp: IO[bytes], max_pixels: int) -> Image.Image:
    fp.seek(0)
    # Pillow refuses images of more than twice MAX_IMAGE_PIXELS while reading
    # the header and warns above it; both mean "too many pixels" here. The
    # explicit check in validate_image() does not depend on either (the limit
    # is global to the process and warning filters are not thread-safe).
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(fp)


def validate_image(file: Any) -> ImageInfo:
    """
    Return what ``file`` holds, or raise a 422 :class:`ValidationFailed` on ``file``.

    The codes: ``too_large`` (more bytes than ``MERCHANTRY_MAX_IMAGE_BYTES``),
    ``not_an_image`` (Pillow cannot decode it, or it is truncated),
    ``unsupported_format`` (an image, but not JPEG, PNG, WebP or GIF) and
    ``too_many_pixels`` (more than ``MERCHANTRY_MAX_IMAGE_PIXELS``: a
    decompression bomb is one, whatever its size in bytes).
    """
    fp = _as_file(file)
    max_bytes = settings.MERCHANTRY_MAX_IMAGE_BYTES
    max_pixels = settings.MERCHANTRY_MAX_IMAGE_PIXELS
    size = _size_of(fp)
    if size > max_bytes:
        raise _file_error(f"The file is larger than {max_bytes} bytes.", "too_large")
    if size == 0:
        raise _file_error("The file is empty.", "not_an_image")
    not_an_image = _file_error("The file is not an image Merchantry can read.", "not_an_image")
    too_many_pixels = _file_error(
        f"The image has more than {max_pixels} pixels.", "too_many_pixels"
    )
    # Pillow raises many kinds of exceptions for malformed data (OSError,
    # SyntaxError, ValueError, struct.error, EOFError...): any of them while
    # decoding untrusted bytes means "not an image", never a server error.
    try:
        with _open(fp, max_pixels) as image:
            image_format = image.format or ""
            width, height = image.size
            if image_format in ALLOWED_FORMATS and 0 < width * height <= max_pixels:
                image.verify()  # checksums and structure, without decoding
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except Exception:
        raise not_an_image from None
    if image_format not in ALLOWED_FORMATS:
        raise _file_error(
            f"{image_format or 'This'} images are not accepted; use JPEG, PNG, WebP or GIF.",
            "unsupported_format",
        )
    if width < 1 or height < 1:
        raise not_an_image
    if width * height > max_pixels:
        raise too_many_pixels
    try:
        # verify() leaves the image unusable; decoding the pixels is the
        # only way to find a truncated file.
        with _open(fp, max_pixels) as image:
            image.load()
            orientation = image.getexif().get(0x0112)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except Exception:
        raise not_an_image from None
    finally:
        fp.seek(0)
    if orientation in (5, 6, 7, 8):  # EXIF: rotated a quarter turn, shown transposed
        width, height = height, width
    return ImageInfo(image_format, ALLOWED_FORMATS[image_format], width, height, size)


# -- helpers ---------------------------------------------------------------------


def _changed(product: Product) -> None:
    # As catalog.services records it: one event type for every product change.
    record_event(
        shop_id=product.shop_id,
        type="product.changed",
        payload={"product_id": str(product.pk), "handle": product.handle},
    )


def media_get(*, shop: Shop, media_id: int) -> ProductMedia:
    media = ProductMedia.objects.for_shop(shop).filter(pk=media_id).first()
    if media is None:
        raise NotFound("No such media.")
    return media


def _ordered(product: Product) -> list[ProductMedia]:
    return list(ProductMedia.objects.filter(product=product).order_by("position", "pk"))


def _renumber(media: Sequence[ProductMedia]) -> None:
    """Give ``media`` positions 0, 1, 2... in their order, writing only changes."""
    moved = []
    for index, item in enumerate(media):
        if item.position != index:
            item.position = index
            moved.append(item)
    if moved:
        ProductMedia.objects.bulk_update(moved, ["position"])


def _touch(product: Product, media: Sequence[ProductMedia]) -> None:
    """Point ``featured_media`` at the first of ``media`` and mark the product changed."""
    first = media[0].pk if media else None
    product.featured_media_id = first
    product.updated_at = timezone.now()
    Product.objects.filter(pk=product.pk).update(
        featured_media_id=first, updated_at=product.updated_at
    )
    _changed(product)


def _variants(product: Product, variant_ids: Iterable[Any]) -> list[ProductVariant]:
    ids = list(variant_ids)
    wanted = [pk_or_none(str(value)) for value in ids]
    found = {
        v.pk: v
        for v in ProductVariant.objects.filter(
            product=product, pk__in=[pk for pk in wanted if pk is not None]
        )
    }
    errors = [
        FieldError(("variant_ids", index), "No such variant of this product.", "not_found")
        for index, pk in enumerate(wanted)
        if pk not in found
    ]
    if errors:
        raise ValidationFailed(errors=errors)
    return [found[pk] for pk in dict.fromkeys(wanted) if pk is not None]


def _clean_alt(alt: Any) -> str:
    text = str(alt or "").replace("\x00", "").strip()
    if len(text) > ALT_MAX_LENGTH:
        raise invalid_field("alt", f"At most {ALT_MAX_LENGTH} characters.", "too_long")
    return text


def _stored_names(name: str) -> list[str]:
    return [name, *(thumbnail_name(name, size) for size in sorted(THUMBNAIL_SIZES))]


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:
            # The row is gone either way; a leftover file is only wasted space.
            logger.warning("media file %s could not be deleted", name, exc_info=True)


# -- services -------------------------------------------------------------------


def media_upload(
    *,
    actor: Actor,
    shop: Shop,
    product_id: int,
    file: Any,
    alt: str = "",
    variant_ids: Iterable[Any] | None = None,
) -> ProductMedia:
    """
    Add an image after the product's others and return it.

    ``file`` is an uploaded file, a file object or bytes. Nothing is stored
    unless the product exists in ``shop`` and the image is valid.
    """
    actor.require(Perm.CATALOG_MANAGE)
    product = product_get(shop=shop, product_id=product_id)
    alt = _clean_alt(alt)
    info = validate_image(file)
    variant_ids = list(variant_ids or [])
    _variants(product, variant_ids)
    if ProductMedia.objects.filter(product=product).count() >= MAX_MEDIA_PER_PRODUCT:
        raise Conflict(f"A product has at most {MAX_MEDIA_PER_PRODUCT} images.")
    fp = _as_file(file)
    fp.seek(0)
    media = ProductMedia(
        shop=shop,
        product=product,
        alt=alt,
        width=info.width,
        height=info.height,
        format=info.format,
        size_bytes=info.size_bytes,
    )
    # Stored before the transaction: writing up to 20 MB (to S3, perhaps) must
    # not happen while the product row is locked.
    content = fp if isinstance(fp, File) else File(fp)
    media.image.save(f"{secrets.token_urlsafe(16)}.{info.extension}", content, save=False)
    try:
        with transaction.atomic():
            product = product_get(shop=shop, product_id=product_id, lock=True)
            existing = _ordered(product)
            if len(existing) >= MAX_MEDIA_PER_PRODUCT:
                raise Conflict(f"A product has at most {MAX_MEDIA_PER_PRODUCT} images.")
            media.product = product
            media.position = len(existing)
            media.save()
            if variant_ids:
                media.variants.set(_variants(product, variant_ids))
            audit.record(
                actor,
                "product.media_add",
                product,
                {"media_id": media.pk, "format": info.format, "size_bytes": info.size_bytes},
                shop_id=shop.pk,
            )
            _touch(product, [*existing, media])
    except BaseException:
        _delete_files([media.image.name])
        raise
    return media


def media_update(
    *, actor: Actor, shop: Shop, media_id: int, changes: Mapping[str, Any]
) -> ProductMedia:
    """
    Change an image's ``alt``, ``position`` (its place among the product's
    images, from 0; past the end means last) or ``variant_ids`` (variants of
    the same product it is shown for; empty for all).
    """
    actor.require(Perm.CATALOG_MANAGE)
    unknown = set(changes) - set(_MEDIA_FIELDS)
    if unknown:
        raise TypeError(f"unknown media fields {sorted(unknown)!r}")
    with transaction.atomic():
        media = media_get(shop=shop, media_id=media_id)
        product = product_get(shop=shop, product_id=media.product_id, lock=True)
        media = media_get(shop=shop, media_id=media_id)  # as it is under the lock
        variants = _variants(product, changes["variant_ids"]) if "variant_ids" in changes else None
        if "alt" in changes:
            media.alt = _clean_alt(changes["alt"])
            media.save(update_fields=["alt"])
        if variants is not None:
            media.variants.set(variants)
        ordered = _ordered(product)
        if changes.get("position") is not None:
            position = int(changes["position"])
            if position < 0:
                raise invalid_field("position", "Must be 0 or more.", "negative")
            ordered = [m for m in ordered if m.pk != media.pk]
            ordered.insert(min(position, len(ordered)), media)
            _renumber(ordered)
        audit.record(
            actor,
            "product.media_update",
            product,
            {
                "media_id": media.pk,
                **{k: v for k, v in changes.items() if k != "variant_ids"},
                **({"variant_ids": [v.pk for v in variants]} if variants is not None else {}),
            },
            shop_id=shop.pk,
        )
        _touch(product, ordered)
    media.refresh_from_db()
    return media


def media_reorder(
    *, actor: Actor, shop: Shop, product_id: int, media_ids: Sequence[Any]
) -> list[ProductMedia]:
    """Put the product's images in the order of ``media_ids`` (all of them, once each)."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        product = product_get(shop=shop, product_id=product_id, lock=True)
        current = {m.pk: m for m in _ordered(product)}
        wanted = [pk_or_none(str(value)) for value in media_ids]
        if len(set(wanted)) != len(wanted) or set(wanted) != set(current):
            raise invalid_field(
                "media_ids",
                "List every image of the product exactly once.",
                "mismatch",
            )
        ordered = [current[pk] for pk in wanted if pk is not None]
        _renumber(ordered)
        audit.record(
            actor, "product.media_reorder", product, {"media_ids": wanted}, shop_id=shop.pk
        )
        _touch(product, ordered)
    return ordered


def media_delete(*, actor: Actor, shop: Shop, media_id: int) -> None:
    """Remove an image; its files (and thumbnails) go once the deletion commits."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        media = media_get(shop=shop, media_id=media_id)
        product = product_get(shop=shop, product_id=media.product_id, lock=True)
        names = _stored_names(media.image.name)
        audit.record(
            actor,
            "product.media_delete",
            product,
            {"media_id": media.pk, "image": media.image.name},
            shop_id=shop.pk,
        )
        # Unset first: the foreign key would otherwise null it behind our back.
        Product.objects.filter(pk=product.pk, featured_media=media).update(featured_media=None)
        media.delete()
        remaining = _ordered(product)
        _renumber(remaining)
        _touch(product, remaining)
        transaction.on_commit(partial(_delete_files, names))
