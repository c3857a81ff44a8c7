"""
Deliveries to a real receiver on 127.0.0.1: after the commit only, signed as
documented, retried on transient failures, fanned out by subscription,
logged per attempt, and replayable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.events import record_event
from merchantry.core.models import OutboxEvent, OutboxStatus
from merchantry.core.tasks import sweep_outbox
from merchantry.tenancy.services import apikey_create, channel_create
from merchantry.webhooks import delivery as delivery_module
from merchantry.webhooks.delivery import MAX_ATTEMPTS, RETRY_SCHEDULE, retry_delay
from merchantry.webhooks.models import DeliveryStatus, WebhookDelivery
from merchantry.webhooks.services import endpoint_rotate_secret, endpoint_update
from merchantry.webhooks.tasks import enqueue_due_webhooks
from tests.conftest import free_port
from tests.webhooks.factories import make_endpoint
from tests.webhooks.receiver import Receiver, verify

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    # The receiver is on loopback, which webhooks may not reach unless allowed.
    settings.MERCHANTRY_WEBHOOKS_ALLOW_PRIVATE_URLS = True
    server = Receiver().start()
    yield server
    server.stop()


def _make_retry_due() -> None:
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def _attempts() -> list[tuple[int, str, int | None]]:
    return [
        (d.attempt, d.status, d.response_status_code)
        for d in WebhookDelivery.objects.order_by("attempt")
    ]


# -- the happy path, and what is signed ------------------------------------------------


def test_an_event_is_delivered_signed_once_the_change_commits(shop, receiver) -> None:
    # given an endpoint for the shop's channel events
    endpoint = make_endpoint(shop, url=receiver.url(), event_types=["channel.*"])

    # when a channel is created
    channel = channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    # then the receiver got one POST, signed with the endpoint's secret
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert verify(endpoint.secret, got)
    assert not verify("whsec_someone-else", got)
    event = OutboxEvent.objects.get(type="channel.created")
    body = json.loads(got.body)
    assert body == {
        "id": str(event.uid),
        "type": "channel.created",
        "created_at": body["created_at"],
        "shop": {"id": str(shop.pk), "slug": "acme"},
        "data": event.payload,
    }
    assert body["data"]["id"] == str(channel.pk)
    assert body["created_at"].endswith("Z")
    assert got.headers["Merchantry-Webhook-Id"] == str(event.uid)
    assert got.headers["Merchantry-Event-Type"] == "channel.created"
    assert got.headers["Content-Type"] == "application/json"
    assert got.path == "/hooks"

    # and the attempt is logged, and the event done
    attempt = WebhookDelivery.objects.get()
    assert attempt.status == DeliveryStatus.SUCCEEDED
    assert attempt.response_status_code == 200
    assert attempt.response_time_ms is not None
    assert attempt.response_time_ms < 10_000
    assert attempt.delivered_at is not None
    assert attempt.next_attempt_at is None
    assert event.status == OutboxStatus.DONE


def test_nothing_is_sent_for_a_rolled_back_transaction(shop, receiver) -> None:
    # given an endpoint for every event
    make_endpoint(shop, url=receiver.url(), event_types=["*"])

    # when a service's transaction records events, then fails
    def place_order() -> None:
        with transaction.atomic():
            channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
            record_event(shop_id=shop.pk, type="order.placed", payload={"id": "1"})
            raise RuntimeError("the order could not be placed")

    with pytest.raises(RuntimeError, match="could not be placed"):
        place_order()

    # and every sweep runs afterwards
    sweep_outbox.enqueue()
    enqueue_due_webhooks.enqueue()

    # then the receiver got nothing, and nothing waits to be sent
    assert receiver.received == []
    assert OutboxEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


# -- retries -------------------------------------------------------------------------------


def test_a_500_is_retried_later_and_every_attempt_is_signed(shop, receiver) -> None:
    # given a receiver that fails once, then recovers
    endpoint = make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(500)

    # when an event is delivered
    started = timezone.now()
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    # then the first attempt failed, and a second is scheduled a minute later
    assert _attempts() == [(1, "failed", 500), (2, "pending", None)]
    first, second = WebhookDelivery.objects.order_by("attempt")
    assert first.error == "The receiver answered 500."
    assert first.next_attempt_at == second.next_attempt_at
    assert started + RETRY_SCHEDULE[0] <= second.next_attempt_at
    assert second.next_attempt_at <= timezone.now() + RETRY_SCHEDULE[0]

    # and the sweep leaves it alone until it is due
    enqueue_due_webhooks.enqueue()
    assert len(receiver.received) == 1

    # when it is due
    _make_retry_due()
    enqueue_due_webhooks.enqueue()

    # then the retry succeeded: same event, same body, each attempt validly signed
    assert _attempts() == [(1, "failed", 500), (2, "succeeded", 200)]
    one, two = receiver.received
    assert one.body == two.body
    assert one.headers["Merchantry-Webhook-Id"] == two.headers["Merchantry-Webhook-Id"]
    assert verify(endpoint.secret, one)
    assert verify(endpoint.secret, two)


@pytest.mark.parametrize(("_case", "status"), [("rate limited", 429), ("unavailable", 503)])
def test_rate_limits_and_outages_are_retried(shop, receiver, _case, status) -> None:
    make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(status)

    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    assert _attempts() == [(1, "failed", status), (2, "pending", None)]


@pytest.mark.parametrize(
    ("_case", "status", "error"),
    [
        ("bad request", 400, "The receiver answered 400."),
        ("gone", 410, "The receiver answered 410."),
        ("redirect", 302, "The receiver answered 302; redirects are not followed."),
    ],
)
def test_other_answers_are_final(shop, receiver, _case, status, error) -> None:
    make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(status)

    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
    _make_retry_due()
    enqueue_due_webhooks.enqueue()

    assert _attempts() == [(1, "failed", status)]
    assert WebhookDelivery.objects.get().error == error
    assert WebhookDelivery.objects.get().next_attempt_at is None
    assert len(receiver.received) == 1


def test_a_timeout_is_retried(shop, receiver, monkeypatch) -> None:
    monkeypatch.setattr(delivery_module, "TIMEOUT_SECONDS", 0.3)
    receiver.delay = 1.0
    make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])

    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    assert _attempts() == [(1, "failed", None), (2, "pending", None)]
    assert WebhookDelivery.objects.get(attempt=1).error == "Timed out after 0.3 s."


def test_an_unreachable_receiver_is_retried_and_the_url_is_not_logged(shop, settings) -> None:
    settings.MERCHANTRY_WEBHOOKS_ALLOW_PRIVATE_URLS = True
    url = f"http://127.0.0.1:{free_port()}/hooks?token=receiver-secret"
    make_endpoint(shop, url=url, event_types=["channel.created"])

    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    assert _attempts() == [(1, "failed", None), (2, "pending", None)]
    error = WebhookDelivery.objects.get(attempt=1).error
    assert error.startswith("Could not connect")
    assert "receiver-secret" not in error


def test_a_private_address_is_refused_when_sending_and_not_retried(
    shop, receiver, settings
) -> None:
    # given an endpoint saved while private addresses were allowed
    make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    settings.MERCHANTRY_WEBHOOKS_ALLOW_PRIVATE_URLS = False

    # when an event is delivered
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    # then the outbound client refused to connect, for good
    assert receiver.received == []
    assert _attempts() == [(1, "failed", None)]
    assert WebhookDelivery.objects.get().error.startswith("Refused")


def test_the_last_attempt_is_not_retried(shop, receiver) -> None:
    make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(*[500] * MAX_ATTEMPTS)

    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
    for _ in range(MAX_ATTEMPTS):
        _make_retry_due()
        enqueue_due_webhooks.enqueue()

    assert [a for a, _, _ in _attempts()] == list(range(1, MAX_ATTEMPTS + 1))
    assert {s for _, s, _ in _attempts()} == {"failed"}
    assert len(receiver.received) == MAX_ATTEMPTS == 8


def test_the_retry_schedule_backs_off_and_honours_retry_after() -> None:
    waits = [retry_delay(attempt) for attempt in range(1, MAX_ATTEMPTS)]

    assert waits == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=6),
        timedelta(hours=12),
        timedelta(hours=24),
    ]
    assert retry_delay(1, retry_after=600) == timedelta(minutes=10)
    assert retry_delay(1, retry_after=5) == timedelta(minutes=1)
    assert retry_delay(1, retry_after=10**9) == timedelta(hours=24)


# -- fan-out ----------------------------------------------------------------------------


def test_events_fan_out_to_the_endpoints_that_subscribe(shop, other_shop, receiver) -> None:
    # given endpoints with different subscriptions (and one of another shop)
    channels = make_endpoint(shop, url=receiver.url("/channels"), event_types=["channel.*"])
    keys = make_endpoint(shop, url=receiver.url("/keys"), event_types=["apikey.created"])
    everything = make_endpoint(shop, url=receiver.url("/all"), event_types=["*"])
    make_endpoint(shop, url=receiver.url("/off"), event_types=["*"], is_active=False)
    make_endpoint(other_shop, url=receiver.url("/globex"), event_types=["*"])

    # when a channel is created, then a key
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
    apikey_create(actor=SYSTEM_ACTOR, shop=shop, kind="secret", name="ERP")

    # then each endpoint got exactly the events it subscribes to
    got = sorted((d.path, json.loads(d.body)["type"]) for d in receiver.received)
    assert got == [
        ("/all", "apikey.created"),
        ("/all", "channel.created"),
        ("/channels", "channel.created"),
        ("/keys", "apikey.created"),
    ]
    by_path = {d.path: d for d in receiver.received if d.path != "/all"}
    assert verify(channels.secret, by_path["/channels"])
    assert verify(keys.secret, by_path["/keys"])
    assert not verify(channels.secret, by_path["/keys"])
    assert all(verify(everything.secret, d) for d in receiver.received if d.path == "/all")
    assert WebhookDelivery.objects.filter(shop=other_shop).count() == 0


def test_fanning_out_again_creates_no_duplicate(shop, receiver) -> None:
    # given an event already fanned out (its outbox row then lost its progress)
    make_endpoint(shop, url=receiver.url(), event_types=["*"])
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
    OutboxEvent.objects.update(
        status=OutboxStatus.PENDING, sinks_done=[], next_attempt_at=timezone.now()
    )

    # when the outbox dispatches it again
    sweep_outbox.enqueue()

    # then the endpoint still has one delivery, and got one request
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.received) == 1


# -- secrets, replays -----------------------------------------------------------------------


def test_after_a_rotation_both_secrets_sign_until_the_old_one_expires(shop, receiver) -> None:
    created = make_endpoint(shop, url=receiver.url(), event_types=["channel.*"])
    rotated = endpoint_rotate_secret(
        actor=SYSTEM_ACTOR,
        shop=shop,
        endpoint_id=created.endpoint.pk,
        previous_secret_valid_hours=1,
    )

    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
    created.endpoint.refresh_from_db()
    created.endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    created.endpoint.save()
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="web", name="Web")

    during, after = receiver.received
    assert during.headers["Merchantry-Signature"].count("v1=") == 2
    assert verify(rotated.secret, during)
    assert verify(created.secret, during)
    assert after.headers["Merchantry-Signature"].count("v1=") == 1
    assert verify(rotated.secret, after)
    assert not verify(created.secret, after)


def test_a_failed_delivery_is_replayed_from_the_api(shop, receiver, admin_client) -> None:
    # given a delivery the receiver refused (it is fixed now)
    endpoint = make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(400)
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
    failed = WebhookDelivery.objects.get()

    # when the merchant replays it
    response = admin_client.post(f"/api/v1/admin/webhooks/deliveries/{failed.pk}/replay")

    # then a new attempt went out with the same event, and succeeded
    assert response.status_code == 202
    assert response.json()["attempt"] == 2
    assert response.json()["is_replay"] is True
    assert _attempts() == [(1, "failed", 400), (2, "succeeded", 200)]
    first, replay = receiver.received
    assert replay.body == first.body
    assert verify(endpoint.secret, replay)


def test_a_failed_replay_is_not_retried_automatically(shop, receiver, admin_client) -> None:
    make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(400, 503)
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    admin_client.post(
        f"/api/v1/admin/webhooks/deliveries/{WebhookDelivery.objects.get().pk}/replay"
    )

    assert _attempts() == [(1, "failed", 400), (2, "failed", 503)]


def test_disabling_an_endpoint_stops_its_pending_retries(shop, receiver) -> None:
    created = make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(500)
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    endpoint_update(
        actor=SYSTEM_ACTOR, shop=shop, endpoint_id=created.endpoint.pk, changes={"is_active": False}
    )
    _make_retry_due()
    enqueue_due_webhooks.enqueue()

    assert len(receiver.received) == 1
    assert _attempts() == [(1, "failed", 500), (2, "failed", None)]
    assert WebhookDelivery.objects.get(attempt=2).error == "The endpoint is disabled."


def test_a_lost_delivery_job_is_sent_by_the_sweep(shop, receiver, monkeypatch) -> None:
    # given a queue that is down when the fan-out commits
    def queue_down(delivery_id: int) -> None:
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(delivery_module, "_enqueue_delivery", queue_down)
    make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")
    assert receiver.received == []
    monkeypatch.undo()

    # when the sweep runs before the job would be considered lost, nothing doubles up
    assert enqueue_due_webhooks.enqueue().return_value == 0

    # and once it is (five minutes on), the sweep sends it
    WebhookDelivery.objects.update(queued_at=timezone.now() - timedelta(minutes=6))
    assert enqueue_due_webhooks.enqueue().return_value == 1
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


@pytest.mark.postgres
def test_racing_workers_send_an_attempt_once(shop, receiver) -> None:
    import threading

    from django.db import connection

    # given a pending attempt whose job was lost
    endpoint = make_endpoint(shop, url=receiver.url("/race"), event_types=["order.*"]).endpoint
    receiver.delay = 0.2
    event = OutboxEvent.objects.create(
        shop_id=shop.pk, type="order.placed", payload={"id": "1"}, status=OutboxStatus.DONE
    )
    pending = WebhookDelivery.objects.create(
        shop=shop,
        endpoint=endpoint,
        event=event,
        event_type=event.type,
        next_attempt_at=timezone.now(),
    )
    barrier = threading.Barrier(5)

    def worker() -> None:
        try:
            barrier.wait()
            delivery_module.deliver(pending.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [d.path for d in receiver.received if d.path == "/race"] == ["/race"]
    pending.refresh_from_db()
    assert pending.status == DeliveryStatus.SUCCEEDED


def test_the_delivery_log_lists_attempts_newest_first(shop, receiver, admin_client) -> None:
    created = make_endpoint(shop, url=receiver.url(), event_types=["channel.created"])
    receiver.answer(500)
    channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="pos", name="Till")

    listed = admin_client.get("/api/v1/admin/webhooks/deliveries").json()
    failed = admin_client.get("/api/v1/admin/webhooks/deliveries", {"status": "failed"}).json()
    mine = admin_client.get(
        "/api/v1/admin/webhooks/deliveries", {"endpoint_id": str(created.endpoint.pk)}
    ).json()

    event = OutboxEvent.objects.get(type="channel.created")
    assert [(d["attempt"], d["status"]) for d in listed["items"]] == [
        (2, "pending"),
        (1, "failed"),
    ]
    assert listed["items"][1]["event_id"] == str(event.uid)
    assert listed["items"][1]["endpoint_id"] == str(created.endpoint.pk)
    assert listed["items"][1]["response_status_code"] == 500
    assert listed["items"][1]["error"] == "The receiver answered 500."
    assert [d["attempt"] for d in failed["items"]] == [1]
    assert len(mine["items"]) == 2
