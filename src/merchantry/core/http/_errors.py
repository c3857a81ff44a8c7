"""
Errors of outbound HTTP calls, and the one place httpx's errors become ours.

The hierarchy::

    OutboundError                   base of every outbound failure
    ├── RetryableError              transient: the same call may succeed later
    │   ├── UpstreamTimeout         connect, read, write or pool timeout
    │   ├── ConnectionFailed        no connection (DNS, refused, reset, dropped)
    │   └── UpstreamUnavailable     408, 429 or 5xx; carries status, response, retry_after
    ├── BlockedUrl                  the SSRF guard refused the URL (scheme or address)
    ├── CircuitOpen                 the circuit of this installation is open; retry_after
    ├── UpstreamRejected            any other 4xx; carries status and response
    └── UpstreamProtocolError       the exchange broke HTTP (bad response, redirect loop)

A job that makes an outbound call retries later on ``RetryableError`` and
``CircuitOpen`` (both carry ``retry_after`` when the upstream or the breaker
said how long to wait) and records a permanent failure on everything else.
None of these shadow a builtin: ``UpstreamTimeout`` is not ``TimeoutError``
and ``ConnectionFailed`` is not ``ConnectionError``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx

from merchantry.core.http._redact import mask_url

__all__ = [
    "BlockedUrl",
    "CircuitOpen",
    "ConnectionFailed",
    "OutboundError",
    "RetryableError",
    "UpstreamProtocolError",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "map_httpx_errors",
    "parse_retry_after",
    "raise_for_upstream",
]

# Statuses that say "not now" rather than "not this": worth trying again later.
UNAVAILABLE_STATUSES = frozenset({408, 429})


class OutboundError(Exception):
    """An outbound HTTP call did not produce a usable answer."""

    retry_after: float | None = None

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class RetryableError(OutboundError):
    """A transient failure: the same call may succeed later."""


class UpstreamTimeout(RetryableError):
    """Connecting, sending, waiting for the answer or for a pooled connection took too long."""


class ConnectionFailed(RetryableError):
    """No connection could be made or kept (DNS, refused, reset, closed early)."""


class UpstreamUnavailable(RetryableError):
    """The upstream answered 408, 429 or 5xx: it cannot serve the call now."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status = response.status_code
        self.retry_after = retry_after


class BlockedUrl(OutboundError):
    """The URL is not allowed: its scheme, or an address its host resolves to."""

    def __init__(
        self,
        url: str,
        *,
        reason: str,
        address: str | None = None,
        request: httpx.Request | None = None,
    ) -> None:
        # The masked URL only: the original may carry a token in its query.
        self.url = mask_url(url)
        self.reason = reason
        self.address = address
        super().__init__(f"refused {self.url}: {reason}", request=request)


class CircuitOpen(OutboundError):
    """Calls under this key failed repeatedly; they are refused until the cool-down ends."""

    def __init__(self, key: str, *, retry_after: float) -> None:
        super().__init__(f"circuit {key!r} is open; next trial in {retry_after:.1f}s")
        self.key = key
        self.retry_after = retry_after


class UpstreamRejected(OutboundError):
    """The upstream refused the call (a 4xx other than 408 and 429); retrying will not help."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status = response.status_code


class UpstreamProtocolError(OutboundError):
    """The exchange broke HTTP: an invalid response, an undecodable body, a redirect loop."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` value asks for, or None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def raise_for_upstream(response: httpx.Response) -> None:
    """Raise ``UpstreamUnavailable`` or ``UpstreamRejected`` for a 4xx/5xx response."""
    status = response.status_code
    if status < 400:
        return
    where = f"{response.request.method} {mask_url(str(response.request.url))}"
    if status >= 500 or status in UNAVAILABLE_STATUSES:
        raise UpstreamUnavailable(
            f"{where} answered {status}",
            response=response,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    raise UpstreamRejected(f"{where} answered {status}", response=response)


def is_connect_phase(exc: Exception) -> bool:
    """Tell whether ``exc`` happened before any byte of the request was sent."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def is_transient(exc: Exception) -> bool:
    """Tell whether an httpx error is worth retrying (for a request that may be repeated)."""
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


@contextmanager
def map_httpx_errors(request: httpx.Request | None = None) -> Iterator[None]:
    """
    Turn httpx's errors raised inside the block into :class:`OutboundError` subclasses.

    The client wraps every ``send`` in this; wrap the reading of a streamed
    body (``client.stream(...)``) in it too.
    """
    try:
        yield
    except httpx.HTTPStatusError as exc:
        raise_for_upstream(exc.response)
        raise  # pragma: no cover (a status error always carries a 4xx/5xx)
    except httpx.HTTPError as exc:
        raise _translate(exc, request) from exc


def _translate(exc: httpx.HTTPError, request: httpx.Request | None) -> OutboundError:
    with suppress(RuntimeError):  # raised outside a request (e.g. while building the URL)
        request = exc.request
    where = f"{request.method} {mask_url(str(request.url))}" if request is not None else "request"
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{where}: {kind}", request=request)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError):
        return ConnectionFailed(f"{where}: {kind}", request=request)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        url = str(request.url) if request is not None else ""
        return BlockedUrl(url, reason="not an http(s) URL", request=request)
    return UpstreamProtocolError(f"{where}: {kind}", request=request)
