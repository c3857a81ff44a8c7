"""
Signing outbound webhooks, exactly as ``docs/webhooks.md`` documents it.

A delivery carries ``Merchantry-Webhook-Timestamp: <unix seconds>`` and
``Merchantry-Signature: v1=<hex>``, where ``<hex>`` is the HMAC-SHA256 of
``f"{timestamp}.{body}"`` (the raw body bytes) keyed with the endpoint's
secret. While a rotated-out secret is still valid the header holds one
``v1=`` value per secret, comma-separated; a receiver accepts any of them.
The timestamp is signed too, so a captured delivery cannot be replayed later
than the receiver's tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

__all__ = [
    "EVENT_TYPE_HEADER",
    "ID_HEADER",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "new_secret",
    "sign",
    "signature_header",
    "verify",
]

ID_HEADER = "Merchantry-Webhook-Id"
TIMESTAMP_HEADER = "Merchantry-Webhook-Timestamp"
SIGNATURE_HEADER = "Merchantry-Signature"
EVENT_TYPE_HEADER = "Merchantry-Event-Type"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
TOLERANCE_SECONDS = 300
_SCHEME = "v1"


def new_secret() -> str:
    """Return a new signing secret (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``b"{timestamp}." + body`` keyed with ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: int, body: bytes) -> str:
    """Return the ``Merchantry-Signature`` value: one ``v1=`` signature per secret."""
    return ",".join(f"{_SCHEME}={sign(secret, timestamp, body)}" for secret in secrets_)


def verify(
    *,
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """
    Return True when ``signature`` signs ``body`` at ``timestamp`` with ``secret``.

    False (never an exception, which would say why) for a missing or malformed
    header, a timestamp further than ``tolerance`` seconds from now, or no
    matching signature; signatures are compared in constant time.
    """
    if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit():
        return False
    sent_at = int(timestamp)
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        return False
    expected = sign(secret, sent_at, body)
    matched = False
    for part in signature.split(","):
        scheme, _, value = part.strip().partition("=")
        # No early exit: every candidate is compared, whichever matches.
        if scheme == _SCHEME and hmac.compare_digest(value.encode(), expected.encode()):
            matched = True
    return matched
