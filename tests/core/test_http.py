"""The outbound client: timeouts, retries, idempotency keys, logging, errors."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import merchantry.core.http as http
from merchantry.config import ConfigError, load_config
from merchantry.core.http import (
    DEFAULT_TIMEOUT,
    NO_RETRIES,
    BlockedUrl,
    CircuitOpen,
    ConnectionFailed,
    OutboundError,
    RetryableError,
    RetryPolicy,
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    idempotency_headers,
    idempotency_key,
    make_client,
    mask_url,
    parse_retry_after,
)
from merchantry.core.http._config import normalize_timeout
from tests.core.http_server import LocalServer, Reply, local_server


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


class Sleeps(list[float]):
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def _client(server: LocalServer, **kwargs: Any) -> http.OutboundClient:
    return make_client(name="test", base_url=server.url(), allow_private=True, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- retries -----------------------------------------------------------------------


def test_get_is_retried_on_503_until_it_succeeds(server: LocalServer, sleeps: Sleeps) -> None:
    # given a server that answers 503 twice, then 200
    server.reply(Reply(status=503), Reply(status=503), Reply(body=b"fine"))
    client = _client(server, retries=RetryPolicy(attempts=3, backoff=0.5, sleep=sleeps))

    # when a GET is sent
    response = client.get("/products")

    # then one successful response came back after three attempts
    assert response.status_code == 200
    assert response.text == "fine"
    assert len(server.requests) == 3
    # with full-jitter back-off: at most 0.5 s, then at most 1 s
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5
    assert 0 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_each_transient_status_is_retried(server: LocalServer, sleeps: Sleeps, status: int) -> None:
    server.reply(Reply(status=status))
    client = _client(server, retries=RetryPolicy(sleep=sleeps))

    assert client.get("/").status_code == 200
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [500, 501, 400, 404, 409])
def test_other_error_statuses_are_not_retried(
    server: LocalServer, sleeps: Sleeps, status: int
) -> None:
    server.default = Reply(status=status)
    client = _client(server, retries=RetryPolicy(sleep=sleeps))

    with pytest.raises(OutboundError) as caught:
        client.get("/")
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert len(server.requests) == 1
    assert sleeps == []


def test_retries_stop_after_the_last_attempt(server: LocalServer, sleeps: Sleeps) -> None:
    server.default = Reply(status=503, body=b"down for maintenance")
    client = _client(server, retries=RetryPolicy(attempts=4, sleep=sleeps))

    with pytest.raises(UpstreamUnavailable) as caught:
        client.get("/")

    assert len(server.requests) == 4
    assert len(sleeps) == 3
    assert caught.value.status == 503
    assert caught.value.response.text == "down for maintenance"


def test_post_without_idempotency_key_is_not_retried(server: LocalServer, sleeps: Sleeps) -> None:
    # given a server that fails once
    server.reply(Reply(status=503))
    client = _client(server, retries=RetryPolicy(sleep=sleeps))

    # when a POST without an idempotency key is sent
    with pytest.raises(UpstreamUnavailable):
        client.post("/charges", json={"amount": 100})

    # then it was sent once: repeating it could charge twice
    assert len(server.requests) == 1
    assert sleeps == []


def test_post_without_idempotency_key_returns_the_503_when_not_raising(
    server: LocalServer, sleeps: Sleeps
) -> None:
    server.reply(Reply(status=503))
    client = _client(server, retries=RetryPolicy(sleep=sleeps), raise_for_status=False)

    response = client.post("/charges", json={"amount": 100})

    assert response.status_code == 503
    assert len(server.requests) == 1


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_and_patch_with_idempotency_key_are_retried(
    server: LocalServer, sleeps: Sleeps, method: str
) -> None:
    # given a server that fails twice
    server.reply(Reply(status=503), Reply(status=502))
    client = _client(server, retries=RetryPolicy(sleep=sleeps))
    key = idempotency_key()

    # when the request carries an idempotency key
    response = client.request(
        method, "/charges", json={"amount": 100}, headers=idempotency_headers(key)
    )

    # then it was retried, each time with the same key and body
    assert response.status_code == 200
    assert [r.headers["Idempotency-Key"] for r in server.requests] == [key, key, key]
    assert {r.body for r in server.requests} == {b'{"amount":100}'}


def test_a_provider_specific_idempotency_header_can_be_configured(
    server: LocalServer, sleeps: Sleeps
) -> None:
    server.reply(Reply(status=503))
    policy = RetryPolicy(idempotency_headers=("PayPal-Request-Id",), sleep=sleeps)
    client = _client(server, retries=policy)

    client.post("/v2/checkout/orders", headers=idempotency_headers(header="PayPal-Request-Id"))

    assert len(server.requests) == 2


def test_retry_after_is_honoured(server: LocalServer, sleeps: Sleeps) -> None:
    server.reply(Reply(status=429, headers={"Retry-After": "3"}))
    client = _client(server, retries=RetryPolicy(retry_after_cap=10, sleep=sleeps))

    assert client.get("/").status_code == 200
    assert sleeps == [3.0]


def test_retry_after_beyond_the_cap_is_not_waited_for(server: LocalServer, sleeps: Sleeps) -> None:
    # given an upstream asking for two minutes
    server.reply(Reply(status=503, headers={"Retry-After": "120"}))
    client = _client(server, retries=RetryPolicy(retry_after_cap=10, sleep=sleeps))

    # then the worker does not block; the caller learns when to come back
    with pytest.raises(UpstreamUnavailable) as caught:
        client.get("/")
    assert sleeps == []
    assert len(server.requests) == 1
    assert caught.value.retry_after == 120.0


def test_retry_after_as_an_http_date_is_read() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_no_retry_starts_after_the_time_budget(server: LocalServer, sleeps: Sleeps) -> None:
    server.reply(Reply(status=503, headers={"Retry-After": "5"}))
    client = _client(server, retries=RetryPolicy(max_elapsed=4, sleep=sleeps))

    with pytest.raises(UpstreamUnavailable):
        client.get("/")
    assert sleeps == []


def test_a_connect_failure_is_retried_even_for_a_post(sleeps: Sleeps) -> None:
    # given nothing listens on the port: nothing can have been sent
    client = make_client(name="test", allow_private=True, retries=RetryPolicy(sleep=sleeps))

    with pytest.raises(ConnectionFailed):
        client.post(f"http://127.0.0.1:{_free_port()}/charges", json={})
    assert len(sleeps) == 2


def test_a_read_timeout_of_a_post_is_not_retried(server: LocalServer, sleeps: Sleeps) -> None:
    # the request reached the server; it may have been processed
    server.reply(Reply(delay=1.0))
    client = _client(server, timeout=0.2, retries=RetryPolicy(sleep=sleeps))

    with pytest.raises(UpstreamTimeout):
        client.post("/charges", json={})
    assert len(server.requests) == 1
    assert sleeps == []


# -- timeouts ----------------------------------------------------------------------


def test_a_slow_server_times_out(server: LocalServer) -> None:
    server.reply(Reply(delay=2.0))
    client = _client(server, timeout=httpx.Timeout(0.3), retries=NO_RETRIES)

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        client.get("/slow")
    assert time.monotonic() - started < 1.5


def test_a_request_cannot_switch_the_timeout_off(server: LocalServer) -> None:
    # given a client with a short timeout
    server.reply(Reply(delay=2.0))
    client = _client(server, timeout=0.3, retries=NO_RETRIES)

    # when one request asks for no timeout at all, it still gets the client's
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        client.get("/slow", timeout=None)
    assert time.monotonic() - started < 1.5


def test_the_default_timeout_is_connect_5s_read_15s() -> None:
    client = make_client(name="test")
    assert client.timeout == DEFAULT_TIMEOUT
    assert (client.timeout.connect, client.timeout.read) == (5.0, 15.0)


@pytest.mark.parametrize(
    "timeout", [None, httpx.Timeout(None), (5.0, None, 5.0, 5.0), httpx.Timeout(5, read=None), 0]
)
def test_unbounded_timeouts_are_refused(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeouts"):
        make_client(name="test", timeout=timeout)


def test_shorthand_timeouts_are_normalized() -> None:
    assert normalize_timeout(2.5) == httpx.Timeout(2.5)
    assert normalize_timeout((1, 2, 3, 4)) == httpx.Timeout(connect=1, read=2, write=3, pool=4)


# -- logging -----------------------------------------------------------------------


def test_log_lines_carry_the_call_and_no_secret(
    server: LocalServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    # given a request with credentials in headers, query string and body
    server.reply(Reply(status=503, headers={"Set-Cookie": "sid=server-c00kie"}))
    client = _client(
        server,
        retries=RetryPolicy(sleep=sleeps),
        headers={"Authorization": "Bearer sk_live_topsecret", "X-Api-Key": "k3y-value"},
    )

    # when it is sent (and retried once)
    with caplog.at_level("DEBUG"):
        client.get(
            "/v1/orders?api_key=q-secret&token=t0ken&page=2",
            headers={"Cookie": "session=c00kie"},
        )

    # then each attempt is logged with method, host, path, status, duration, attempt
    lines = [r.msg for r in caplog.records if r.name == "merchantry.http"]
    assert [(line["attempt"], line["status"]) for line in lines] == [(1, 503), (2, 200)]
    first = lines[0]
    assert first["event"] == "http.request"
    assert first["client"] == "test"
    assert first["method"] == "GET"
    assert first["host"] == f"127.0.0.1:{server.port}"
    assert first["path"] == "/v1/orders"
    assert first["duration_ms"] >= 0
    assert "retry_in_ms" in first
    # and nothing any logger wrote carries a credential or the query string
    everything = json.dumps([str(r.msg) + r.getMessage() for r in caplog.records])
    for secret in ("topsecret", "k3y-value", "q-secret", "t0ken", "c00kie", "page=2"):
        assert secret not in everything


def test_a_blocked_call_is_logged_without_its_query(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(name="images", retries=NO_RETRIES)

    with caplog.at_level("INFO"), pytest.raises(BlockedUrl):
        client.get("http://127.0.0.1/img.png?signature=abc123")

    (line,) = [r.msg for r in caplog.records if r.name == "merchantry.http"]
    assert line["error"] == "BlockedUrl"
    assert line["path"] == "/img.png"
    assert "abc123" not in json.dumps([str(r.msg) for r in caplog.records])


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "https://api.example.com/v1/x?api_key=abc&page=2&access_token=t&sig=s",
            "https://api.example.com/v1/x?api_key=****&page=2&access_token=****&sig=****",
        ),
        (
            "https://u:p4ss@example.com/?password=x&secret=y&signature=z&q=shoes",
            "https://u:****@example.com/?password=****&secret=****&signature=****&q=shoes",
        ),
        ("https://tok3n@example.com/hook", "https://****@example.com/hook"),
        ("https://example.com/plain", "https://example.com/plain"),
    ],
)
def test_mask_url_hides_credentials(url: str, masked: str) -> None:
    assert mask_url(url) == masked


# -- errors ------------------------------------------------------------------------


def test_a_4xx_is_an_upstream_rejection_with_the_response(server: LocalServer) -> None:
    server.reply(Reply(status=422, body=b'{"error": {"code": "card_declined"}}'))
    client = _client(server)

    with pytest.raises(UpstreamRejected) as caught:
        client.post("/charges", json={})

    assert caught.value.status == 422
    assert caught.value.response.json() == {"error": {"code": "card_declined"}}
    assert not isinstance(caught.value, RetryableError)


def test_a_streamed_error_response_is_read_before_raising(server: LocalServer) -> None:
    server.reply(Reply(status=404, body=b"no such file"))
    client = _client(server)

    with pytest.raises(UpstreamRejected) as caught, client.stream("GET", "/missing"):
        pass  # pragma: no cover

    assert caught.value.response.text == "no such file"


def test_too_many_redirects_is_a_protocol_error(server: LocalServer) -> None:
    server.default = Reply(status=302, headers={"Location": "/again"})
    client = _client(server, max_redirects=3)

    with pytest.raises(UpstreamProtocolError):
        client.get("/")
    assert len(server.requests) == 4


def test_the_error_tree() -> None:
    assert issubclass(UpstreamTimeout, RetryableError)
    assert issubclass(ConnectionFailed, RetryableError)
    assert issubclass(UpstreamUnavailable, RetryableError)
    assert issubclass(RetryableError, OutboundError)
    for terminal in (BlockedUrl, CircuitOpen, UpstreamRejected, UpstreamProtocolError):
        assert issubclass(terminal, OutboundError)
        assert not issubclass(terminal, RetryableError)
    # none shadows a builtin
    assert not issubclass(UpstreamTimeout, TimeoutError)
    assert not issubclass(ConnectionFailed, ConnectionError)


def test_the_drawn_trees_agree() -> None:
    from merchantry.core.http import _errors

    def tree(doc: str) -> str:
        return doc.split("::", 1)[1].strip().split("\n\n", 1)[0]

    assert tree(http.__doc__ or "") == tree(_errors.__doc__ or "")


# -- redirects and headers ---------------------------------------------------------


def test_credentials_are_not_forwarded_to_another_origin(
    server: LocalServer, other_server: LocalServer
) -> None:
    # given a client with credentials, and a redirect to another origin
    server.reply(Reply(status=302, headers={"Location": other_server.url("/elsewhere")}))
    client = _client(
        server,
        headers={"Authorization": "Bearer t", "X-Api-Key": "k", "CJ-Access-Token": "c"},
    )

    # when it is followed
    client.get("/start")

    # then the first origin got the credentials and the second none of them
    assert server.requests[0].headers["X-Api-Key"] == "k"
    received = {name.lower() for name in other_server.requests[0].headers}
    assert received.isdisjoint({"authorization", "x-api-key", "cj-access-token"})
    assert "user-agent" in received


def test_credentials_follow_a_redirect_within_the_origin(server: LocalServer) -> None:
    server.reply(Reply(status=302, headers={"Location": "/next"}))
    client = _client(server, headers={"X-Api-Key": "k"})

    client.get("/start")

    assert [r.headers.get("X-Api-Key") for r in server.requests] == ["k", "k"]


def test_the_user_agent_names_the_client(server: LocalServer) -> None:
    _client(server).get("/")
    assert server.requests[0].headers["User-Agent"].endswith("(test)")


# -- the factory's inputs ----------------------------------------------------------


@pytest.mark.parametrize("name", ["", "Stripe", "has space", "x" * 65])
def test_client_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="client name"):
        make_client(name=name)


def test_retry_policy_is_a_value_object() -> None:
    assert RetryPolicy(attempts=2) == RetryPolicy(attempts=2)
    assert RetryPolicy(attempts=2) != NO_RETRIES
    assert "attempts=2" in repr(RetryPolicy(attempts=2))
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(backoff=-1)


def test_idempotency_keys_are_unique_uuids() -> None:
    first, second = idempotency_key(), idempotency_key()
    assert first != second
    assert uuid.UUID(first).version == 4
    assert idempotency_headers("refund:42") == {"Idempotency-Key": "refund:42"}


def test_exported_members_are_the_public_names() -> None:
    public = {
        name
        for name, value in vars(http).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(http.__name__)
    }
    assert set(http.__all__) >= public
    assert len(http.__all__) == len(set(http.__all__))
    for name in http.__all__:
        assert hasattr(http, name), name


# -- configuration -----------------------------------------------------------------


def test_the_allow_list_is_read_from_the_environment() -> None:
    config = load_config(MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS=" localhost:8025, 10.0.5.0/24 ,")
    assert config.http_allow_private_hosts == ["localhost:8025", "10.0.5.0/24"]
    assert load_config().http_allow_private_hosts == []


def test_an_invalid_allow_list_entry_stops_start_up() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS="localhost,bad host")
    assert str(caught.value) == (
        "MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS: 'bad host' is not a host name, an address or a "
        "network"
    )
