"""
The transactional outbox: events commit or roll back with the change, reach
every sink after the commit, are retried per sink with back-off, survive a
lost dispatch job, and are never dispatched twice by concurrent workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from merchantry.core import events
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.events import (
    MAX_ATTEMPTS,
    DomainEvent,
    SinkFailed,
    dispatch_outbox,
    record_event,
    register_sink,
    retry_delay,
)
from merchantry.core.models import OutboxEvent, OutboxStatus
from merchantry.core.tasks import prune_outbox, sweep_outbox
from merchantry.tenancy.services import apikey_create, channel_create, channel_update


class RecordingSink:
    """A sink that records what it is handed and fails on command."""

    def __init__(self, *, fail_times: int = 0, error: Exception | None = None) -> None:
        self.events: list[DomainEvent] = []
        self.fail_times = fail_times
        self.error = error or RuntimeError("the sink is down")
        self._lock = threading.Lock()

    def __call__(self, event: DomainEvent) -> None:
        with self._lock:
            self.events.append(event)
            if self.fail_times:
                self.fail_times -= 1
                raise self.error

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]


@pytest.fixture
def sinks(monkeypatch) -> Iterator[dict[str, RecordingSink]]:
    """Replace the registered sinks (plugins, webhooks) with two recording ones."""
    monkeypatch.setattr(events, "_sinks", {})
    recorded = {"first": RecordingSink(), "second": RecordingSink()}
    for name, sink in recorded.items():
        register_sink(name, sink)
    return recorded


def _record(type_: str = "order.placed", shop_id: int = 7, **payload) -> OutboxEvent:
    with transaction.atomic():
        return record_event(shop_id=shop_id, type=type_, payload=payload or {"id": "1"})


def _make_due(event: OutboxEvent) -> None:
    OutboxEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# -- recording ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused(sinks) -> None:
    with pytest.raises(transaction.TransactionManagementError, match="inside the transaction"):
        record_event(shop_id=7, type="order.placed", payload={"id": "1"})

    assert OutboxEvent.objects.count() == 0
    assert sinks["first"].events == []


@pytest.mark.django_db(transaction=True)
def test_events_of_a_rolled_back_transaction_are_never_delivered(sinks) -> None:
    # given a service that records an event, then fails
    def failing_service() -> None:
        with transaction.atomic():
            record_event(shop_id=7, type="order.placed", payload={"id": "1"})
            raise RuntimeError("payment declined")

    # when it runs, and the sweep runs after it
    with pytest.raises(RuntimeError, match="payment declined"):
        failing_service()
    sweep_outbox.enqueue()

    # then the event never existed and no sink saw it
    assert OutboxEvent.objects.count() == 0
    assert sinks["first"].events == []
    assert sinks["second"].events == []


@pytest.mark.django_db(transaction=True)
def test_a_committed_event_reaches_every_sink_once_after_the_commit(sinks) -> None:
    # given a transaction recording an event
    with transaction.atomic():
        recorded = record_event(shop_id=7, type="order.placed", payload={"id": "42"})
        # then nothing is sent before the commit
        assert sinks["first"].events == []

    # and after it, each sink got the event once
    for sink in sinks.values():
        assert [(e.id, e.type, e.shop_id, e.payload) for e in sink.events] == [
            (str(recorded.uid), "order.placed", 7, {"id": "42"})
        ]
        assert sink.events[0].outbox_id == recorded.pk
        assert sink.events[0].retry_only is None
    row = OutboxEvent.objects.get()
    assert row.status == OutboxStatus.DONE
    assert row.sinks_done == ["first", "second"]
    assert row.attempts == 1
    assert row.dispatched_at is not None
    assert row.claim_token == ""


@pytest.mark.django_db
def test_payloads_are_stored_as_plain_json() -> None:
    row = _record(total=Decimal("19.99"), at=datetime(2025, 1, 2, tzinfo=UTC))

    assert OutboxEvent.objects.get(pk=row.pk).payload == {
        "total": "19.99",
        "at": "2025-01-02T00:00:00Z",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "type_", "payload", "error"),
    [
        ("upper case", "Order.Placed", {}, ValueError),
        ("one word", "order", {}, ValueError),
        ("spaces", "order placed", {}, ValueError),
        ("too long", "a." + "b" * 100, {}, ValueError),
        ("not a mapping", "order.placed", ["a"], TypeError),
        ("not JSON", "order.placed", {"x": object()}, TypeError),
        ("too big", "order.placed", {"x": "y" * 300_000}, ValueError),
    ],
)
def test_bad_events_are_refused(_case, type_, payload, error) -> None:
    with pytest.raises(error), transaction.atomic():
        record_event(shop_id=7, type=type_, payload=payload)

    assert OutboxEvent.objects.count() == 0


# -- retries --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_sink_is_retried_alone_with_back_off(sinks) -> None:
    # given one sink that fails once, and one that works
    sinks["first"].fail_times = 1
    event = _record()

    # when the event is dispatched
    started = timezone.now()
    report = dispatch_outbox()

    # then the working sink has it, the failing one is scheduled for later
    assert (report.claimed, report.done, report.retrying) == (1, 0, 1)
    row = OutboxEvent.objects.get(pk=event.pk)
    assert row.status == OutboxStatus.PENDING
    assert row.sinks_done == ["second"]
    assert row.attempts == 1
    assert row.last_error == "first: RuntimeError: the sink is down"
    assert started + timedelta(seconds=29) < row.next_attempt_at
    assert row.next_attempt_at < timezone.now() + timedelta(seconds=31)
    assert row.claim_token == ""

    # and it is not due again at once
    assert dispatch_outbox().claimed == 0

    # when its time comes
    _make_due(row)
    report = dispatch_outbox()

    # then only the failed sink is called again, and the event is done
    assert report.done == 1
    assert len(sinks["first"].events) == 2
    assert len(sinks["second"].events) == 1
    row.refresh_from_db()
    assert row.status == OutboxStatus.DONE
    assert row.sinks_done == ["second", "first"]
    assert row.last_error == ""


@pytest.mark.django_db
def test_a_sink_can_ask_to_retry_only_the_parts_that_failed(sinks) -> None:
    # given a sink whose work for plugin "b" failed
    sinks["first"].fail_times = 1
    sinks["first"].error = SinkFailed("b: timed out", retry_only=["b", "b"])
    event = _record()
    dispatch_outbox()
    row = OutboxEvent.objects.get(pk=event.pk)
    assert row.sink_retry == {"first": ["b"]}
    assert row.last_error == "first: b: timed out"

    # when the event is retried
    _make_due(row)
    dispatch_outbox()

    # then the sink is told to redo only "b"
    assert [e.retry_only for e in sinks["first"].events] == [None, ("b",)]
    row.refresh_from_db()
    assert row.status == OutboxStatus.DONE
    assert row.sink_retry == {}


@pytest.mark.django_db
def test_an_event_is_given_up_after_the_last_attempt(sinks) -> None:
    sinks["first"].fail_times = 1
    event = _record()
    OutboxEvent.objects.filter(pk=event.pk).update(attempts=MAX_ATTEMPTS - 1)

    report = dispatch_outbox()

    assert report.failed == 1
    row = OutboxEvent.objects.get(pk=event.pk)
    assert row.status == OutboxStatus.FAILED
    assert row.attempts == MAX_ATTEMPTS
    assert "the sink is down" in row.last_error
    _make_due(row)
    assert dispatch_outbox().claimed == 0


@pytest.mark.django_db
def test_an_event_that_gave_up_can_be_retried_and_reaches_only_the_failed_sink(
    sinks, django_capture_on_commit_callbacks
) -> None:
    # given an event that gave up after one sink kept failing
    sinks["first"].fail_times = 1
    event = _record()
    OutboxEvent.objects.filter(pk=event.pk).update(attempts=MAX_ATTEMPTS - 1)
    dispatch_outbox()
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.FAILED
    delivered_before = {name: len(sink.events) for name, sink in sinks.items()}

    # when an operator retries it (the requeued dispatch job runs inline on commit)
    with django_capture_on_commit_callbacks(execute=True):
        assert events.outbox_retry(event_ids=[event.pk], actor=SYSTEM_ACTOR) == 1

    # then it is delivered, to the sink that had failed only, and the retry is audited
    row = OutboxEvent.objects.get(pk=event.pk)
    assert row.status == OutboxStatus.DONE
    assert len(sinks["first"].events) == delivered_before["first"] + 1
    assert len(sinks["second"].events) == delivered_before["second"]
    from merchantry.core.models import AuditEvent

    assert AuditEvent.objects.filter(action="outbox.retry", target_id=str(event.pk)).exists()
    assert events.outbox_retry(event_ids=[event.pk]) == 0  # only failed events requeue


def test_retry_delays_double_up_to_a_cap() -> None:
    delays = [retry_delay(attempt).total_seconds() for attempt in range(1, 10)]

    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(10_000) == timedelta(hours=1)


@pytest.mark.django_db
def test_a_sinks_database_error_does_not_break_the_callers_transaction(sinks) -> None:
    # given a sink whose query fails (on PostgreSQL this aborts the transaction)
    def broken(event: DomainEvent) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    register_sink("broken", broken)
    event = _record()

    # when the event is dispatched inside the caller's transaction
    with transaction.atomic():
        dispatch_outbox()
        # then the transaction is still usable, and the other sinks got it
        row = OutboxEvent.objects.get(pk=event.pk)
    assert row.sinks_done == ["first", "second"]
    assert row.last_error.startswith("broken: ")


# -- lost jobs, ordering, concurrency ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_at_least_once_after_a_crash_between_commit_and_enqueue(sinks, monkeypatch) -> None:
    # given a queue that is down when the transaction commits
    def queue_down(event_id: int) -> None:
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(events, "_enqueue_dispatch", queue_down)

    # when a service records an event (the caller sees no error: it committed)
    with transaction.atomic():
        recorded = record_event(shop_id=7, type="order.placed", payload={"id": "1"})

    # then the event waits in the outbox, undelivered
    assert OutboxEvent.objects.get().status == OutboxStatus.PENDING
    assert sinks["first"].events == []

    # and the periodic sweep delivers it
    assert sweep_outbox.enqueue().return_value == 1
    assert [e.id for e in sinks["first"].events] == [str(recorded.uid)]
    assert [e.id for e in sinks["second"].events] == [str(recorded.uid)]
    assert OutboxEvent.objects.get().status == OutboxStatus.DONE


@pytest.mark.django_db
def test_a_shops_events_reach_a_sink_in_commit_order(sinks) -> None:
    recorded = [_record(f"order.step_{n}", shop_id=3) for n in range(5)]

    dispatch_outbox()

    assert [e.id for e in sinks["first"].events] == [str(r.uid) for r in recorded]


@pytest.mark.django_db
def test_a_claimed_event_is_left_alone_until_its_lease_ends(sinks) -> None:
    # given an event another dispatcher holds
    event = _record()
    OutboxEvent.objects.filter(pk=event.pk).update(
        claim_token="other", claimed_until=timezone.now() + timedelta(minutes=1)
    )

    # then this dispatcher skips it
    assert dispatch_outbox().claimed == 0
    assert sinks["first"].events == []

    # until the other dispatcher's lease runs out (it died)
    OutboxEvent.objects.filter(pk=event.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert dispatch_outbox().done == 1
    assert len(sinks["first"].events) == 1


@pytest.mark.django_db
def test_of_two_dispatchers_that_selected_the_same_events_one_claims_them(sinks) -> None:
    # given two dispatchers that both found the same due events
    recorded = [_record().pk for _ in range(3)]
    now = timezone.now()
    seen_by_first = events._due_ids(event_ids=None, limit=10, now=now)
    seen_by_second = events._due_ids(event_ids=None, limit=10, now=now)
    assert seen_by_first == seen_by_second == recorded

    # when both try to claim them
    first_token, first = events._take(seen_by_first, now)
    _, second = events._take(seen_by_second, now)

    # then the first has them all and the second none
    assert first == recorded
    assert second == []
    assert set(OutboxEvent.objects.values_list("claim_token", flat=True)) == {first_token}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_deliver_each_event_once(sinks) -> None:
    # given 60 undelivered events and a slow sink
    ids = [
        OutboxEvent.objects.create(shop_id=n % 3, type="order.placed", payload={"n": n}).pk
        for n in range(60)
    ]
    slow = RecordingSink()

    def slow_sink(event: DomainEvent) -> None:
        time.sleep(0.002)
        slow(event)

    register_sink("slow", slow_sink)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    # when six dispatchers on separate connections race for them
    def dispatcher() -> None:
        try:
            barrier.wait()
            while dispatch_outbox(limit=7).claimed:
                continue  # keep claiming until nothing is left
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every event reached every sink exactly once
    assert errors == []
    for sink in (*sinks.values(), slow):
        assert sorted(e.outbox_id for e in sink.events) == ids
    assert OutboxEvent.objects.filter(status=OutboxStatus.DONE).count() == 60


# -- housekeeping, and events the platform emits ------------------------------------------


@pytest.mark.django_db
def test_delivered_events_are_pruned_after_thirty_days(sinks) -> None:
    old, recent, stuck = _record(), _record(), _record()
    dispatch_outbox()
    long_ago = timezone.now() - timedelta(days=31)
    OutboxEvent.objects.filter(pk=old.pk).update(dispatched_at=long_ago)
    OutboxEvent.objects.filter(pk=stuck.pk).update(
        status=OutboxStatus.FAILED, occurred_at=long_ago, dispatched_at=None
    )

    assert prune_outbox.enqueue().return_value == 1

    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {recent.pk, stuck.pk}


@pytest.mark.django_db
def test_channel_and_key_services_record_their_events(shop) -> None:
    # when a channel is created and changed, and a key minted
    channel = channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till", kind="pos")
    channel_update(actor=SYSTEM_ACTOR, shop=shop, channel_id=channel.pk, changes={"name": "Desk"})
    created = apikey_create(
        actor=SYSTEM_ACTOR, shop=shop, kind="secret", name="ERP", permissions=["orders.view"]
    )

    # then each left one event in the outbox, in order, describing it
    rows = list(OutboxEvent.objects.filter(shop_id=shop.pk).order_by("pk"))
    assert [row.type for row in rows] == ["channel.created", "channel.updated", "apikey.created"]
    assert rows[0].payload == {
        "id": str(channel.pk),
        "name": "Till",
        "slug": "pos",
        "kind": "pos",
        "currency": "USD",
        "default_country": "US",
        "allowed_origins": [],
        "is_active": True,
    }
    assert rows[1].payload["name"] == "Desk"
    assert rows[1].payload["changed"] == ["name"]
    assert rows[2].payload == {
        "id": str(created.api_key.pk),
        "kind": "secret",
        "name": "ERP",
        "prefix": created.api_key.prefix,
        "channel_id": None,
        "permissions": ["orders.view"],
    }
    assert created.raw not in str(rows[2].payload)


@pytest.mark.django_db
def test_a_failed_service_call_records_no_event(shop) -> None:
    from merchantry.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="Not A Slug", name="Bad")

    assert not OutboxEvent.objects.exists()


def test_the_apps_register_their_sinks() -> None:
    assert set(events.registered_sinks()) >= {"plugins", "webhooks"}


@pytest.mark.django_db
def test_the_plugins_sink_retries_only_the_plugins_that_failed(monkeypatch) -> None:
    from merchantry.plugins import hooks, sinks
    from merchantry.plugins.hooks import HookFailure

    # given plugins "a" and "b", of which "b" fails once
    calls: list[tuple[str, tuple[str, ...] | None]] = []

    def dispatch_event(event, *, plugin_ids=None):
        calls.append((event.type, plugin_ids))
        if plugin_ids is None:
            return [HookFailure("b", "merchantry_on_event", "TimeoutError: read timed out")]
        return []

    monkeypatch.setattr(hooks, "dispatch_event", dispatch_event)
    monkeypatch.setattr(events, "_sinks", {})
    sinks.register()
    event = _record()

    # when the event is dispatched, and retried
    dispatch_outbox()
    row = OutboxEvent.objects.get(pk=event.pk)
    assert row.last_error == "plugins: b: TimeoutError: read timed out"
    _make_due(row)
    dispatch_outbox()

    # then the retry went to "b" alone
    assert calls == [("order.placed", None), ("order.placed", ("b",))]
    row.refresh_from_db()
    assert row.status == OutboxStatus.DONE


@pytest.mark.django_db
def test_the_outbox_screen_is_for_platform_administrators_only(client, sinks) -> None:
    from tests.factories import UserFactory

    event = _record()
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxStatus.FAILED, last_error="boom")
    superuser = UserFactory(is_superuser=True)
    staff = UserFactory()

    client.force_login(superuser)
    listing = client.get("/admin/core/outboxevent/?status=failed")
    retried = client.post(
        "/admin/core/outboxevent/", {"action": "retry_failed", "_selected_action": [event.pk]}
    )
    client.force_login(staff)
    refused = client.get("/admin/core/outboxevent/")

    assert listing.status_code == 200
    assert b"order.placed" in listing.content
    assert retried.status_code == 302
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.PENDING
    assert refused.status_code == 403
