"""Value objects configuring outbound clients: timeouts and the retry policy."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import httpx

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "IDEMPOTENCY_KEY_HEADER",
    "NO_RETRIES",
    "RetryPolicy",
    "TimeoutTypes",
    "normalize_timeout",
]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"

# Connecting should be quick or not at all; an answer may take a while
# (a payment provider creating a session), but never forever.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)

TimeoutTypes: TypeAlias = (
    httpx.Timeout | float | tuple[float | None, float | None, float | None, float | None]
)

# Repeating these cannot change the outcome (RFC 9110, 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})

# Jitter only spreads retries apart; it protects nothing, so any generator will do.
_jitter = random.Random()  # noqa: S311


def normalize_timeout(value: TimeoutTypes) -> httpx.Timeout:
    """
    Return an ``httpx.Timeout`` for a timeout, a number of seconds, or a 4-tuple.

    Raise ``ValueError`` when any phase is unbounded: an outbound call that can
    wait forever is how one slow provider takes every worker down with it.
    """
    timeout = httpx.Timeout(value)
    phases = timeout.as_dict()
    unbounded = sorted(name for name, seconds in phases.items() if seconds is None)
    if unbounded:
        raise ValueError(f"outbound timeouts are always on; {', '.join(unbounded)} is None")
    if any(seconds <= 0 for seconds in phases.values()):
        raise ValueError("outbound timeouts must be positive")
    return timeout


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """
    How often, and after how long, a call that failed transiently is tried again.

    Only requests that may be repeated are retried: idempotent methods, and a
    POST/PATCH carrying one of ``idempotency_headers`` (``Idempotency-Key``;
    PayPal calls it ``PayPal-Request-Id``). A connect failure is retried
    whatever the method, because nothing was sent.

    ``attempts`` counts the first try: 3 means at most two retries. The wait
    before retry *n* is drawn uniformly from ``[0, min(max_backoff, backoff *
    2**(n-1))]`` ("full jitter"), unless the upstream sent ``Retry-After``:
    that is honoured when it is at most ``retry_after_cap``; a longer wait
    is not worth blocking a worker for, so the response is returned as it is.
    No retry starts once ``max_elapsed`` seconds have passed since the first
    try.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    retry_after_cap: float = 10.0
    max_elapsed: float = 30.0
    statuses: frozenset[int] = RETRY_STATUSES
    methods: frozenset[str] = IDEMPOTENT_METHODS
    idempotency_headers: tuple[str, ...] = (IDEMPOTENCY_KEY_HEADER,)
    # Injected in tests; waiting for real makes a retry test slow, not truer.
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts counts the first try; it must be at least 1")
        if min(self.backoff, self.max_backoff, self.retry_after_cap, self.max_elapsed) < 0:
            raise ValueError("retry delays cannot be negative")

    def may_repeat(self, request: httpx.Request) -> bool:
        """Tell whether sending ``request`` twice is safe."""
        if request.method.upper() in self.methods:
            return True
        return any(request.headers.get(name) for name in self.idempotency_headers)

    def backoff_delay(self, attempt: int) -> float:
        """Return the wait before the retry that follows try number ``attempt``."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return _jitter.uniform(0, ceiling)


DEFAULT_RETRIES = RetryPolicy()
NO_RETRIES = RetryPolicy(attempts=1)
