"""The circuit breaker: opens on repeated failures, half-opens, closes on success."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache.backends.locmem import LocMemCache

from merchantry.core.http import (
    NO_RETRIES,
    CircuitBreaker,
    CircuitOpen,
    RetryPolicy,
    UpstreamRejected,
    UpstreamUnavailable,
    make_client,
)
from tests.core.http_server import LocalServer, Reply, local_server


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def _breaker(clock: Clock, **kwargs: Any) -> CircuitBreaker:
    # A fresh key per test: the cache outlives the test.
    options = {"failure_threshold": 3, "window": 60.0, "cool_down": 30.0, **kwargs}
    return CircuitBreaker(key=f"stripe:{uuid.uuid4()}", clock=clock, **options)


def _allows(breaker: CircuitBreaker) -> bool:
    try:
        breaker.before_call()
    except CircuitOpen:
        return False
    return True


def test_the_circuit_opens_after_the_threshold(clock: Clock) -> None:
    # given a closed circuit with a threshold of three
    breaker = _breaker(clock)

    # when two calls fail, it stays closed; the third opens it
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state() == "closed"
    assert _allows(breaker)
    breaker.record_failure()

    # then calls are refused, saying when to come back
    assert breaker.state() == "open"
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == 30.0
    assert caught.value.key == breaker.key


def test_a_success_resets_the_count_of_consecutive_failures(clock: Clock) -> None:
    breaker = _breaker(clock)

    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()

    assert breaker.state() == "closed"


def test_failures_spread_beyond_the_window_do_not_open_it(clock: Clock) -> None:
    breaker = _breaker(clock)

    breaker.record_failure()
    clock.now += 30
    breaker.record_failure()
    clock.now += 31  # the window began with the first failure, 61 s ago
    breaker.record_failure()

    assert breaker.state() == "closed"
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state() == "open"


def test_after_the_cool_down_one_trial_call_goes_through(clock: Clock) -> None:
    # given an open circuit
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()

    # then it refuses until the cool-down is over
    clock.now += 29.9
    assert not _allows(breaker)

    # and then lets exactly one trial through
    clock.now += 0.1
    assert breaker.state() == "half_open"
    assert _allows(breaker)
    assert not _allows(breaker)


def test_a_successful_trial_closes_the_circuit(clock: Clock) -> None:
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 30
    assert _allows(breaker)

    breaker.record_success()

    assert breaker.state() == "closed"
    assert all(_allows(breaker) for _ in range(5))


def test_a_failed_trial_opens_the_circuit_for_another_cool_down(clock: Clock) -> None:
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 30
    assert _allows(breaker)

    clock.now += 1
    breaker.record_failure()

    assert breaker.state() == "open"
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == 30.0


def test_a_trial_that_never_reports_back_is_given_up(clock: Clock) -> None:
    # given a trial claimed by a worker that then died
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 30
    assert _allows(breaker)
    assert not _allows(breaker)

    # when another cool-down has passed, a new trial may go
    clock.now += 30
    assert _allows(breaker)


def test_circuits_are_isolated_per_key(clock: Clock) -> None:
    # given two installations of the same plugin
    first, second = _breaker(clock), _breaker(clock)

    # when one fails repeatedly
    for _ in range(3):
        first.record_failure()

    # then only its own circuit opens
    assert first.state() == "open"
    assert second.state() == "closed"
    assert _allows(second)


def test_instances_with_the_same_key_share_one_circuit(clock: Clock) -> None:
    breaker = _breaker(clock)
    twin = CircuitBreaker(key=breaker.key, failure_threshold=3, clock=clock)

    for _ in range(3):
        breaker.record_failure()

    assert twin.state() == "open"
    assert not _allows(twin)


def test_only_one_of_many_threads_gets_the_trial(clock: Clock) -> None:
    # given a half-open circuit and twenty threads calling at once
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 30
    start = threading.Barrier(20)
    allowed: list[bool] = []

    def call() -> None:
        start.wait()
        allowed.append(_allows(breaker))

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one went through
    assert allowed.count(True) == 1


class BrokenCache(LocMemCache):
    """A cache whose every call fails, as Redis does when it is down."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    get = set = add = incr = delete = delete_many = set_many = _fail


