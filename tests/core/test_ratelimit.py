"""API rate limits: per credential, per address, fail-open, and shared across processes."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from django.test import Client

from merchantry.config import ConfigError, load_config
from merchantry.core import ratelimit
from merchantry.core.ratelimit import CREDENTIAL_KINDS, get_limiter
from merchantry.tenancy.keys import (
    CUSTOMER_TOKEN_PREFIX,
    PUBLISHABLE_KEY_PREFIX,
    SECRET_KEY_PREFIX,
)
from tests.conftest import free_port, run_merchantry, subprocess_env

PROBLEM = "application/problem+json"
SERVE = [sys.executable, "-m", "merchantry", "serve", "--no-worker", "--no-collectstatic"]
API = "/api/v1/"


def _fake_key(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


@pytest.fixture
def rate_limits(settings) -> Iterator[dict[str, str]]:
    """In-memory limits, all off until a test sets them; counts start from zero."""
    limits: dict[str, str] = {"secret": "off", "publishable": "off", "customer": "off", "ip": "off"}
    settings.MERCHANTRY_RATE_LIMITS = limits
    settings.MERCHANTRY_RATE_LIMIT_STORAGE = "memory://"
    settings.MERCHANTRY_RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    settings.MERCHANTRY_TRUST_PROXY_HEADERS = False
    limiter = get_limiter()
    limiter.reset()
    yield limits
    limiter.reset()


def _get(
    client: Client,
    *,
    key: str | None = None,
    ip: str = "198.51.100.7",
    forwarded_for: str | None = None,
):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    if key and key.startswith(PUBLISHABLE_KEY_PREFIX):
        headers["X-Publishable-Key"] = key
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    return client.get(API, headers=headers, REMOTE_ADDR=ip)


# -- over the limit ---------------------------------------------------------------


def test_fourth_request_over_a_3_per_minute_key_limit_is_429(rate_limits, client: Client) -> None:
    # given a secret-key limit of 3 a minute
    rate_limits["secret"] = "3/minute"
    key = _fake_key(SECRET_KEY_PREFIX)

    # when the same key calls four times
    responses = [_get(client, key=key) for _ in range(4)]

    # then three are served, counting down, and the fourth is refused
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(r["RateLimit-Limit"] == "3" for r in responses)
    assert all(r["RateLimit-Policy"] == "3;w=60" for r in responses)
    refused = responses[3]
    assert refused["Content-Type"] == PROBLEM
    body = refused.json()
    assert body["status"] == 429
    assert body["code"] == "rate_limited"
    assert body["detail"].startswith("Too many requests for this secret key; retry in ")
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert int(refused["RateLimit-Reset"]) == retry_after


def test_different_keys_have_separate_budgets(rate_limits, client: Client) -> None:
    # given one key that spent its budget
    rate_limits["secret"] = "2/minute"
    spent, fresh = _fake_key(SECRET_KEY_PREFIX), _fake_key(SECRET_KEY_PREFIX)
    assert [_get(client, key=spent).status_code for _ in range(3)] == [200, 200, 429]

    # when another key calls from the same address
    response = _get(client, key=fresh)

    # then it has a budget of its own
    assert response.status_code == 200
    assert response["RateLimit-Remaining"] == "1"


def test_address_budget_applies_to_anonymous_requests(rate_limits, client: Client) -> None:
    # given an address limit of 2 a minute
    rate_limits["ip"] = "2/minute"

    # when one address calls three times without credentials, and another once
    first = [_get(client, ip="203.0.113.5").status_code for _ in range(3)]
    other = _get(client, ip="203.0.113.6")

    # then the third is refused, and the other address is unaffected
    assert first == [200, 200, 429]
    assert other.status_code == 200
    assert other["RateLimit-Remaining"] == "1"


def test_address_budget_stops_a_client_spraying_made_up_keys(rate_limits, client: Client) -> None:
    # given generous key limits but 3 requests a minute per address
    rate_limits.update(secret="100/minute", ip="3/minute")

    # when one address presents a new key each time
    statuses = [_get(client, key=_fake_key(SECRET_KEY_PREFIX)).status_code for _ in range(4)]
    refused = _get(client, key=_fake_key(SECRET_KEY_PREFIX))

    # then the address budget runs out all the same
    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many requests from this address;")


def test_headers_report_the_budget_closest_to_running_out(rate_limits, client: Client) -> None:
    # given a key budget larger than the address budget
    rate_limits.update(secret="10/minute", ip="4/minute")

    # when a key calls once
    response = _get(client, key=_fake_key(SECRET_KEY_PREFIX))

    # then the headers describe the address budget, which has less left
    assert response["RateLimit-Limit"] == "4"
    assert response["RateLimit-Remaining"] == "3"


def test_publishable_key_budget_is_per_key_and_address(rate_limits, client: Client) -> None:
    # given a publishable key that spent its budget from one address
    rate_limits["publishable"] = "2/minute"
    key = _fake_key(PUBLISHABLE_KEY_PREFIX)
    assert [_get(client, key=key, ip="192.0.2.1").status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]

    # when another shopper's browser uses the same (public) key
    response = _get(client, key=key, ip="192.0.2.2")

    # then one visitor did not spend the whole storefront's allowance
    assert response.status_code == 200


def test_customer_token_and_publishable_key_are_both_counted(rate_limits, client: Client) -> None:
    # given a customer-token budget of 1 and a roomy publishable one
    rate_limits.update(customer="1/minute", publishable="50/minute")
    publishable, token = _fake_key(PUBLISHABLE_KEY_PREFIX), _fake_key(CUSTOMER_TOKEN_PREFIX)
    headers = {"X-Publishable-Key": publishable, "Authorization": f"Bearer {token}"}

    # when a signed-in customer calls twice
    statuses = [client.get(API, headers=headers).status_code for _ in range(2)]

    # then the customer budget decides
    assert statuses == [200, 429]


def test_off_disables_a_limit(rate_limits, client: Client) -> None:
    # given every limit off
    # when a key calls many times
    responses = [_get(client, key=_fake_key(SECRET_KEY_PREFIX)) for _ in range(20)]

    # then nothing is limited or announced
    assert {r.status_code for r in responses} == {200}
    assert not any(r.has_header("RateLimit-Limit") for r in responses)


# -- what is limited ----------------------------------------------------------------


@pytest.mark.django_db
def test_health_endpoints_and_pages_are_not_limited(rate_limits, client: Client) -> None:
    # given an address limit of 1 a minute, already spent
    rate_limits["ip"] = "1/minute"
    assert [_get(client).status_code for _ in range(2)] == [200, 429]

    # when the same address probes health and readiness
    responses = [client.get(path, REMOTE_ADDR="198.51.100.7") for path in ("/healthz", "/readyz")]

    # then they answer, without rate-limit headers
    assert [r.status_code for r in responses] == [200, 200]
    assert not any(r.has_header("RateLimit-Limit") for r in responses)


@pytest.mark.django_db
def test_preflight_requests_spend_no_budget(rate_limits, client: Client) -> None:
    # given an address limit of 1 a minute
    rate_limits["ip"] = "1/minute"

    # when a browser sends preflights, then the real request
    for _ in range(3):
        client.options(
            "/api/v1/store/customers/me",
            headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"},
            REMOTE_ADDR="198.51.100.7",
        )
    response = _get(client)

    # then the real request still has its budget
    assert response.status_code == 200


# -- client address -----------------------------------------------------------------


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(rate_limits, client: Client) -> None:
    # given proxies are not trusted
    rate_limits["ip"] = "1/minute"

    # when a client claims a new address on each request
    first = _get(client, forwarded_for="192.0.2.10")
    second = _get(client, forwarded_for="192.0.2.11")

    # then both count against its real address
    assert [first.status_code, second.status_code] == [200, 429]


def test_first_forwarded_hop_is_the_client_behind_a_trusted_proxy(
    rate_limits, settings, client: Client
) -> None:
    # given a trusted proxy in front, which every request comes through
    rate_limits["ip"] = "1/minute"
    settings.MERCHANTRY_TRUST_PROXY_HEADERS = True

    # when two clients come through it, one of them twice
    a1 = _get(client, forwarded_for="192.0.2.10, 10.0.0.1")
    b1 = _get(client, forwarded_for="192.0.2.11, 10.0.0.1")
    a2 = _get(client, forwarded_for="192.0.2.10, 10.0.0.1")
    garbage = _get(client, forwarded_for="not-an-ip")

    # then each client has its own budget, and garbage falls back to the peer
    assert [a1.status_code, b1.status_code, a2.status_code] == [200, 200, 429]
    assert garbage.status_code == 200


# -- secrets ------------------------------------------------------------------------


def test_raw_keys_are_never_stored(rate_limits, client: Client) -> None:
    # given limits on every kind of credential
    rate_limits.update(secret="5/minute", publishable="5/minute", ip="50/minute")
    secret, publishable = _fake_key(SECRET_KEY_PREFIX), _fake_key(PUBLISHABLE_KEY_PREFIX)

    # when both are presented
    _get(client, key=secret)
    _get(client, key=publishable)

    # then the counters are keyed by hashes, never by the keys
    stored = " ".join(get_limiter().strategy.storage.events)
    assert "secret/" in stored
    assert "publishable/" in stored
    assert secret not in stored
    assert publishable not in stored
    assert secret[:12] not in stored


def test_credential_prefixes_match_the_tenancy_keys() -> None:
    assert dict(CREDENTIAL_KINDS) == {
        f"{SECRET_KEY_PREFIX}_": "secret",
        f"{PUBLISHABLE_KEY_PREFIX}_": "publishable",
        f"{CUSTOMER_TOKEN_PREFIX}_": "customer",
    }


# -- storage down -------------------------------------------------------------------


def test_unreachable_storage_fails_open_and_warns_once(
    rate_limits, settings, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # given a Redis that does not answer (nothing listens on the port)
    rate_limits["ip"] = "1/minute"
    settings.MERCHANTRY_RATE_LIMIT_STORAGE = f"redis://127.0.0.1:{free_port()}/0"

    # when several requests arrive
    with caplog.at_level("WARNING", logger="merchantry.core.ratelimit"):
        responses = [_get(client) for _ in range(3)]

    # then all are served, unlimited, and one warning says why
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert not any(r.has_header("RateLimit-Limit") for r in responses)
    warnings = [r.msg for r in caplog.records if r.name == "merchantry.core.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0]["event"] == "rate_limit_storage_unavailable"


def test_storage_is_tried_again_and_the_warning_repeats_after_a_minute(
    rate_limits, settings, client: Client, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    # given a storage that failed a moment ago
    rate_limits["ip"] = "1/minute"
    settings.MERCHANTRY_RATE_LIMIT_STORAGE = f"redis://127.0.0.1:{free_port()}/0"
    clock = [1000.0]
    fake_time = SimpleNamespace(monotonic=lambda: clock[0], time=time.time)
    monkeypatch.setattr(ratelimit, "time", fake_time)
    with caplog.at_level("WARNING", logger="merchantry.core.ratelimit"):
        _get(client)

        # when it is tried again after the pause, and again a minute later
        clock[0] += ratelimit.STORAGE_RETRY_SECONDS + 1
        _get(client)
        clock[0] += ratelimit.STORAGE_WARNING_EVERY_SECONDS
        _get(client)

    # then the warning was written at most once a minute
    warnings = [r.msg for r in caplog.records if r.name == "merchantry.core.ratelimit"]
    assert len(warnings) == 2


# -- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "value", "expected"),
    [
        ("per minute", "600/minute", "600/minute"),
        ("words", "10 per second", "10 per second"),
        ("several", "10/second;600/hour", "10/second;600/hour"),
        ("off", "OFF", "off"),
        ("zero", "0", "off"),
    ],
)
def test_rate_limit_variables_accept_limits_notation(_case, value, expected) -> None:
    assert load_config(MERCHANTRY_RATE_LIMIT_SECRET=value).rate_limit_secret == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "MERCHANTRY_RATE_LIMIT_IP: 'lots' is not a rate limit; use e.g. 600/minute"),
        ("0/minute", "MERCHANTRY_RATE_LIMIT_IP: '0/minute' allows no request at all"),
    ],
)
def test_invalid_rate_limit_is_a_config_error(value, message) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(MERCHANTRY_RATE_LIMIT_IP=value)
    assert str(excinfo.value).startswith(message)


@pytest.mark.slow
def test_invalid_rate_limit_stops_the_process_with_one_line(tmp_path: Path) -> None:
    env = subprocess_env(
        MERCHANTRY_DATA_DIR=str(tmp_path / "data"), MERCHANTRY_RATE_LIMIT_PUBLISHABLE="fast"
    )
    result = run_merchantry("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "merchantry: invalid configuration: MERCHANTRY_RATE_LIMIT_PUBLISHABLE: 'fast' is not a "
        "rate limit; use e.g. 600/minute, 10/second;600/hour, or off\n"
    )


# -- several processes, one Redis ---------------------------------------------------


def _wait_until_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


@pytest.mark.redis
@pytest.mark.slow
def test_limit_holds_across_two_server_processes_sharing_redis(
    tmp_path: Path, redis_url: str
) -> None:
    import redis

    # given two real servers sharing one Redis, with 5 requests a minute per address;
    # a made-up client address (through a trusted proxy header) keeps this run's
    # counters apart from any other run's
    env = subprocess_env(
        MERCHANTRY_DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=redis_url,
        MERCHANTRY_RATE_LIMIT_IP="5/minute",
        MERCHANTRY_TRUST_PROXY_HEADERS="true",
        MERCHANTRY_WEB_WORKERS="1",
        LOG_FORMAT="json",
    )
    client_ip = str(
        ipaddress.ip_address(f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}")
    )
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [*SERVE, "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for port in ports
    ]
    store = redis.Redis.from_url(redis_url)
    try:
        for port in ports:
            _wait_until_up(port)

        # when ten requests alternate between them
        responses = [
            httpx.get(
                f"http://127.0.0.1:{ports[i % 2]}{API}",
                headers={"X-Forwarded-For": client_ip},
                timeout=5,
            )
            for i in range(10)
        ]
    finally:
        outputs = []
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                outputs.append(server.communicate(timeout=60)[0])
            if server.poll() is None:
                server.kill()
        deleted = sum(
            store.delete(key)
            for key in store.scan_iter(match=f"merchantry:ratelimit:*{client_ip}*")
        )

    # then exactly five were served in all, by both servers, and the rest refused
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 5, statuses
    assert statuses.count(429) == 5, statuses
    assert {i % 2 for i, status in enumerate(statuses) if status == 200} == {0, 1}
    for refused in (r for r in responses if r.status_code == 429):
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert json.loads(refused.text)["code"] == "rate_limited"
    assert all("Traceback" not in output for output in outputs)
    # and the counter they shared was found and cleaned up
    assert deleted == 1
    assert list(store.scan_iter(match=f"merchantry:ratelimit:*{client_ip}*")) == []
