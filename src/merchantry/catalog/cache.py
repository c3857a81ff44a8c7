"""
The Store API's read cache: whole responses per channel, under a version per shop.

Every catalog change records an event (``product.changed``, ``category.changed``,
...); right after its commit :func:`bump` moves the shop's version on, so the
next read builds a fresh answer and the old entries are never read again (they
expire by themselves). A read takes the version *before* it reads the
database, so an answer built from data older than a change is stored under
the version that change already replaced.

The cache must be shared by every web process for this to hold, so it is on
(``MERCHANTRY_STORE_CACHE_SECONDS``, 60 by default) only with Redis; with the
per-process memory cache of a laptop install it is off. Entries live at most
that long, which also bounds how late a scheduled ``published_at`` shows up.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.http.response import HttpResponseBase

from merchantry.core.events import register_commit_listener

__all__ = [
    "EVENT_PREFIXES",
    "Entry",
    "bump",
    "cacheable",
    "connect",
    "enabled",
    "is_cacheable",
    "version",
]

_MARK = "_merchantry_store_cacheable"

EVENT_PREFIXES = ("product.", "category.", "collection.", "attribute.", "inventory.", "channel.")


def _version_key(shop_id: int) -> str:
    return f"catalog:version:{shop_id}"


def enabled() -> bool:
    return getattr(settings, "MERCHANTRY_STORE_CACHE_SECONDS", 0) > 0


def version(shop_id: int) -> int:
    """Return the shop's catalog version, starting one if the cache has none."""
    key = _version_key(shop_id)
    current = cache.get(key)
    if current is None:
        # A fresh start is the clock, not 1: after an eviction the new version
        # must not equal one that old entries were stored under.
        cache.add(key, time.time_ns(), timeout=None)
        current = cache.get(key)
    return int(current)


def bump(shop_id: int) -> None:
    """Make every cached Store answer of the shop stale."""
    key = _version_key(shop_id)
    try:
        cache.incr(key)
    except ValueError:  # no version yet (or evicted): any new one will do
        cache.set(key, time.time_ns(), timeout=None)


def _on_commit(event_type: str, shop_id: int | None) -> None:
    if shop_id is not None and event_type.startswith(EVENT_PREFIXES):
        bump(shop_id)


def connect() -> None:
    register_commit_listener("catalog-cache", _on_commit)


class Entry:
    """
    One cached Store answer: a channel's answer to a path and its parameters.

    The shop's version is read when the entry is made, *before* the answer is
    built, and the answer is stored under that version.
    """

    __slots__ = ("key",)

    def __init__(
        self, shop_id: int, channel_id: int, name: str, params: Iterable[tuple[str, object]]
    ) -> None:
        digest = hashlib.blake2b(repr(list(params)).encode(), digest_size=16).hexdigest()
        self.key = f"store:{shop_id}:{version(shop_id)}:{channel_id}:{name}:{digest}"

    def get(self) -> bytes | None:
        return cache.get(self.key)

    def set(self, body: bytes) -> None:
        cache.set(self.key, body, timeout=settings.MERCHANTRY_STORE_CACHE_SECONDS)


def cacheable(response: HttpResponse) -> HttpResponse:
    """
    Mark a Store answer as the same for every shopper of its channel, so the
    read cache (``merchantry.api.store_cache``) may keep it.
    """
    setattr(response, _MARK, True)
    return response


def is_cacheable(response: HttpResponseBase) -> bool:
    return getattr(response, _MARK, False) and response.status_code == 200
