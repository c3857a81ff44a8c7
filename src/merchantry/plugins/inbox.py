"""
The webhook inbox: one entrance for every plugin's webhooks.

    POST /webhooks/<plugin_id>/<token>/[<path>]

``token`` is the installation's unguessable webhook token, so the URL names
one shop's installation of one plugin. The request is answered in the
provider's terms (a status code and a tiny JSON body), not as a problem: it is
not an API call.

1. The installation is found by its token (then the token is compared in
   constant time and the plugin id checked); an unknown URL, or a plugin that
   is not enabled, is 404.
2. The plugin verifies the signature on the **raw body**. A rejection is
   answered with its status (400/401), logged without the body, and nothing is
   stored.
3. A verified event is stored, deduplicated on the provider's event id per
   installation, and answered 200 at once; a duplicate is answered 200 and not
   processed again.
4. A job processes it after the commit (:func:`process_event`). A failure is
   retried with exponential back-off up to :data:`MAX_ATTEMPTS`, then the event
   is ``failed``: visible in the admin and the Admin API, and replayable.

Providers deliver at least once and out of order: plugins make processing
idempotent and compare the resource's own timestamps before applying a change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.utils import timezone
from django.utils.datastructures import CaseInsensitiveMapping
from django.views.decorators.csrf import csrf_exempt

from merchantry.core.errors import MerchantryError
from merchantry.core.logging import get_logger
from merchantry.plugins import registry, services, tasks
from merchantry.plugins.models import (
    ERROR_MAX_LENGTH,
    PluginInstallation,
    WebhookEvent,
    WebhookEventStatus,
)
from merchantry.plugins.spec import (
    InboundWebhook,
    Plugin,
    VerifiedWebhook,
    WebhookRejected,
    secret_fields,
)

__all__ = [
    "MAX_ATTEMPTS",
    "process_event",
    "receive_webhook",
    "requeue_due",
    "retry_delay",
    "safe_headers",
    "store_event",
]

MAX_ATTEMPTS = 8
"""Attempts before an event is left ``failed`` (about two hours of back-off)."""
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
STALE_AFTER = timedelta(minutes=15)
"""A ``processing`` event older than this was abandoned (its worker stopped)."""
SWEEP_GRACE = timedelta(minutes=5)
SWEEP_BATCH = 500
EVENT_ID_MAX_LENGTH = 255

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")
_REJECTION_STATUSES = frozenset({400, 401, 403, 404, 410})
logger = get_logger(__name__)


# -- headers we keep -------------------------------------------------------------------

_ALWAYS_KEPT = frozenset({"content-type", "user-agent"})
# Words that mark a provider's delivery metadata: Stripe-Signature,
# X-Shopify-Hmac-Sha256, Paypal-Transmission-Id, webhook-timestamp...
_METADATA_WORDS = frozenset(
    {
        "signature",
        "sig",
        "hmac",
        "timestamp",
        "time",
        "id",
        "event",
        "topic",
        "delivery",
        "transmission",
        "webhook",
        "type",
        "version",
        "cert",
    }
)
# ...unless they may carry a credential or a person's address.
_NEVER_KEPT_WORDS = frozenset(
    {
        "authorization",
        "auth",
        "cookie",
        "token",
        "key",
        "secret",
        "password",
        "session",
        "forwarded",
        "ip",
        "real",
    }
)
_MAX_KEPT_HEADERS = 30
_MAX_HEADER_VALUE = 1024


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """
    Return the headers worth storing with an event: content type, user agent
    and the provider's signature, timestamp and id headers; never
    ``Authorization``, ``Cookie`` or anything that may carry a credential.
    """
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        words = set(re.split(r"[-_]", lowered))
        if lowered in _ALWAYS_KEPT or (words & _METADATA_WORDS and not words & _NEVER_KEPT_WORDS):
            kept[lowered] = str(value)[:_MAX_HEADER_VALUE]
        if len(kept) >= _MAX_KEPT_HEADERS:
            break
    return kept


# -- receiving -------------------------------------------------------------------------


def _answer(status: int, **body: Any) -> HttpResponse:
    return JsonResponse(body, status=status)


def _find_installation(plugin_id: str, token: str) -> PluginInstallation | None:
    if not registry.PLUGIN_ID_RE.fullmatch(plugin_id) or not _TOKEN_RE.fullmatch(token):
        return None
    installation = PluginInstallation.objects.filter(webhook_token=token).first()
    if installation is None:
        return None
    # The index lookup found the row; the comparisons that decide are made
    # in constant time, so response timing says nothing about the token.
    token_ok = hmac.compare_digest(installation.webhook_token.encode(), token.encode())
    plugin_ok = hmac.compare_digest(installation.plugin_id.encode(), plugin_id.encode())
    if not (token_ok and plugin_ok) or not installation.is_enabled:
        return None
    return installation


def _usable(plugin_id: str) -> Plugin | None:
    loaded = registry.get_plugin(plugin_id)
    return loaded.plugin if loaded is not None and loaded.usable else None


def _json_safe(payload: Mapping[str, Any]) -> dict[str, Any]:
    # The payload is stored and handed back to the plugin when the job runs;
    # values JSON cannot hold (datetimes, decimals) come back as strings.
    data = json.loads(json.dumps(dict(payload), default=str))
    return data if isinstance(data, dict) else {}


def _event_id(verified: VerifiedWebhook, body: bytes) -> str:
    event_id = str(verified.event_id or "")
    if not event_id or len(event_id) > EVENT_ID_MAX_LENGTH:
        # A provider without event ids (or with huge ones): identical bodies
        # are the same event.
        return "sha256:" + hashlib.sha256(body).hexdigest()
    return event_id


def store_event(
    installation: PluginInstallation, inbound: InboundWebhook, verified: VerifiedWebhook
) -> tuple[WebhookEvent, bool]:
    """
    Store a verified event and enqueue its processing after the commit.

    Return ``(event, created)``; ``created`` is False for an event already
    stored (a redelivery), which is not processed again.
    """
    event_id = _event_id(verified, inbound.body)
    occurred_at = verified.occurred_at
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, UTC)
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    shop_id=installation.shop_id,
                    installation=installation,
                    plugin_id=installation.plugin_id,
                    provider_event_id=event_id,
                    event_type=str(verified.event_type or "")[:120],
                    occurred_at=occurred_at,
                    path=inbound.path[:500],
                    body=inbound.body,
                    headers=safe_headers(inbound.headers),
                    payload=_json_safe(verified.payload),
                    received_at=inbound.received_at,
                    next_attempt_at=inbound.received_at,
                )
        except IntegrityError:
            event = WebhookEvent.objects.get(installation=installation, provider_event_id=event_id)
            created = False
        else:
            created = True
            tasks.process_webhook_event.enqueue_on_commit(event.pk)
        PluginInstallation.objects.filter(pk=installation.pk).update(
            last_webhook_at=inbound.received_at
        )
    return event, created


@csrf_exempt
def receive_webhook(
    request: HttpRequest, plugin_id: str, token: str, rest: str = ""
) -> HttpResponse:
    """Verify, store and acknowledge one webhook (see the module docstring)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    installation = _find_installation(plugin_id, token)
    if installation is None:
        return _answer(404, error="not_found")
    log = logger.bind(plugin=plugin_id, installation=installation.pk, shop=installation.shop_id)
    plugin = _usable(plugin_id)
    if plugin is None:
        log.error("webhook_plugin_unavailable")
        return _answer(503, error="unavailable")
    try:
        body = request.body
    except RequestDataTooBig:
        return _answer(413, error="too_large")
    inbound = InboundWebhook(
        path=rest or "",
        headers=CaseInsensitiveMapping(dict(request.headers)),
        body=body,
        received_at=timezone.now(),
    )
    try:
        settings = services.plugin_settings(installation)
        verified = plugin.verify_webhook(inbound, installation=installation, settings=settings)
    except WebhookRejected as exc:
        status = exc.status if exc.status in _REJECTION_STATUSES else 400
        log.warning("webhook_rejected", status=status, reason=exc.reason, size=len(body))
        return _answer(status, error="rejected")
    except MerchantryError as exc:
        log.error("webhook_not_verifiable", reason=exc.detail)
        return _answer(503, error="unavailable")
    except Exception as exc:  # a plugin's bug: the provider retries a 503 later
        log.error("webhook_verification_crashed", error_type=type(exc).__name__)
        return _answer(503, error="unavailable")
    if not isinstance(verified, VerifiedWebhook):
        log.error("webhook_verification_returned_nothing")
        return _answer(503, error="unavailable")
    event, created = store_event(installation, inbound, verified)
    log.info(
        "webhook_received", webhook_event=event.pk, duplicate=not created, type=event.event_type
    )
    return _answer(200, received=True)


