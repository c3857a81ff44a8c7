"""
The example plugin's webhook signatures, in the common Stripe-like scheme.

The sender puts ``X-Example-Signature: t=<unix seconds>,v1=<hex>`` on each
request, where ``<hex>`` is HMAC-SHA256, keyed with the shop's API key, of
``"<t>." + raw body``. A signature older or newer than the tolerance is
refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from merchantry.plugins.spec import InboundWebhook, VerifiedWebhook, WebhookRejected

__all__ = ["SIGNATURE_HEADER", "TOLERANCE_SECONDS", "sign", "verify"]

SIGNATURE_HEADER = "X-Example-Signature"
TOLERANCE_SECONDS = 300


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """Return the hex signature of ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _header(webhook: InboundWebhook) -> str:
    wanted = SIGNATURE_HEADER.lower()
    return next((v for k, v in webhook.headers.items() if k.lower() == wanted), "")


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookRejected(f"malformed {SIGNATURE_HEADER} header", status=400)
    return timestamp, signatures


def verify(webhook: InboundWebhook, *, secret: str) -> VerifiedWebhook:
    """Return the verified event in ``webhook``, or raise :class:`WebhookRejected`."""
    header = _header(webhook)
    if not header:
        raise WebhookRejected(f"missing {SIGNATURE_HEADER} header", status=401)
    timestamp, signatures = _parse(header)
    # The request's arrival time is the clock, so a job replaying a stored
    # webhook judges it by when it came, not by when it is processed.
    age = webhook.received_at.timestamp() - timestamp
    if abs(age) > TOLERANCE_SECONDS:
        raise WebhookRejected("signature timestamp outside the tolerance", status=401)
    expected = sign(webhook.body, secret=secret, timestamp=timestamp)
    # compare_digest takes as long whatever the first differing byte, so the
    # answer time does not leak how much of a forged signature was right.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookRejected("signature does not match", status=401)
    try:
        payload = json.loads(webhook.body)
    except ValueError:
        raise WebhookRejected("body is not JSON", status=400) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        raise WebhookRejected("body has no event id", status=400)
    return VerifiedWebhook(
        event_id=payload["id"],
        event_type=str(payload.get("type", "")),
        occurred_at=_time(payload.get("created")),
        payload=payload,
    )


def _time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):  # out of the platform's range
        return None
