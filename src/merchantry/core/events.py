"""
Domain events and the transactional outbox.

A service that changes state records what happened with :func:`record_event`,
inside its own transaction: the event is a row of the outbox table
(:class:`~merchantry.core.models.OutboxEvent`), so it exists exactly when the
change does. Nothing leaves the process before the commit::

    with transaction.atomic():
        order = ...
        record_event(shop_id=shop.pk, type="order.placed", payload={"id": str(order.pk)})

After the commit a job (:func:`merchantry.core.tasks.dispatch_events`) hands
the event to every registered **sink**; a periodic sweep
(:func:`merchantry.core.tasks.sweep_outbox`) picks up whatever that job did not
finish, so a crash between the commit and the enqueue loses nothing. The core
may not import the apps that consume events, so they plug in here instead::

    # in an AppConfig.ready()
    register_sink("webhooks", fan_out_to_endpoints)

What is guaranteed:

- **Nothing for a rolled-back transaction**: the row rolls back with it.
- **At least once, per sink**: a sink that raises is retried with exponential
  back-off (:data:`RETRY_BASE` doubling up to :data:`RETRY_CAP`) until it
  succeeds or :data:`MAX_ATTEMPTS` have failed (the event is then ``failed``
  and keeps its last error). Sinks that succeeded are not called again. A
  worker that dies mid-dispatch can cause one repeat, so sinks must tolerate
  seeing an event twice (every event carries a unique ``id``).
- **No double processing across workers**: a batch is claimed with one
  conditional UPDATE (a lease), which concurrent dispatchers cannot both win.
- **Order**: events are dispatched oldest first, so one shop's events reach a
  sink in commit order on their first attempt; a retry, or several workers
  dispatching at once, can reorder them. Consumers order by ``occurred_at``.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from merchantry.core import audit
from merchantry.core.logging import get_logger
from merchantry.core.models import OutboxEvent, OutboxStatus

__all__ = [
    "EVENT_TYPE_RE",
    "MAX_ATTEMPTS",
    "MAX_PAYLOAD_BYTES",
    "DispatchReport",
    "DomainEvent",
    "Sink",
    "SinkFailed",
    "dispatch_outbox",
    "outbox_retry",
    "record_event",
    "register_commit_listener",
    "register_sink",
    "registered_sinks",
    "retry_delay",
    "unregister_sink",
]

EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
"""An event type: lowercase dotted words, e.g. ``order.placed``."""
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ATTEMPTS = 12
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=5)
"""How long a dispatcher owns a claimed batch; after that another may take it."""
SWEEP_BATCH = 200
ERROR_MAX_LENGTH = 2000

logger = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One thing that happened in a shop, as sinks receive it."""

    id: str
    """Unique and stable across retries: consumers deduplicate on it."""
    type: str
    shop_id: int | None
    payload: dict[str, Any]
    occurred_at: datetime
    outbox_id: int | None = None
    """The outbox row's primary key, for sinks that keep their own records of it."""
    retry_only: tuple[str, ...] | None = None
    """On a retry, the parts the sink named in its :class:`SinkFailed`; else None (all)."""

    @classmethod
    def from_outbox(cls, row: OutboxEvent, *, retry_only: Any = None) -> DomainEvent:
        # Each sink gets its own copy: one sink editing the payload must not
        # change what the next one sees.
        return cls(
            id=str(row.uid),
            type=row.type,
            shop_id=row.shop_id,
            payload=copy.deepcopy(row.payload),
            occurred_at=row.occurred_at,
            outbox_id=row.pk,
            retry_only=tuple(str(part) for part in retry_only) if retry_only else None,
        )


Sink = Callable[[DomainEvent], Any]


