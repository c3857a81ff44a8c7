"""
Outbound HTTP: one client factory for every integration, webhook and URL fetch.

``make_client(name=...)`` returns an ``httpx.Client`` that:

- always has timeouts (connect 5 s, read 15 s by default; ``None`` is refused);
- retries transient failures (connect errors, timeouts, 429, 502, 503, 504)
  with exponential back-off and full jitter, only for requests that may be
  repeated: idempotent methods, or a POST/PATCH carrying ``Idempotency-Key``
  (see :func:`idempotency_headers`);
- logs one line per attempt (client, method, host, path, status, duration,
  attempt) and never a header, query string or body;
- connects only to public addresses, resolving each host once and connecting
  to the checked address, redirects included (the SSRF guard, ``_ssrf``);
- refuses calls while the circuit of its key is open (:class:`CircuitBreaker`);
- raises the errors below instead of httpx's.

The errors::

    OutboundError                   base of every outbound failure
    ├── RetryableError              transient: the same call may succeed later
    │   ├── UpstreamTimeout         connect, read, write or pool timeout
    │   ├── ConnectionFailed        no connection (DNS, refused, reset, dropped)
    │   └── UpstreamUnavailable     408, 429 or 5xx; carries status, response, retry_after
    ├── BlockedUrl                  the SSRF guard refused the URL (scheme or address)
    ├── CircuitOpen                 the circuit of this installation is open; retry_after
    ├── UpstreamRejected            any other 4xx; carries status and response
    └── UpstreamProtocolError       the exchange broke HTTP (bad response, redirect loop)

See ``docs/http-client.md`` for usage.
"""

from merchantry.core.http._circuit import CircuitBreaker, CircuitState
from merchantry.core.http._client import (
    OutboundClient,
    idempotency_headers,
    idempotency_key,
    make_client,
)
from merchantry.core.http._config import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    IDEMPOTENCY_KEY_HEADER,
    NO_RETRIES,
    RetryPolicy,
    TimeoutTypes,
)
from merchantry.core.http._errors import (
    BlockedUrl,
    CircuitOpen,
    ConnectionFailed,
    OutboundError,
    RetryableError,
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    map_httpx_errors,
    parse_retry_after,
    raise_for_upstream,
)
from merchantry.core.http._redact import mask_url
from merchantry.core.http._ssrf import (
    AllowRule,
    check_public_url,
    is_public_address,
    parse_allow_list,
)

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "IDEMPOTENCY_KEY_HEADER",
    "NO_RETRIES",
    "AllowRule",
    "BlockedUrl",
    "CircuitBreaker",
    "CircuitOpen",
    "CircuitState",
    "ConnectionFailed",
    "OutboundClient",
    "OutboundError",
    "RetryPolicy",
    "RetryableError",
    "TimeoutTypes",
    "UpstreamProtocolError",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "check_public_url",
    "idempotency_headers",
    "idempotency_key",
    "is_public_address",
    "make_client",
    "map_httpx_errors",
    "mask_url",
    "parse_allow_list",
    "parse_retry_after",
    "raise_for_upstream",
]
