"""
Uploaded files served at ``MEDIA_URL`` when they live in the local media folder.

WhiteNoise serves static files only. With the default storage in the data
folder (``MERCHANTRY_MEDIA_STORAGE=local``), :func:`serve_media` serves the
public part of it (``MERCHANTRY_PUBLIC_MEDIA_PREFIXES``) in development and
under ``merchantry serve`` alike; a reverse proxy in front may serve the same
folder itself. With S3, files have the storage's own URLs and this answers 404.
"""

from __future__ import annotations

import mimetypes
import os

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

__all__ = ["serve_media"]

# Stored names are random and never reused: a file never changes at its URL.
CACHE_FOREVER = "public, max-age=31536000, immutable"


def _local_path(name: str) -> str:
    """Return the file ``name`` names inside the media folder, or raise Http404."""
    storage = default_storage
    if not isinstance(storage, FileSystemStorage):  # the lazy object passes isinstance
        raise Http404("Media are not served from here.")
    segments = name.split("/")
    # Checked before the prefix, which "products/../exports/x" would pass.
    if any(s in ("", ".", "..") for s in segments) or "\\" in name or "\x00" in name:
        raise Http404("No such file.")
    if not name.startswith(tuple(settings.MERCHANTRY_PUBLIC_MEDIA_PREFIXES)):
        raise Http404("No such file.")
    try:
        path = storage.path(name)  # refuses names that leave the folder
    except SuspiciousFileOperation:
        raise Http404("No such file.") from None
    root = os.path.realpath(storage.location)
    real = os.path.realpath(path)
    # realpath also resolves symbolic links, which could point out of the folder.
    if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
        raise Http404("No such file.")
    return real


@require_safe
def serve_media(request: HttpRequest, name: str) -> FileResponse:
    """Serve the public media file ``name`` from the local media folder."""
    path = _local_path(name)
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115
    response["Cache-Control"] = CACHE_FOREVER
    return response
