"""
The transport every outbound client sends through: scheme check, enforced
timeouts, circuit breaker, bounded retries and one log line per attempt.

It wraps the pinned transport (``_ssrf.PinnedTransport``) and sits below
httpx's client, so every hop of a redirect and every retry passes through it
on its own.
"""

from __future__ import annotations

import logging
import time

import httpx

from merchantry.core.http._circuit import CircuitBreaker
from merchantry.core.http._config import RetryPolicy
from merchantry.core.http._errors import (
    BlockedUrl,
    CircuitOpen,
    is_connect_phase,
    is_transient,
    parse_retry_after,
)
from merchantry.core.http._ssrf import ALLOWED_SCHEMES
from merchantry.core.logging import get_logger

__all__ = ["OutboundTransport"]

logger = get_logger("merchantry.http")

# httpx logs every request with its full URL (query string and all) at INFO,
# and httpcore logs response headers (Set-Cookie) at DEBUG. Our own line below
# replaces them; theirs would put credentials in the log.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


class OutboundTransport(httpx.BaseTransport):
    """Send a request through ``inner`` with the client's timeouts, retries and circuit."""

    def __init__(
        self,
        *,
        name: str,
        inner: httpx.BaseTransport,
        timeout: httpx.Timeout,
        retries: RetryPolicy,
        breaker: CircuitBreaker | None,
    ) -> None:
        self._name = name
        self._inner = inner
        self._timeout = timeout
        self._retries = retries
        self._breaker = breaker

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ALLOWED_SCHEMES:
            raise BlockedUrl(str(request.url), reason="not an http(s) URL", request=request)
        self._enforce_timeouts(request)
        policy = self._retries
        # A streamed body (a generator) is spent by the first try.
        replayable = isinstance(request.stream, httpx.ByteStream)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if attempt == 1 and self._breaker is not None:
                self._breaker.before_call()
            began = time.monotonic()
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError as exc:
                duration = time.monotonic() - began
                if self._breaker is not None:
                    self._breaker.record_failure()
                may_retry = replayable and (is_connect_phase(exc) or policy.may_repeat(request))
                delay = policy.backoff_delay(attempt) if may_retry and is_transient(exc) else None
                delay = self._within_budget(delay, attempt=attempt, started=started)
                self._log(request, attempt, duration, error=type(exc).__name__, retry_in=delay)
                if delay is None:
                    raise
                policy.sleep(delay)
                continue
            except BlockedUrl as exc:
                self._log(request, attempt, time.monotonic() - began, error="BlockedUrl")
                # Raised where the connection is opened, which knows no URL.
                raise BlockedUrl(
                    str(request.url), reason=exc.reason, address=exc.address, request=request
                ) from None
            duration = time.monotonic() - began
            status = response.status_code
            if self._breaker is not None:
                if status >= 500:
                    self._breaker.record_failure()
                else:
                    self._breaker.record_success()
            delay = None
            if status in policy.statuses and replayable and policy.may_repeat(request):
                delay = self._status_delay(response, attempt)
                delay = self._within_budget(delay, attempt=attempt, started=started)
            self._log(request, attempt, duration, status=status, retry_in=delay)
            if delay is None:
                return response
            response.close()
            policy.sleep(delay)

    def close(self) -> None:
        self._inner.close()

    # -- internals ---------------------------------------------------------------------

    def _enforce_timeouts(self, request: httpx.Request) -> None:
        # ``client.get(url, timeout=None)`` would otherwise wait forever.
        defaults = self._timeout.as_dict()
        given = dict(request.extensions.get("timeout") or {})
        request.extensions["timeout"] = {
            phase: given.get(phase) if given.get(phase) is not None else seconds
            for phase, seconds in defaults.items()
        }

    def _status_delay(self, response: httpx.Response, attempt: int) -> float | None:
        asked = parse_retry_after(response.headers.get("Retry-After"))
        if asked is None:
            return self._retries.backoff_delay(attempt)
        return asked if asked <= self._retries.retry_after_cap else None

    def _within_budget(self, delay: float | None, *, attempt: int, started: float) -> float | None:
        policy = self._retries
        if delay is None or attempt >= policy.attempts:
            return None
        if time.monotonic() - started + delay > policy.max_elapsed:
            return None
        if self._breaker is not None:
            # A retry asks the circuit too; if our failures just opened it, the
            # caller gets the last failure, which says more than "circuit open".
            try:
                self._breaker.before_call()
            except CircuitOpen:
                return None
        return delay

    def _log(
        self,
        request: httpx.Request,
        attempt: int,
        duration: float,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        # Method, host and path only: headers, query strings and bodies carry
        # credentials and customer data, so they are never logged.
        fields = {
            "client": self._name,
            "method": request.method,
            "host": request.url.netloc.decode("ascii", "replace"),
            "path": request.url.path,
            "attempt": attempt,
            "duration_ms": round(duration * 1000, 1),
        }
        if status is not None:
            fields["status"] = status
        if error is not None:
            fields["error"] = error
        if retry_in is not None:
            fields["retry_in_ms"] = round(retry_in * 1000)
        failed = error is not None or (status is not None and status >= 500)
        if failed or retry_in is not None:
            logger.warning("http.request", **fields)
        else:
            logger.info("http.request", **fields)
