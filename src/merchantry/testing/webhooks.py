"""
Signing webhooks in tests the way providers sign them.

Most providers sign ``HMAC-SHA256(secret, "<timestamp><separator><raw body>")``
and send the timestamp and the signature in one header; they differ in the
header's name and layout. :func:`sign_webhook` takes both as parameters::

    sign_webhook(body, secret="whsec_test")                  # X-Signature: t=...,v1=<hex>
    sign_webhook(body, secret=s, header="Stripe-Signature")   # Stripe's layout
    sign_webhook(                                             # body only, base64 (Shopify)
        body, secret=s, header="X-Shopify-Hmac-Sha256", template="{signature}",
        sign_timestamp=False, encoding="base64",
    )
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from merchantry.plugins.spec import InboundWebhook

__all__ = ["DEFAULT_TEMPLATE", "sign_webhook", "signed_webhook", "webhook_body"]

DEFAULT_TEMPLATE = "t={timestamp},v1={signature}"


def webhook_body(payload: bytes | str | Mapping[str, Any]) -> bytes:
    """Return ``payload`` as raw bytes (a mapping is JSON-encoded compactly)."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":")).encode()


def sign_webhook(
    payload: bytes | str | Mapping[str, Any],
    *,
    secret: str | bytes,
    timestamp: int | None = None,
    header: str = "X-Signature",
    template: str = DEFAULT_TEMPLATE,
    separator: str = ".",
    sign_timestamp: bool = True,
    encoding: str = "hex",
) -> dict[str, str]:
    """
    Return the header that signs ``payload``: HMAC-SHA256 keyed with
    ``secret`` over ``timestamp + separator + body`` (the body alone when
    ``sign_timestamp`` is false), rendered through ``template`` (which may
    use ``{timestamp}`` and ``{signature}``). ``encoding`` is ``"hex"`` or
    ``"base64"``. ``timestamp`` defaults to now.
    """
    body = webhook_body(payload)
    when = int(time.time()) if timestamp is None else timestamp
    message = (f"{when}{separator}".encode() if sign_timestamp else b"") + body
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, message, hashlib.sha256)
    if encoding == "hex":
        signature = digest.hexdigest()
    elif encoding == "base64":
        signature = base64.b64encode(digest.digest()).decode()
    else:
        raise ValueError("encoding is 'hex' or 'base64'")
    return {header: template.format(timestamp=when, signature=signature)}


def signed_webhook(
    payload: bytes | str | Mapping[str, Any],
    *,
    secret: str | bytes,
    timestamp: int | None = None,
    received_at: datetime | None = None,
    path: str = "",
    headers: Mapping[str, str] | None = None,
    **signing: Any,
) -> InboundWebhook:
    """
    Return an :class:`InboundWebhook` carrying ``payload`` signed with
    ``secret`` (``signing`` takes :func:`sign_webhook`'s options), received
    at ``received_at`` (default: the signature's time).
    """
    when = int(time.time()) if timestamp is None else timestamp
    all_headers = {
        "Content-Type": "application/json",
        **(headers or {}),
        **sign_webhook(payload, secret=secret, timestamp=when, **signing),
    }
    return InboundWebhook(
        path=path,
        headers=all_headers,
        body=webhook_body(payload),
        received_at=received_at or datetime.fromtimestamp(when, UTC),
    )
