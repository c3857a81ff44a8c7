"""
Delivering domain events to a shop's webhook endpoints.

:func:`fan_out` is the outbox sink (see :mod:`merchantry.core.events`): for
each event it writes one pending :class:`WebhookDelivery` per subscribed
endpoint and enqueues a job per delivery, so a slow or failing endpoint never
holds up the others. :func:`deliver` makes one attempt: a signed POST of
``{"id", "type", "created_at", "shop", "data"}``, timed, logged, and on a
transient failure (network error, timeout, 408, 429, 5xx) followed by a new
pending attempt after :data:`RETRY_SCHEDULE`. Any other answer, including a
redirect, is final: the receiver understood the request and refused it, and
sending the same bytes again would get the same answer. A final failure can
be replayed by hand once the receiver is fixed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from merchantry import __version__
from merchantry.core.events import DomainEvent
from merchantry.core.http import (
    NO_RETRIES,
    BlockedUrl,
    OutboundError,
    RetryableError,
    UpstreamTimeout,
    make_client,
    parse_retry_after,
)
from merchantry.core.logging import get_logger
from merchantry.core.models import OutboxEvent
from merchantry.tenancy.models import Shop
from merchantry.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from merchantry.webhooks.signing import (
    EVENT_TYPE_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_header,
)

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_SCHEDULE",
    "TIMEOUT_SECONDS",
    "build_body",
    "deliver",
    "enqueue_due",
    "enqueue_on_commit",
    "fan_out",
    "retry_delay",
]

TIMEOUT_SECONDS = 10.0
RETRY_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
"""The wait after failed attempt 1, 2, ...: 8 attempts over about 45 hours."""
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
MAX_RETRY_AFTER = timedelta(hours=24)
CLAIM_LEASE = timedelta(seconds=TIMEOUT_SECONDS * 6)
"""Longer than any attempt can take, so a live worker never loses its claim."""
SWEEP_BATCH = 500
REQUEUE_AFTER = timedelta(minutes=5)
USER_AGENT = f"Merchantry-Webhooks/{__version__}"

logger = get_logger(__name__)


def retry_delay(attempt: int, retry_after: float | None = None) -> timedelta:
    """Return the wait after failed ``attempt``; a longer ``Retry-After`` (capped) wins."""
    delay = RETRY_SCHEDULE[min(max(attempt, 1), len(RETRY_SCHEDULE)) - 1]
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay


# -- the outbox sink ---------------------------------------------------------------------


def _enqueue_delivery(delivery_id: int) -> None:
    from merchantry.webhooks.tasks import deliver_webhook  # the tasks module imports this one

    deliver_webhook.enqueue(delivery_id=delivery_id)


def enqueue_on_commit(delivery_id: int) -> None:
    """Enqueue the attempt's job once the current transaction commits."""

    def enqueue() -> None:
        _enqueue_delivery(delivery_id)

    # robust: the change has committed by then, and if enqueueing fails the
    # periodic sweep (enqueue_due) sends the attempt instead. (A named
    # function, not a partial: Django logs a robust hook's __qualname__.)
    transaction.on_commit(enqueue, robust=True)


def fan_out(event: DomainEvent) -> int:
    """
    Create the first delivery attempt of ``event`` for each subscribed endpoint.

    Idempotent: a repeated call (the outbox retrying after a crash) finds the
    rows already there and creates none. Return how many were created.
    """
    if event.shop_id is None or event.outbox_id is None:
        return 0
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(shop_id=event.shop_id, is_active=True)
        if endpoint.subscribes_to(event.type)
    ]
    if not endpoints:
        return 0
    now = timezone.now()
    with transaction.atomic():
        existing = set(
            WebhookDelivery.objects.filter(
                event_id=event.outbox_id, endpoint__in=endpoints
            ).values_list("endpoint_id", flat=True)
        )
        created = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    shop_id=event.shop_id,
                    endpoint=endpoint,
                    event_id=event.outbox_id,
                    event_type=event.type,
                    attempt=1,
                    next_attempt_at=now,
                    queued_at=now,
                )
                for endpoint in endpoints
                if endpoint.pk not in existing
            ]
        )
        for delivery in created:
            enqueue_on_commit(delivery.pk)
    logger.info(
        "webhook_fan_out", event_id=event.outbox_id, type=event.type, deliveries=len(created)
    )
    return len(created)


# -- one attempt -----------------------------------------------------------------------


