"""
The webhook inbox: verification on the raw body, storage and deduplication,
a fast answer, processing by a job with retries and back-off, failures that
stay visible and can be replayed, and out-of-order delivery.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from freezegun import freeze_time

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.plugins import inbox, services, tasks
from merchantry.plugins.models import PluginInstallation, WebhookEvent
from merchantry.testing import registered_plugin, sign_webhook
from tests.plugins.sample_plugins import (
    API_KEY,
    SIGNATURE_HEADER,
    WEBHOOK_SECRET,
    SamplePlugin,
    SampleState,
    installed,
    reset_sample_state,
    sample_plugin,
    signed,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sample() -> Iterator[None]:
    reset_sample_state()
    with registered_plugin(sample_plugin()):
        yield
    reset_sample_state()


@pytest.fixture
def installation(shop) -> PluginInstallation:
    return installed(shop)


def url(installation: PluginInstallation, rest: str = "") -> str:
    return installation.webhook_path + rest


def event_payload(event_id: str = "evt_1", **extra) -> dict:
    return {
        "id": event_id,
        "type": "payment.updated",
        "created": 1_700_000_000,
        "status": "paid",
        **extra,
    }


def deliver(client: Client, installation, payload: dict, *, headers=None, secret=WEBHOOK_SECRET):
    body, signature = signed(payload, secret=secret)
    return client.post(
        url(installation),
        data=body,
        content_type="application/json",
        headers={**signature, **(headers or {})},
    )


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """Deliver a signed webhook and run what was enqueued once it committed."""

    def send(installation, payload, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return deliver(client, installation, payload, **kwargs)

    return send


# -- receiving --------------------------------------------------------------------------


def test_a_verified_webhook_is_stored_answered_and_processed(post, installation) -> None:
    payload = event_payload()

    response = post(
        installation,
        payload,
        headers={"Authorization": "Bearer abc", "Cookie": "sessionid=x", "User-Agent": "Sample/1"},
    )

    assert response.status_code == 200
    assert response.json() == {"received": True}
    event = WebhookEvent.objects.get()
    assert (event.shop_id, event.installation_id, event.plugin_id) == (
        installation.shop_id,
        installation.pk,
        "sample",
    )
    assert (event.provider_event_id, event.event_type) == ("evt_1", "payment.updated")
    assert bytes(event.body) == json.dumps(payload).encode()
    assert set(event.headers) == {"content-type", "user-agent", "x-sample-signature"}
    assert (event.status, event.attempts, event.last_error) == ("processed", 1, "")
    assert SampleState.processed == ["evt_1"]
    installation.refresh_from_db()
    assert installation.last_webhook_at is not None
    assert (installation.success_count, installation.error_count) == (1, 0)


def test_the_answer_comes_before_processing(
    client, installation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = deliver(client, installation, event_payload())

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "pending"
    assert SampleState.processed == []
    assert len(callbacks) == 1  # the job, enqueued once the row is committed


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "no signature", "stale timestamp", "body changed", "signature of another"],
)
def test_a_bad_signature_is_401_and_nothing_is_stored(client, installation, tamper, caplog) -> None:
    payload = event_payload()
    body, headers = signed(payload)
    if tamper == "wrong secret":
        body, headers = signed(payload, secret="whsec_attacker-guess-0001")
    elif tamper == "no signature":
        headers = {}
    elif tamper == "stale timestamp":
        body, headers = signed(payload, timestamp=int(time.time()) - 3600)
    elif tamper == "body changed":
        body = body.replace(b"paid", b"free")
    elif tamper == "signature of another":
        _, headers = signed(event_payload("evt_2"))

    response = client.post(
        url(installation), data=body, content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert SampleState.processed == []
    installation.refresh_from_db()
    assert installation.last_webhook_at is None
    assert "webhook_rejected" in caplog.text
    assert "payment.updated" not in caplog.text  # the body is never logged


def test_a_signed_body_that_is_not_json_is_400(client, installation) -> None:
    body = b"not json"
    headers = sign_webhook(body, secret=WEBHOOK_SECRET, header=SIGNATURE_HEADER)

    response = client.post(url(installation), data=body, content_type="text/plain", headers=headers)

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_unknown_urls_and_disabled_installations_are_404(client, shop, other_shop, installation):
    with registered_plugin(sample_plugin("other")):
        other = installed(other_shop, "other")
        disabled = installed(shop, "other", enabled=False)
        payload = event_payload()
        body, headers = signed(payload)
        token = installation.webhook_token
        urls = [
            f"/webhooks/sample/{'x' * 43}/",  # no such token
            f"/webhooks/other/{token}/",  # a token of another plugin's installation
            f"/webhooks/sample/{other.webhook_token}/",
            disabled.webhook_path,
            f"/webhooks/sample/{token[:-1]}/",
            "/webhooks/Sample!/abc/",
        ]

        answers = [
            client.post(u, data=body, content_type="application/json", headers=headers)
            for u in urls
        ]

    assert [a.status_code for a in answers] == [404] * len(urls)
    assert not WebhookEvent.objects.exists()


def test_only_post_is_accepted(client, installation) -> None:
    response = client.get(url(installation))

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_the_url_may_carry_a_path_and_needs_no_trailing_slash(post, installation) -> None:
    body, headers = signed(event_payload())

    with_path = post(installation, event_payload("evt_a"))
    bare = Client().post(
        url(installation).rstrip("/"), data=body, content_type="application/json", headers=headers
    )
    nested = Client().post(
        url(installation, "payments/v2"),
        data=signed(event_payload("evt_b"))[0],
        content_type="application/json",
        headers=signed(event_payload("evt_b"))[1],
    )

    assert (with_path.status_code, bare.status_code, nested.status_code) == (200, 200, 200)
    assert WebhookEvent.objects.get(provider_event_id="evt_b").path == "payments/v2"


def test_a_plugin_crashing_in_verification_is_503_and_stores_nothing(
    client, installation, monkeypatch
) -> None:
    def crash(self, webhook, **kwargs):
        raise KeyError(f"bug while reading {API_KEY}")

    monkeypatch.setattr(SamplePlugin, "verify_webhook", crash)

    response = deliver(client, installation, event_payload())

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()


def test_a_body_over_the_limit_is_refused_unread(client, installation, settings) -> None:
    settings.MERCHANTRY_MAX_REQUEST_BODY = 1024

    response = deliver(client, installation, event_payload(note="x" * 2000))

    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


# -- deduplication and order --------------------------------------------------------------


def test_a_duplicate_event_is_answered_but_processed_once(post, installation) -> None:
    first = post(installation, event_payload("evt_dup"))
    second = post(installation, event_payload("evt_dup"))

    assert (first.status_code, second.status_code) == (200, 200)
    assert WebhookEvent.objects.count() == 1
    assert SampleState.processed == ["evt_dup"]
    installation.refresh_from_db()
    assert installation.success_count == 1


def test_the_same_event_id_in_two_shops_is_two_events(post, shop, other_shop, installation):
    theirs = installed(other_shop)

    post(installation, event_payload("evt_same"))
    post(theirs, event_payload("evt_same"))

    assert WebhookEvent.objects.filter(provider_event_id="evt_same").count() == 2
    assert SampleState.processed == ["evt_same", "evt_same"]


def test_events_without_an_id_are_deduplicated_by_body(post, installation) -> None:
    payload = {"type": "ping", "status": "paid", "created": 1_700_000_000}

    post(installation, payload)
    post(installation, payload)

    event = WebhookEvent.objects.get()
    assert event.provider_event_id.startswith("sha256:")


def test_out_of_order_delivery_keeps_the_newest_state(post, installation) -> None:
    newer = event_payload("evt_2", status="refunded", created=1_700_000_200)
    older = event_payload("evt_1", status="paid", created=1_700_000_100)

    post(installation, newer)
    post(installation, older)

    assert SampleState.processed == ["evt_2", "evt_1"]
    assert SampleState.resource[installation.pk][1] == "refunded"


# -- failures, retries, replay ------------------------------------------------------------


def run_retries_until_settled(event: WebhookEvent) -> int:
    """Let time pass to each retry and run the sweep; return the sweeps it took."""
    sweeps = 0
    event.refresh_from_db()
    while event.status == "pending":
        with freeze_time(event.next_attempt_at + timedelta(seconds=1)):
            tasks.retry_webhook_events.call()
        sweeps += 1
        event.refresh_from_db()
        assert sweeps <= inbox.MAX_ATTEMPTS
    return sweeps


def test_a_failure_is_retried_with_back_off(post, installation) -> None:
    SampleState.fail["evt_t"] = 1  # fails once, then works
    started = timezone.now()

    post(installation, event_payload("evt_t"))

    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("pending", 1)
    assert event.next_attempt_at >= started + inbox.FIRST_RETRY
    assert event.last_error == "RuntimeError: provider answered 500 for key [redacted]"
    assert run_retries_until_settled(event) == 1
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    assert SampleState.processed == ["evt_t"]
    installation.refresh_from_db()
    assert (installation.error_count, installation.success_count) == (1, 1)
    assert API_KEY not in installation.last_error


def test_a_lasting_failure_ends_failed_visible_and_replayable(
    post, installation, admin_client, django_capture_on_commit_callbacks
) -> None:
    # given an event the plugin cannot process
    SampleState.fail["evt_f"] = -1
    post(installation, event_payload("evt_f"))
    event = WebhookEvent.objects.get()

    # when every retry fails
    sweeps = run_retries_until_settled(event)

    # then it is failed after MAX_ATTEMPTS, and visible as such
    event.refresh_from_db()
    assert sweeps == inbox.MAX_ATTEMPTS - 1
    assert (event.status, event.attempts) == ("failed", inbox.MAX_ATTEMPTS)
    listed = admin_client.get("/api/v1/admin/plugins/sample/webhook-events?status=failed").json()
    assert [(e["id"], e["status"], e["attempts"]) for e in listed["items"]] == [
        (str(event.pk), "failed", 8)
    ]
    assert API_KEY not in json.dumps(listed)
    health = services.plugin_health(actor=SYSTEM_ACTOR, shop=installation.shop, plugin_id="sample")
    assert (health.failed_events, health.error_count) == (1, 8)
    # and once the cause is fixed, a replay processes it
    SampleState.fail.clear()
    with django_capture_on_commit_callbacks(execute=True):
        replayed = admin_client.post(
            f"/api/v1/admin/plugins/sample/webhook-events/{event.pk}/replay"
        )
    assert replayed.status_code == 202
    assert replayed.json()["status"] == "pending"
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)
    assert SampleState.processed == ["evt_f"]


def test_a_retry_job_for_an_event_already_done_does_nothing(post, installation) -> None:
    post(installation, event_payload())
    event = WebhookEvent.objects.get()

    outcome = tasks.process_webhook_event.call(event.pk)

    assert outcome == "skipped"
    assert SampleState.processed == ["evt_1"]
    event.refresh_from_db()
    assert event.attempts == 1


def test_an_event_abandoned_by_a_stopped_worker_is_taken_back(installation) -> None:
    event = WebhookEvent.objects.create(
        shop_id=installation.shop_id,
        installation=installation,
        plugin_id="sample",
        provider_event_id="evt_lost",
        body=b"{}",
        payload=event_payload("evt_lost"),
        status="processing",
        attempts=1,
        last_attempt_at=timezone.now() - timedelta(minutes=20),
    )

    tasks.retry_webhook_events.call()

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert SampleState.processed == ["evt_lost"]


def test_events_of_a_disabled_plugin_wait_and_fail_visibly(post, installation) -> None:
    post(installation, event_payload("evt_x"))
    event = WebhookEvent.objects.get()
    WebhookEvent.objects.filter(pk=event.pk).update(status="pending", attempts=0)
    services.plugin_disable(actor=SYSTEM_ACTOR, shop=installation.shop, plugin_id="sample")

    outcome = tasks.process_webhook_event.call(event.pk)

    event.refresh_from_db()
    assert outcome == "retry"
    assert event.last_error == "The plugin is not enabled in this shop."


def test_back_off_doubles_up_to_a_cap() -> None:
    delays = [inbox.retry_delay(attempt) for attempt in range(1, 12)]

    assert timedelta(minutes=1) <= delays[0] <= timedelta(minutes=1.1)
    assert timedelta(minutes=2) <= delays[1] <= timedelta(minutes=2.2)
    assert timedelta(minutes=64) <= delays[6] <= timedelta(minutes=70.4)
    assert all(delay <= inbox.MAX_RETRY * 1.1 for delay in delays)
    assert delays[-1] >= inbox.MAX_RETRY


def test_only_safe_headers_are_kept() -> None:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Stripe/1.0",
        "Stripe-Signature": "t=1,v1=abc",
        "X-Shopify-Hmac-Sha256": "abc=",
        "X-Shopify-Topic": "orders/create",
        "Paypal-Transmission-Id": "tx1",
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "Authorization": "Bearer secret",
        "Cookie": "sessionid=abc",
        "X-Api-Key": "k",
        "X-Auth-Token": "t",
        "X-Forwarded-For": "10.0.0.1",
        "Accept": "*/*",
    }

    kept = inbox.safe_headers(headers)

    assert set(kept) == {
        "content-type",
        "user-agent",
        "stripe-signature",
        "x-shopify-hmac-sha256",
        "x-shopify-topic",
        "paypal-transmission-id",
        "webhook-id",
        "webhook-timestamp",
    }


@pytest.mark.real_queue
def test_a_queue_that_runs_jobs_later_holds_each_retry_until_its_time(
    settings, installation
) -> None:
    # given the database queue, which defers jobs, and an event that fails
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    SampleState.fail["evt_q"] = -1
    event = WebhookEvent.objects.create(
        shop_id=installation.shop_id,
        installation=installation,
        plugin_id="sample",
        provider_event_id="evt_q",
        body=b"{}",
        payload=event_payload("evt_q"),
    )

    # when it is processed
    outcome = inbox.process_event(event.pk)

    # then its retry waits in the queue for its time
    event.refresh_from_db()
    queued = DBTaskResult.objects.get()
    assert outcome == "retry"
    assert queued.task_path == "merchantry.plugins.tasks.process_webhook_event"
    assert queued.args_kwargs["args"] == [event.pk]
    assert queued.run_after == event.next_attempt_at
    # and the sweep leaves it to the queue until it is long overdue
    assert inbox.requeue_due(now=event.next_attempt_at + timedelta(minutes=1)) == 0
    assert inbox.requeue_due(now=event.next_attempt_at + timedelta(minutes=6)) == 1
    assert DBTaskResult.objects.count() == 2
