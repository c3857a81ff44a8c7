"""The outbound client factory, and the idempotency-key helpers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from merchantry import __version__
from merchantry.core.http._circuit import CircuitBreaker
from merchantry.core.http._config import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    IDEMPOTENCY_KEY_HEADER,
    RetryPolicy,
    TimeoutTypes,
    normalize_timeout,
)
from merchantry.core.http._errors import map_httpx_errors, raise_for_upstream
from merchantry.core.http._redact import SECRET_HEADER_RE
from merchantry.core.http._ssrf import AddressGuard, PinnedTransport
from merchantry.core.http._transport import OutboundTransport

__all__ = ["OutboundClient", "idempotency_headers", "idempotency_key", "make_client"]

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


def idempotency_key() -> str:
    """Return a new random idempotency key (a UUID4, as providers expect)."""
    return str(uuid.uuid4())


def idempotency_headers(
    key: str | None = None, *, header: str = IDEMPOTENCY_KEY_HEADER
) -> dict[str, str]:
    """
    Return the header that makes a POST safe to retry: ``{"Idempotency-Key": key}``.

    Pass the same ``key`` when a job repeats the same operation (derive it from
    what the operation is, e.g. ``f"refund:{refund.id}"``), so the provider
    answers the repeat with the first result instead of doing it twice; a new
    key is generated when none is given.
    """
    return {header: key or idempotency_key()}


class OutboundClient(httpx.Client):
    """
    An ``httpx.Client`` whose errors are :class:`OutboundError` subclasses.

    Build one with :func:`make_client`; everything else is httpx's API.
    """

    def __init__(
        self,
        *,
        name: str,
        raise_for_status: bool,
        breaker: CircuitBreaker | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.breaker = breaker
        self._raise_for_status = raise_for_status

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Send like httpx, raising ``OutboundError`` subclasses instead of httpx's errors."""
        with map_httpx_errors(request):
            response = super().send(request, **kwargs)
        if self._raise_for_status and response.status_code >= 400:
            try:
                # Streamed or not, the error body is small and the caller wants it.
                with map_httpx_errors(request):
                    response.read()
            finally:
                response.close()
            raise_for_upstream(response)
        return response

    def _redirect_headers(
        self, request: httpx.Request, url: httpx.URL, method: str
    ) -> httpx.Headers:
        # httpx drops Authorization on a redirect to another origin; API keys
        # travel in other headers too (X-Api-Key, CJ-Access-Token, cookies).
        headers = super()._redirect_headers(request, url, method)
        if (url.scheme, url.host, url.port) != (
            request.url.scheme,
            request.url.host,
            request.url.port,
        ):
            for name in [name for name in headers if SECRET_HEADER_RE.search(name)]:
                del headers[name]
        return headers


def make_client(
    *,
    name: str,
    base_url: str | httpx.URL | None = None,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    retries: RetryPolicy = DEFAULT_RETRIES,
    headers: Mapping[str, str] | None = None,
    allow_private: bool = False,
    circuit: CircuitBreaker | str | None = None,
    auth: httpx.Auth | None = None,
    follow_redirects: bool = True,
    max_redirects: int = 5,
    raise_for_status: bool = True,
    verify: Any = True,
) -> OutboundClient:
    """
    Return an httpx client for outbound calls, safe by default.

    - ``name`` names the caller in every log line (``"stripe"``, ``"webhooks"``).
    - ``timeout``: an ``httpx.Timeout``, seconds, or a 4-tuple; never unbounded
      (default: connect 5 s, read and write 15 s).
    - ``retries``: a :class:`RetryPolicy`; ``NO_RETRIES`` turns them off.
    - ``allow_private``: skip the SSRF address check, for a client whose URLs
      are the operator's configuration (a provider base URL), never data. The
      scheme check stays.
    - ``circuit``: a :class:`CircuitBreaker`, or a key to build one with defaults.
    - ``raise_for_status``: raise ``UpstreamUnavailable``/``UpstreamRejected``
      for 4xx/5xx answers (the body is read first); pass False when handing the
      client to an SDK that reads error responses itself.
    - ``verify``: as httpx's (an ``ssl.SSLContext`` for a private CA).

    Build a client once per integration or installation and reuse it (it
    pools connections); close it, or use it as a context manager, when done.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a client name (lowercase letters, digits, _.:-)")
    timeout = normalize_timeout(timeout)
    breaker = CircuitBreaker(key=circuit) if isinstance(circuit, str) else circuit
    transport = OutboundTransport(
        name=name,
        inner=PinnedTransport(guard=AddressGuard(allow_private=allow_private), verify=verify),
        timeout=timeout,
        retries=retries,
        breaker=breaker,
    )
    return OutboundClient(
        name=name,
        raise_for_status=raise_for_status,
        breaker=breaker,
        base_url=base_url or "",
        timeout=timeout,
        headers={"User-Agent": f"Merchantry/{__version__} ({name})", **(headers or {})},
        auth=auth,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        transport=transport,
        # Proxy variables would route around the SSRF guard (see PinnedTransport).
        trust_env=False,
    )
