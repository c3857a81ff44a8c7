"""
Feature flags: per-shop switches with installation-wide defaults.

A flag's value is decided, most specific first, by the shop's own row, the
installation's row (``shop_id`` empty), the ``MERCHANTRY_FEATURE_FLAGS``
setting, and finally ``False``. Reads are cached; writes clear the cache and
are audited.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from merchantry.core import audit
from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.core.models import FeatureFlag

__all__ = ["flag_clear", "flag_is_enabled", "flag_set", "flags_for_shop"]

_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CACHE_TIMEOUT = 60


def _shop_id(shop: Any) -> int | None:
    if shop is None:
        return None
    if isinstance(shop, int):
        return shop
    return int(shop.pk)


def _version_key(name: str) -> str:
    return f"flag-version:{name}"


def _cache_key(name: str, shop_id: int | None) -> str:
    # A per-flag version in the key: bumping it invalidates the cached answer
    # of every shop at once, including shops that have no row of their own.
    version = cache.get_or_set(_version_key(name), 1, None)
    return f"flag:{name}:v{version}:{shop_id or 0}"


def _invalidate(name: str) -> None:
    try:
        cache.incr(_version_key(name))
    except ValueError:  # the version key was evicted; any new value will do
        cache.set(_version_key(name), 2, None)


def _validate_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise ValidationFailed(
            "Invalid feature flag name.",
            errors=[FieldError(("name",), "Use lowercase letters, digits and _.", "invalid")],
        )


def flag_is_enabled(name: str, *, shop: Any = None) -> bool:
    """Return whether feature ``name`` is on for ``shop`` (or the installation)."""
    shop_id = _shop_id(shop)
    key = _cache_key(name, shop_id)
    cached = cache.get(key)
    if cached is not None:
        return bool(cached)
    scope = Q(shop_id__isnull=True)
    if shop_id is not None:
        scope |= Q(shop_id=shop_id)
    rows = dict(FeatureFlag.objects.filter(scope, name=name).values_list("shop_id", "enabled"))
    if shop_id is not None and shop_id in rows:
        value = rows[shop_id]
    elif None in rows:
        value = rows[None]
    else:
        value = bool(settings.MERCHANTRY_FEATURE_FLAGS.get(name, False))
    cache.set(key, value, _CACHE_TIMEOUT)
    return value


def flags_for_shop(*, shop: Any = None) -> dict[str, bool]:
    """Return every known flag with its effective value for ``shop``."""
    shop_id = _shop_id(shop)
    values = dict(settings.MERCHANTRY_FEATURE_FLAGS)
    for row in FeatureFlag.objects.filter(shop_id__isnull=True):
        values[row.name] = row.enabled
    if shop_id is not None:
        for row in FeatureFlag.objects.filter(shop_id=shop_id):
            values[row.name] = row.enabled
    return dict(sorted(values.items()))


def flag_set(name: str, enabled: bool, *, shop: Any = None, actor: Any = None) -> FeatureFlag:
    """Switch ``name`` on or off for ``shop`` (or the installation), audited."""
    _validate_name(name)
    shop_id = _shop_id(shop)
    with transaction.atomic():
        flag, _ = FeatureFlag.objects.update_or_create(
            name=name, shop_id=shop_id, defaults={"enabled": enabled}
        )
        audit.record(
            actor, "feature_flag.set", flag, {"name": name, "enabled": enabled}, shop_id=shop_id
        )
        # Now for this connection, and again after commit for readers that
        # cached the old value while the transaction was open.
        _invalidate(name)
        transaction.on_commit(lambda: _invalidate(name))
    return flag


def flag_clear(name: str, *, shop: Any = None, actor: Any = None) -> None:
    """Remove the override so the next level decides again, audited."""
    shop_id = _shop_id(shop)
    with transaction.atomic():
        deleted, _ = FeatureFlag.objects.filter(name=name, shop_id=shop_id).delete()
        if deleted:
            audit.record(actor, "feature_flag.clear", ("feature_flag", name), shop_id=shop_id)
        # Now for this connection, and again after commit for readers that
        # cached the old value while the transaction was open.
        _invalidate(name)
        transaction.on_commit(lambda: _invalidate(name))
