"""
Thumbnails of product images, made on first request and kept in storage.

:func:`thumbnail_url` only formats a string (no query, no storage access), so
listings can link thumbnails of every product at no cost. The first request
for a thumbnail URL (:func:`thumbnail_view`) makes it with Pillow: fitted
within ``size`` x ``size``, the aspect ratio kept, turned upright by its EXIF
orientation, saved as WebP under ``thumbs/<size>/<image name>.webp`` in the
default storage. Later requests serve that file without touching the original.

Originals are stored under random, never reused names, so a thumbnail never
changes once made: responses may be cached for a year (``immutable``).
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.http import require_safe
from PIL import Image, ImageOps

__all__ = [
    "CACHE_FOREVER",
    "THUMBNAIL_SIZES",
    "make_thumbnail",
    "thumbnail_name",
    "thumbnail_url",
    "thumbnail_view",
]

logger = logging.getLogger(__name__)

THUMBNAIL_SIZES = frozenset({64, 160, 320, 640, 1280})
THUMBS_FOLDER = "thumbs"
CONTENT_TYPE = "image/webp"
CACHE_FOREVER = "public, max-age=31536000, immutable"
WEBP_QUALITY = 82

# The names media_upload() gives originals; nothing else has a thumbnail.
# Matching the whole name (no "..", no leading "/", no other folder) is also
# what keeps a thumbnail URL from naming any other file.
IMAGE_NAME_RE = re.compile(r"products/[0-9]{1,18}/[A-Za-z0-9_-]{1,100}\.(?:jpg|png|webp|gif)")


def thumbnail_name(image_name: str, size: int) -> str:
    """Return where the ``size`` thumbnail of ``image_name`` is kept in storage."""
    return f"{THUMBS_FOLDER}/{size}/{image_name}.webp"


def thumbnail_url(image_name: str, size: int) -> str:
    """
    Return the URL of the ``size`` thumbnail of the stored image ``image_name``.

    A pure function: it neither queries nor touches storage (the thumbnail is
    made when the URL is first requested). ``size`` must be one of
    :data:`THUMBNAIL_SIZES`.
    """
    if size not in THUMBNAIL_SIZES:
        raise ValueError(f"no thumbnail size {size}; use one of {sorted(THUMBNAIL_SIZES)}")
    return f"{settings.MEDIA_URL}{thumbnail_name(image_name, size)}"


def make_thumbnail(original: Any, size: int) -> bytes:
    """Return ``original`` (a binary file) fitted within ``size`` x ``size``, as WebP."""
    # Originals were checked on upload; the limit still guards against a file
    # placed in storage by other means.
    Image.MAX_IMAGE_PIXELS = settings.MERCHANTRY_MAX_IMAGE_PIXELS
    with Image.open(original) as image:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: far less memory
        # and time for a large photo.
        image.draft("RGB", (size, size))
        upright = ImageOps.exif_transpose(image)
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
            upright.mode == "P" and "transparency" in upright.info
        )
        converted = upright.convert("RGBA" if has_alpha else "RGB")
        converted.thumbnail((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        converted.save(out, "WEBP", quality=WEBP_QUALITY)
        return out.getvalue()


def _cached(response: HttpResponseBase) -> HttpResponseBase:
    response["Cache-Control"] = CACHE_FOREVER
    return response


@require_safe
def thumbnail_view(request: HttpRequest, size: str, name: str) -> HttpResponseBase:
    """Serve the ``size`` thumbnail of ``name``, making and storing it the first time."""
    if not size.isdigit() or int(size) not in THUMBNAIL_SIZES:
        raise Http404("No such thumbnail size.")
    if not IMAGE_NAME_RE.fullmatch(name):
        raise Http404("No such image.")
    target = thumbnail_name(name, int(size))
    storage = default_storage
    try:
        stored = storage.open(target, "rb")
    except FileNotFoundError:
        pass
    else:
        return _cached(FileResponse(stored, content_type=CONTENT_TYPE))
    try:
        with storage.open(name, "rb") as original:
            data = make_thumbnail(original, int(size))
    except FileNotFoundError:
        raise Http404("No such image.") from None
    except Exception:
        # Not decodable after all (replaced in storage, corrupt on disk): there
        # is no thumbnail to give, and nothing the client could do about it.
        logger.warning("no thumbnail for %s", name, exc_info=True)
        raise Http404("No such image.") from None
    saved = storage.save(target, ContentFile(data))
    if saved != target:
        # Another request made it at the same moment; keep theirs.
        storage.delete(saved)
    return _cached(HttpResponse(data, content_type=CONTENT_TYPE))