def build_body(event: OutboxEvent, shop: Shop) -> bytes:
    """Return the JSON body of ``event``'s deliveries: the same bytes for every attempt."""
    document = {
        "id": str(event.uid),
        "type": event.type,
        "created_at": event.occurred_at,
        "shop": {"id": str(shop.pk), "slug": shop.slug},
        "data": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    retry_after: float | None = None


class _SendFailed(Exception):
    """No answer from the receiver; ``retryable`` when trying later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _allow_private() -> bool:
    return bool(getattr(settings, "MERCHANTRY_WEBHOOKS_ALLOW_PRIVATE_URLS", False))


def _post(url: str, body: bytes, headers: dict[str, str]) -> _Answer:
    """
    POST ``body`` to ``url`` and return the status, never reading the response body.

    Through the platform's outbound client: its SSRF guard checks the address
    actually connected to (the endpoint's host may resolve to a private
    address since it was saved), redirects are not followed, and it does not
    retry (the delivery schedule does). Error messages never contain the URL:
    it may carry a token of the receiver's in its query string.
    """
    client = make_client(
        name="webhooks",
        timeout=TIMEOUT_SECONDS,
        retries=NO_RETRIES,
        follow_redirects=False,
        raise_for_status=False,
        allow_private=_allow_private(),
    )
    try:
        with client, client.stream("POST", url, content=body, headers=headers) as response:
            return _Answer(
                response.status_code, parse_retry_after(response.headers.get("Retry-After"))
            )
    except UpstreamTimeout:
        raise _SendFailed(f"Timed out after {TIMEOUT_SECONDS:g} s.", retryable=True) from None
    except BlockedUrl:
        raise _SendFailed(
            "Refused: the host resolves to a private or local address.", retryable=False
        ) from None
    except RetryableError as exc:
        raise _SendFailed(f"Could not connect ({type(exc).__name__}).", retryable=True) from None
    except OutboundError as exc:
        raise _SendFailed(f"The exchange failed ({type(exc).__name__}).", retryable=False) from None


def _classify(answer: _Answer) -> tuple[str, bool, str]:
    """Return (status, retryable, error) for the receiver's answer."""
    code = answer.status
    if 200 <= code < 300:
        return DeliveryStatus.SUCCEEDED, False, ""
    if code in (408, 429) or code >= 500:
        return DeliveryStatus.FAILED, True, f"The receiver answered {code}."
    if 300 <= code < 400:
        return (
            DeliveryStatus.FAILED,
            False,
            f"The receiver answered {code}; redirects are not followed.",
        )
    return DeliveryStatus.FAILED, False, f"The receiver answered {code}."


def _claim(delivery_id: int, now: datetime) -> bool:
    # One conditional UPDATE: of two workers handed the same delivery, one wins.
    return (
        WebhookDelivery.objects.due(now)
        .filter(pk=delivery_id)
        .update(claimed_until=now + CLAIM_LEASE)
        == 1
    )


def _finish(
    delivery: WebhookDelivery,
    *,
    status: str,
    code: int | None,
    elapsed_ms: int | None,
    error: str,
    retry_in: timedelta | None,
) -> WebhookDelivery | None:
    """Record the attempt's outcome, and schedule the next one; return it, if any."""
    now = timezone.now()
    next_at = now + retry_in if retry_in is not None else None
    follow_up = None
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            response_status_code=code,
            response_time_ms=elapsed_ms,
            error=error[:500],
            attempted_at=now,
            delivered_at=now if status == DeliveryStatus.SUCCEEDED else None,
            next_attempt_at=next_at,
            claimed_until=None,
        )
        if next_at is not None:
            try:
                with transaction.atomic():
                    follow_up = WebhookDelivery.objects.create(
                        shop_id=delivery.shop_id,
                        endpoint_id=delivery.endpoint_id,
                        event_id=delivery.event_id,
                        event_type=delivery.event_type,
                        attempt=delivery.attempt + 1,
                        next_attempt_at=next_at,
                    )
            except IntegrityError:
                pass  # a replay already took this attempt number; it is the retry
    return follow_up


def deliver(delivery_id: int) -> WebhookDelivery | None:
    """
    Make the pending attempt ``delivery_id`` if it is due and nobody else is.

    Return the attempt as recorded, or None when there was nothing to do.
    """
    if not _claim(delivery_id, timezone.now()):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event", "shop").get(
        pk=delivery_id
    )
    endpoint = delivery.endpoint
    log = logger.bind(
        delivery_id=delivery.pk,
        endpoint_id=endpoint.pk,
        event_id=delivery.event_id,
        type=delivery.event_type,
        attempt=delivery.attempt,
    )
    if not endpoint.is_active:
        _finish(
            delivery,
            status=DeliveryStatus.FAILED,
            code=None,
            elapsed_ms=None,
            error="The endpoint is disabled.",
            retry_in=None,
        )
        log.info("webhook_skipped_disabled_endpoint")
        return _reload(delivery)
    body = build_body(delivery.event, delivery.shop)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: str(delivery.event.uid),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(
            endpoint.signing_secrets(timezone.now()), timestamp, body
        ),
        EVENT_TYPE_HEADER: delivery.event_type,
    }
    started = time.perf_counter()
    code: int | None = None
    retry_after = None
    try:
        answer = _post(endpoint.url, body, headers)
    except _SendFailed as exc:
        status, retryable, error = DeliveryStatus.FAILED, exc.retryable, str(exc)
    else:
        code, retry_after = answer.status, answer.retry_after
        status, retryable, error = _classify(answer)
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    will_retry = retryable and not delivery.is_replay and delivery.attempt < MAX_ATTEMPTS
    _finish(
        delivery,
        status=status,
        code=code,
        elapsed_ms=elapsed_ms,
        error=error,
        retry_in=retry_delay(delivery.attempt, retry_after) if will_retry else None,
    )
    log.info(
        "webhook_attempt",
        status=status,
        response_status=code,
        duration_ms=elapsed_ms,
        error=error or None,
        will_retry=will_retry,
    )
    return _reload(delivery)


def _reload(delivery: WebhookDelivery) -> WebhookDelivery:
    delivery.refresh_from_db()
    return delivery


def enqueue_due(*, limit: int = SWEEP_BATCH) -> int:
    """
    Enqueue a job for every due attempt not queued recently; return how many.

    Finds the retries when their time comes, and first attempts whose job was
    lost. ``queued_at`` keeps a backed-up queue from getting the same attempt
    again every sweep; the claim in :func:`deliver` keeps a duplicate job from
    sending twice.
    """
    now = timezone.now()
    stale = now - REQUEUE_AFTER
    ids = list(
        WebhookDelivery.objects.due(now)
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
    for delivery_id in ids:
        _enqueue_delivery(delivery_id)
    return len(ids)
