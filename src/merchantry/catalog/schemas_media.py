"""Admin API DTOs for product media."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import NonNegativeInt

from merchantry.catalog.media import ALT_MAX_LENGTH, MAX_MEDIA_PER_PRODUCT
from merchantry.catalog.thumbnails import thumbnail_url
from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.tenancy.schemas import IdText, Text

__all__ = ["LISTED_THUMBNAIL_SIZES", "MediaOrderIn", "MediaOut", "MediaPatch", "MediaUploadForm"]

# The thumbnails each media object links; any size of THUMBNAIL_SIZES works in the URL.
LISTED_THUMBNAIL_SIZES = (160, 320, 640)

Alt = Text(ALT_MAX_LENGTH)


def _absolute(context: Any, url: str) -> str:
    # Headless clients live on other origins: give them URLs they can fetch.
    request = (context or {}).get("request")
    if request is not None and url.startswith("/"):
        return request.build_absolute_uri(url)
    return url


class MediaOut(ObjectOut):
    product_id: str
    url: str = Field(..., description="The original, as uploaded.")
    alt: str
    position: int
    width: int
    height: int
    format: str = Field(..., description="JPEG, PNG, WEBP or GIF (read from the data).")
    size_bytes: int
    variant_ids: list[str] = Field(..., description="Shown for these variants; empty: for all.")
    thumbnails: dict[str, str] = Field(
        ..., description="WebP thumbnail URLs by size in pixels (fitted within size x size)."
    )
    created_at: datetime

    @staticmethod
    def resolve_product_id(obj: Any) -> str:
        return str(obj.product_id)

    @staticmethod
    def resolve_url(obj: Any, context: Any) -> str:
        return _absolute(context, obj.image.url)

    @staticmethod
    def resolve_variant_ids(obj: Any) -> list[str]:
        return [str(variant.pk) for variant in obj.variants.all()]

    @staticmethod
    def resolve_thumbnails(obj: Any, context: Any) -> dict[str, str]:
        return {
            str(size): _absolute(context, thumbnail_url(obj.image.name, size))
            for size in LISTED_THUMBNAIL_SIZES
        }


class MediaUploadForm(Schema):
    """The form fields of an upload, beside its ``file``."""

    alt: Alt = Field("", description="Text describing the image (for screen readers).")


class MediaPatch(InputSchema):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    alt: Alt = Field(None)
    position: NonNegativeInt = Field(None, description="0 is first; past the end means last.")
    variant_ids: list[IdText] = Field(
        None, max_length=250, description="Variants of the same product; empty: all."
    )


class MediaOrderIn(InputSchema):
    media_ids: list[IdText] = Field(
        ..., max_length=MAX_MEDIA_PER_PRODUCT, description="Every image of the product, in order."
    )
