"""
Generating and recognising secret values handed to machines and customers.

A key is ``<prefix>_<random>``: the prefix says what kind of key it is (so a
leaked key is recognisable in logs and by secret scanners) and the random
part carries 256 bits. Only the SHA-256 of the whole key is stored; with that
much entropy a plain hash is enough, and lookups stay one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

__all__ = [
    "CUSTOMER_TOKEN_PREFIX",
    "PUBLISHABLE_KEY_PREFIX",
    "SECRET_KEY_PREFIX",
    "NewKey",
    "hash_key",
    "new_key",
]

SECRET_KEY_PREFIX = "msk"  # noqa: S105 (a prefix, not a key)
PUBLISHABLE_KEY_PREFIX = "mpk"
CUSTOMER_TOKEN_PREFIX = "mct"  # noqa: S105
DISPLAY_PREFIX_LENGTH = 12


@dataclass(frozen=True, slots=True)
class NewKey:
    raw: str
    """The key itself: show it once, never store it."""
    prefix: str
    """The first characters, stored for recognition in lists."""
    digest: str
    """The SHA-256 hex digest, stored for lookup."""


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_key(prefix: str) -> NewKey:
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(raw=raw, prefix=raw[:DISPLAY_PREFIX_LENGTH], digest=hash_key(raw))