def test_an_unreachable_cache_lets_calls_through(clock: Clock, settings: Any) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "broken": {"BACKEND": f"{__name__}.BrokenCache", "LOCATION": "broken"},
    }
    breaker = _breaker(clock, cache_alias="broken")

    for _ in range(5):
        breaker.record_failure()

    assert _allows(breaker)
    assert breaker.state() == "closed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": ""}, "needs a key"),
        ({"key": "k", "failure_threshold": 0}, "at least 1"),
        ({"key": "k", "cool_down": 0}, "positive"),
    ],
)
def test_breaker_settings_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker(**kwargs)


# -- with the client ---------------------------------------------------------------


def test_the_client_short_circuits_without_touching_the_network(
    server: LocalServer, clock: Clock
) -> None:
    # given a provider that keeps failing
    server.default = Reply(status=503)
    breaker = _breaker(clock, failure_threshold=2)
    client = make_client(
        name="stripe",
        base_url=server.url(),
        allow_private=True,
        retries=NO_RETRIES,
        circuit=breaker,
    )

    # when it has failed twice
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            client.get("/v1/balance")

    # then the next call fails at once, and the server sees nothing more
    with pytest.raises(CircuitOpen):
        client.get("/v1/balance")
    assert len(server.requests) == 2

    # when the cool-down is over and the provider is back
    clock.now += 30
    server.default = Reply(status=200)

    # then the trial call goes through and closes the circuit
    assert client.get("/v1/balance").status_code == 200
    assert breaker.state() == "closed"
    assert len(server.requests) == 3


def test_client_errors_do_not_count_as_failures(server: LocalServer, clock: Clock) -> None:
    # a 4xx means the provider is up and answering
    server.default = Reply(status=404)
    breaker = _breaker(clock, failure_threshold=2)
    client = make_client(name="stripe", base_url=server.url(), allow_private=True, circuit=breaker)

    for _ in range(3):
        with pytest.raises(UpstreamRejected):
            client.get("/v1/charges/ch_missing")

    assert breaker.state() == "closed"


def test_an_open_circuit_ends_retries_with_the_last_failure(
    server: LocalServer, clock: Clock
) -> None:
    # given retries enough to outlast the threshold
    server.default = Reply(status=503)
    breaker = _breaker(clock, failure_threshold=2)
    client = make_client(
        name="stripe",
        base_url=server.url(),
        allow_private=True,
        circuit=breaker,
        retries=RetryPolicy(attempts=5, sleep=lambda seconds: None),
    )

    # when the call fails, the retries stop as soon as the circuit opens
    with pytest.raises(UpstreamUnavailable):
        client.get("/")
    assert len(server.requests) == 2


def test_a_circuit_key_builds_a_breaker_with_defaults() -> None:
    client = make_client(name="webhooks", circuit="webhook:42")
    assert client.breaker == CircuitBreaker(key="webhook:42")


@pytest.mark.redis
def test_the_circuit_is_shared_through_redis(clock: Clock, settings: Any) -> None:
    # given two processes' worth of breakers on one Redis
    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": f"test-{uuid.uuid4()}",
        },
    }
    breaker = _breaker(clock, cache_alias="shared")
    twin = CircuitBreaker(key=breaker.key, failure_threshold=3, cache_alias="shared", clock=clock)

    # when one records the failures
    for _ in range(3):
        breaker.record_failure()

    # then the other sees the circuit open, and only one trial after the cool-down
    assert twin.state() == "open"
    clock.now += 30
    assert _allows(twin)
    assert not _allows(breaker)
    breaker.record_success()
    assert twin.state() == "closed"