# -- processing ------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: doubling, capped, jittered."""
    base = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)
    # Jitter spreads the retries of a burst that failed together.
    return base + base * random.uniform(0, 0.1)  # noqa: S311 (timing, not security)


def _secret_strings(settings: Any) -> list[str]:
    if settings is None:
        return []
    strings = []
    for name in secret_fields(type(settings)):
        value = getattr(settings, name, None)
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if isinstance(value, bytes):
            value = value.decode(errors="ignore")
        if isinstance(value, str) and len(value) >= 4:
            strings.append(value)
    return strings


def _describe(exc: Exception, secrets: list[str]) -> str:
    text = exc.detail if isinstance(exc, MerchantryError) else f"{type(exc).__name__}: {exc}"
    # A provider's error message may quote the credentials it was sent.
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text[:ERROR_MAX_LENGTH]


class _NotProcessable(Exception):
    """The installation cannot process events now (disabled)."""


def _schedule_retry(event_id: int, when: Any) -> None:
    task = tasks.process_webhook_event
    if not task.get_backend().supports_defer:
        return  # the periodic sweep (requeue_due) will pick it up
    try:
        task.using(run_after=when).enqueue(event_id)
    except Exception:
        logger.exception("webhook_retry_enqueue_failed", webhook_event=event_id)