class SinkFailed(Exception):
    """
    Raised by a sink to have the event retried later, without a traceback in the log.

    ``retry_only`` names the parts of the sink's work that failed (e.g. plugin
    ids); the retry hands them back in :attr:`DomainEvent.retry_only`, so
    the parts that succeeded are not repeated.
    """

    def __init__(self, message: str, *, retry_only: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.retry_only = sorted({str(part) for part in retry_only}) if retry_only else None


_sinks: dict[str, Sink] = {}


def register_sink(name: str, sink: Sink) -> None:
    """
    Deliver every dispatched event to ``sink`` under ``name``.

    A sink is called once per event (more only after a failure or a crash); it
    raises to have the event retried. Registering a name again replaces the
    sink, so calling this from ``AppConfig.ready()`` is safe.
    """
    if not name or len(name) > 50:
        raise ValueError("A sink name is 1-50 characters.")
    _sinks[name] = sink


def unregister_sink(name: str) -> None:
    """Stop delivering events to the sink registered under ``name``."""
    _sinks.pop(name, None)


def registered_sinks() -> dict[str, Sink]:
    """Return the registered sinks by name."""
    return dict(_sinks)


CommitListener = Callable[[str, "int | None"], Any]
_commit_listeners: dict[str, CommitListener] = {}


def register_commit_listener(name: str, listener: CommitListener) -> None:
    """
    Call ``listener(event_type, shop_id)`` in-process right after the commit
    of every recorded event, before any sink sees it.

    For what must follow a change at once and is cheap, such as bumping a
    cache version so the next request sees the change; anything slow or
    fallible belongs in a sink. A listener that raises is logged and ignored:
    the change has committed. Registering a name again replaces the listener.
    """
    _commit_listeners[name] = listener


def _notify_listeners(event_type: str, shop_id: int | None) -> None:
    for name, listener in list(_commit_listeners.items()):
        try:
            listener(event_type, shop_id)
        except Exception:
            logger.exception("commit_listener_failed", listener=name, event_type=event_type)


# -- recording -------------------------------------------------------------------------


def _json_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``payload`` as plain JSON data (Decimals and dates as strings), or raise."""
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise TypeError("An event payload is a mapping (a JSON object).")
    text = json.dumps(dict(payload), cls=DjangoJSONEncoder)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"An event payload is at most {MAX_PAYLOAD_BYTES} bytes as JSON.")
    # Round-tripped, so sinks see exactly what a later retry reads back.
    return json.loads(text)


def record_event(
    *, shop_id: int | None, type: str, payload: Mapping[str, Any] | None = None
) -> OutboxEvent:
    """
    Record a domain event in the outbox, in the caller's transaction.

    Must be called inside ``transaction.atomic()`` (the service's own), so the
    event commits or rolls back with the change; outside one it raises
    :class:`~django.db.transaction.TransactionManagementError`. The event is
    dispatched once the transaction commits, never if it rolls back.
    """
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError(
            "record_event() must run inside the transaction that makes the change."
        )
    if not isinstance(type, str) or len(type) > 100 or not EVENT_TYPE_RE.fullmatch(type):
        raise ValueError(f"{type!r} is not an event type (lowercase dotted words).")
    event = OutboxEvent.objects.create(shop_id=shop_id, type=type, payload=_json_payload(payload))

    def enqueue() -> None:
        _notify_listeners(event.type, event.shop_id)
        _enqueue_dispatch(event.pk)

    # robust: the change has committed by then; failing to enqueue must not
    # turn it into an error for the caller. The periodic sweep catches up.
    # (A named function, not a partial: Django logs a robust hook's __qualname__.)
    transaction.on_commit(enqueue, robust=True)
    return event


def _enqueue_dispatch(event_id: int) -> None:
    from merchantry.core.tasks import dispatch_events  # the tasks module imports this one

    dispatch_events.enqueue(event_ids=[event_id])


# -- dispatching -----------------------------------------------------------------------


@dataclass(slots=True)
class DispatchReport:
    """What one :func:`dispatch_outbox` call did."""

    claimed: int = 0
    done: int = 0
    retrying: int = 0
    failed: int = 0


def retry_delay(attempts: int) -> timedelta:
    """Return how long to wait after the ``attempts``-th failed dispatch."""
    exponent = min(max(attempts, 1) - 1, 20)
    return min(RETRY_BASE * (2**exponent), RETRY_CAP)


def _claimable(now: datetime) -> Q:
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def _due_ids(*, event_ids: Sequence[int] | None, limit: int, now: datetime) -> list[int]:
    """Return the ids of up to ``limit`` due, unclaimed events, oldest first."""
    candidates = OutboxEvent.objects.filter(_claimable(now))
    if event_ids is not None:
        candidates = candidates.filter(pk__in=list(event_ids))
    return list(candidates.order_by("pk").values_list("pk", flat=True)[:limit])


def _take(ids: Sequence[int], now: datetime) -> tuple[str, list[int]]:
    """Claim those of ``ids`` nobody holds; return the claim token and the ids taken."""
    if not ids:
        return "", []
    token = uuid.uuid4().hex
    # The claim is the UPDATE: its WHERE is checked again against each row as
    # it is written (PostgreSQL re-reads a row another transaction just
    # changed), so of two dispatchers that selected the same ids, the second
    # finds them leased and takes none of them.
    OutboxEvent.objects.filter(_claimable(now), pk__in=list(ids)).update(
        claim_token=token, claimed_until=now + CLAIM_LEASE
    )
    claimed = OutboxEvent.objects.filter(claim_token=token, pk__in=list(ids))
    return token, sorted(claimed.values_list("pk", flat=True))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX_LENGTH]


def _call_sink(name: str, sink: Sink, row: OutboxEvent) -> SinkFailed | None:
    """Call one sink; return None on success, else what went wrong."""
    event = DomainEvent.from_outbox(row, retry_only=(row.sink_retry or {}).get(name))
    started = time.perf_counter()
    try:
        # Inside a caller's transaction, a savepoint keeps one sink's database
        # error from breaking it; outside one, no transaction is opened, so a
        # sink calling out over the network holds no database lock meanwhile.
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                sink(event)
        else:
            sink(event)
    except SinkFailed as exc:
        logger.warning("outbox_sink_failed", sink=name, event_id=row.pk, error=str(exc))
        return exc
    except Exception as exc:
        logger.exception("outbox_sink_failed", sink=name, event_id=row.pk, type=row.type)
        return SinkFailed(_describe(exc))
    logger.info(
        "outbox_sink_done",
        sink=name,
        event_id=row.pk,
        type=row.type,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return None


def _dispatch_one(row: OutboxEvent, token: str, sinks: dict[str, Sink]) -> str:
    """Deliver one claimed event to the sinks that lack it; return its new status."""
    done = [name for name in row.sinks_done if isinstance(name, str)]
    errors: dict[str, SinkFailed] = {}
    for name, sink in sinks.items():
        if name in done:
            continue
        error = _call_sink(name, sink, row)
        if error is None:
            done.append(name)
            # Saved at once: if this worker dies before the end, the retry
            # skips the sinks that already have the event.
            OutboxEvent.objects.filter(pk=row.pk, claim_token=token).update(sinks_done=done)
        else:
            errors[name] = error
    now = timezone.now()
    attempts = row.attempts + 1
    changes: dict[str, Any] = {
        "attempts": attempts,
        "sinks_done": done,
        "sink_retry": {
            name: error.retry_only for name, error in errors.items() if error.retry_only
        },
        "claim_token": "",
        "claimed_until": None,
    }
    if not errors:
        status = OutboxStatus.DONE
        changes.update(status=status, dispatched_at=now, last_error="")
    else:
        status = OutboxStatus.FAILED if attempts >= MAX_ATTEMPTS else OutboxStatus.PENDING
        message = "; ".join(f"{name}: {error}" for name, error in errors.items())
        changes.update(
            status=status,
            last_error=message[:ERROR_MAX_LENGTH],
            next_attempt_at=now + retry_delay(attempts),
        )
        log = logger.error if status == OutboxStatus.FAILED else logger.warning
        log("outbox_event_not_delivered", event_id=row.pk, attempts=attempts, status=status)
    OutboxEvent.objects.filter(pk=row.pk, claim_token=token).update(**changes)
    return status


def dispatch_outbox(
    *, event_ids: Sequence[int] | None = None, limit: int = SWEEP_BATCH
) -> DispatchReport:
    """
    Claim due outbox events (``event_ids`` only, when given) and deliver them.

    Each claimed event goes to every registered sink that does not have it
    yet, one sink's failure isolated from the others; the event is ``done``
    once every sink has it, otherwise retried later with back-off.
    """
    report = DispatchReport()
    now = timezone.now()
    token, ids = _take(_due_ids(event_ids=event_ids, limit=limit, now=now), now)
    if not ids:
        return report
    report.claimed = len(ids)
    sinks = registered_sinks()
    for row in OutboxEvent.objects.filter(pk__in=ids, claim_token=token).order_by("pk"):
        status = _dispatch_one(row, token, sinks)
        if status == OutboxStatus.DONE:
            report.done += 1
        elif status == OutboxStatus.FAILED:
            report.failed += 1
        else:
            report.retrying += 1
    return report


def outbox_retry(*, event_ids: Sequence[int], actor: Any = None) -> int:
    """
    Put events that gave up back in the queue, to be dispatched now; audited.

    Sinks that already succeeded are not called again. Return how many events
    were requeued (only ``failed`` ones are).
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            OutboxEvent.objects.filter(pk__in=event_ids, status=OutboxStatus.FAILED).values_list(
                "pk", flat=True
            )
        )
        OutboxEvent.objects.filter(pk__in=ids).update(
            status=OutboxStatus.PENDING, next_attempt_at=now, attempts=0, claimed_until=None
        )
        for pk in ids:
            audit.record(actor, "outbox.retry", ("core.outboxevent", pk))
            transaction.on_commit(lambda pk=pk: _enqueue_dispatch(pk), robust=True)
    return len(ids)
