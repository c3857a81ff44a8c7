"""
``Idempotency-Key`` for Admin API writes: a retried request changes nothing twice.

The first request with a key runs, and its response is stored with the key
in the same transaction as the change, so either both exist or neither does.
A later request with the key and the same method, path and body gets the
stored response again (with ``Idempotent-Replayed: true``); with anything
else, a 422 (``idempotency_key_reused``). Two requests with one key at once:
the second waits on the first's row (the key is unique per shop), then rolls
its own change back and answers with the first one's response.

Only successful responses are stored: a refused request wrote nothing, so
repeating it is safe and may succeed once the cause is fixed. Keys are kept
24 hours (``prune_idempotency_records``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from ninja import Schema, Status

from merchantry.core.errors import BadRequest, ValidationFailed
from merchantry.inventory.models import IdempotencyRecord
from merchantry.tenancy.context import request_context

__all__ = ["HEADER", "idempotent"]

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def _fingerprint(request: HttpRequest, payload: Schema | None) -> str:
    body = payload.model_dump(mode="json") if payload is not None else None
    canonical = json.dumps(
        [request.method, request.path, body], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> JsonResponse:
    if record.fingerprint != fingerprint:
        raise ValidationFailed(
            f"This {HEADER} was used with another request; use a new key for a new request.",
            code="idempotency_key_reused",
        )
    response = JsonResponse(record.response, status=record.status_code, safe=False)
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(
    request: HttpRequest,
    *,
    key: str | None,
    payload: Schema | None,
    out: type[Schema],
    run: Callable[[], Any],
    status: int = 200,
) -> Any:
    """
    Run ``run`` (a service call returning what ``out`` serialises) at most
    once per ``key``; without a key, just run it.
    """
    if key is None:
        return Status(status, run())
    if not key or len(key) > 255 or not key.isascii() or not key.isprintable():
        raise BadRequest(
            f"{HEADER} must be 1-255 printable ASCII characters.", code="invalid_idempotency_key"
        )
    shop = request_context(request).shop
    fingerprint = _fingerprint(request, payload)
    found = IdempotencyRecord.objects.for_shop(shop).filter(key=key).first()
    if found is not None:
        return _replay(found, fingerprint)
    try:
        with transaction.atomic():
            body = out.from_orm(run()).model_dump(mode="json")
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    shop=shop, key=key, fingerprint=fingerprint, status_code=status, response=body
                )
    except IntegrityError:
        # A concurrent request with this key committed first: ours rolled back.
        found = IdempotencyRecord.objects.for_shop(shop).filter(key=key).first()
        if found is None:
            raise
        return _replay(found, fingerprint)
    # The stored JSON, sent as it is, so the replay is byte for byte the same.
    return JsonResponse(body, status=status, safe=False)