def process_event(event_id: int) -> str:
    """
    Process one stored event if it is due, and return what happened:
    ``processed``, ``retry`` (failed, will be tried again), ``failed`` (gave
    up) or ``skipped`` (not due, already done, or taken by another worker).
    """
    now = timezone.now()
    # The claim is one conditional UPDATE: of two workers given the same
    # event, only one finds it still pending.
    claimed = WebhookEvent.objects.filter(
        pk=event_id, status=WebhookEventStatus.PENDING, next_attempt_at__lte=now
    ).update(status=WebhookEventStatus.PROCESSING, attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        return "skipped"
    event = WebhookEvent.objects.select_related("installation").filter(pk=event_id).first()
    if event is None:
        return "skipped"  # uninstalled meanwhile, with its events
    installation = event.installation
    log = logger.bind(plugin=event.plugin_id, installation=installation.pk, webhook_event=event.pk)
    secrets: list[str] = []
    try:
        if not installation.is_enabled:
            raise _NotProcessable("The plugin is not enabled in this shop.")
        plugin = _usable(installation.plugin_id)
        if plugin is None:
            raise _NotProcessable("The plugin is not available on this server.")
        settings = services.plugin_settings(installation)
        secrets = _secret_strings(settings)
        plugin.process_webhook(
            VerifiedWebhook(
                event_id=event.provider_event_id,
                event_type=event.event_type,
                occurred_at=event.occurred_at,
                payload=event.payload,
            ),
            installation=installation,
            settings=settings,
        )
    except Exception as exc:  # one plugin's failure is this event's, nothing more
        error = str(exc) if isinstance(exc, _NotProcessable) else _describe(exc, secrets)
        final = event.attempts >= MAX_ATTEMPTS
        next_at = now + retry_delay(event.attempts)
        WebhookEvent.objects.filter(pk=event.pk, status=WebhookEventStatus.PROCESSING).update(
            status=WebhookEventStatus.FAILED if final else WebhookEventStatus.PENDING,
            next_attempt_at=now if final else next_at,
            last_error=error,
        )
        services.installation_record_outcome(installation.pk, error=error)
        log.warning(
            "webhook_processing_failed",
            attempt=event.attempts,
            gave_up=final,
            error_type=type(exc).__name__,
        )
        if final:
            return "failed"
        _schedule_retry(event.pk, next_at)
        return "retry"
    WebhookEvent.objects.filter(pk=event.pk, status=WebhookEventStatus.PROCESSING).update(
        status=WebhookEventStatus.PROCESSED, processed_at=timezone.now(), last_error=""
    )
    services.installation_record_outcome(installation.pk)
    log.info("webhook_processed", attempt=event.attempts)
    return "processed"


def requeue_due(*, now: Any = None) -> int:
    """
    Enqueue events whose retry is due but was not (or could not be) queued,
    and take back events whose worker stopped mid-way; return how many.
    """
    now = now or timezone.now()
    stale = WebhookEvent.objects.filter(
        status=WebhookEventStatus.PROCESSING, last_attempt_at__lt=now - STALE_AFTER
    )
    abandoned = "Processing did not finish (the worker stopped)."
    stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=WebhookEventStatus.FAILED, last_error=abandoned
    )
    taken_back = list(stale.values_list("pk", flat=True)[:SWEEP_BATCH])
    WebhookEvent.objects.filter(pk__in=taken_back, status=WebhookEventStatus.PROCESSING).update(
        status=WebhookEventStatus.PENDING, next_attempt_at=now, last_error=abandoned
    )
    task = tasks.process_webhook_event
    # A backend that runs jobs later was given each retry already; only the
    # long overdue ones are picked up again, so a busy queue is not flooded.
    cutoff = now - SWEEP_GRACE if task.get_backend().supports_defer else now
    due = WebhookEvent.objects.filter(
        status=WebhookEventStatus.PENDING, next_attempt_at__lte=cutoff
    ).exclude(pk__in=taken_back)
    event_ids = taken_back + list(
        due.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for event_id in event_ids:
        task.enqueue(event_id)
    return len(event_ids)
