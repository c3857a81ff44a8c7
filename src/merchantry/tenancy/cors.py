"""
Per-channel CORS for the Store API.

django-cors-headers has no static origins here (``CORS_ALLOWED_ORIGINS`` is
empty); it asks :func:`allow_store_origin` through its
``check_request_enabled`` signal instead. An Origin is allowed on
``/api/v<n>/store/`` when it is in the ``allowed_origins`` of an active channel
of an active shop. The Admin API is never opened to other origins.

The set of allowed origins is kept in Django's cache (Redis when configured,
so all processes agree) under a version that :func:`invalidate_store_origins`
replaces whenever a channel changes: a new origin works on the next request,
and a reader that raced the change can only have cached under the old version.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest

from merchantry.tenancy.models import Channel, ShopStatus

__all__ = [
    "allow_store_origin",
    "allowed_store_origins",
    "invalidate_store_origins",
    "normalize_origin",
]

STORE_API_PATH = re.compile(r"^/api/v\d+/store/")
VERSION_KEY = "tenancy:cors:version"
ORIGINS_KEY = "tenancy:cors:origins:{version}"
# Bounds how long a change made outside the services (a shell, SQL) takes to
# be seen; changes through the services are seen at once.
ORIGINS_TIMEOUT_SECONDS = 300
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """Return ``scheme://host[:port]`` lower-cased, default port dropped, or None."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown_port = f":{port}" if port and port != _DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host}{shown_port}"


def _current_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        # add(), not set(): two processes starting together agree on one.
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY) or "unversioned"
    return str(version)


def _load_origins() -> frozenset[str]:
    rows = Channel.objects.filter(is_active=True, shop__status=ShopStatus.ACTIVE).values_list(
        "allowed_origins", flat=True
    )
    return frozenset(
        normalized
        for origins in rows
        for origin in origins or ()
        if isinstance(origin, str) and (normalized := normalize_origin(origin))
    )


def allowed_store_origins() -> frozenset[str]:
    """Return the origins some active channel allows, from the cache when fresh."""
    key = ORIGINS_KEY.format(version=_current_version())
    origins = cache.get(key)
    if origins is None:
        origins = _load_origins()
        cache.set(key, origins, timeout=ORIGINS_TIMEOUT_SECONDS)
    return frozenset(origins)


def invalidate_store_origins() -> None:
    """
    Make the next request re-read the allowed origins; call after a channel
    (or a shop's status) changes. Inside a transaction it takes effect on
    commit, so no reader can cache the state from before the change.
    """
    transaction.on_commit(lambda: cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None))


def allow_store_origin(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """
    Answer django-cors-headers' ``check_request_enabled``: True when the
    request is for the Store API and its Origin is allowed by a channel.
    """
    # The signal is sent for every request, storefront pages included: stay
    # cheap and touch the cache only for cross-origin Store API calls.
    origin = request.headers.get("Origin")
    if not origin or not STORE_API_PATH.match(request.path_info):
        return False
    normalized = normalize_origin(origin)
    return normalized is not None and normalized in allowed_store_origins()
