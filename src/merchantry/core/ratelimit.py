"""
Rate limits for the JSON APIs: a moving window per credential and per address.

Every request under ``/api/`` spends from up to three budgets:

- the credential it presents, by kind: ``Authorization: Bearer msk_...``
  (secret key), ``mct_...`` (customer token), ``X-Publishable-Key: mpk_...``.
  A publishable key is public and shared by every shopper of a storefront, so
  its budget is per key *and* client address: one visitor cannot spend the
  whole shop's allowance.
- the client address, always, whatever the credentials: this is what stops a
  client that sprays made-up keys, each of which would get a fresh budget.

Limits come from ``settings.MERCHANTRY_RATE_LIMITS`` (``{"secret":
"600/minute", ...}``, the `limits` notation, ``"off"`` to disable). The
counters live in ``settings.MERCHANTRY_RATE_LIMIT_STORAGE``: Redis, so that
every web process of an installation counts together, or ``memory://`` (each
process counts alone). Credentials are only ever kept as a hash.

An answer over the limit is a 429 problem (code ``rate_limited``) with
``Retry-After``; every limited response carries ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``
after the IETF draft, for the budget closest to running out.

When the storage is unreachable the limiter fails open: requests are served
unlimited, a warning is logged at most once a minute, and the storage is tried
again after a few seconds. A limiter must never be why a request fails.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import limits
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from merchantry.core.errors import RateLimited, error_response
from merchantry.core.logging import get_logger

__all__ = [
    "CREDENTIAL_KINDS",
    "Budget",
    "RateLimitMiddleware",
    "RateLimiter",
    "Verdict",
    "budgets_for",
    "client_ip",
    "get_limiter",
]

logger = get_logger(__name__)

# Which budget a credential spends from, by its prefix. The prefixes are the
# tenancy app's (merchantry.tenancy.keys); the core cannot import it, and a
# test keeps the two in step.
CREDENTIAL_KINDS: Mapping[str, str] = {
    "msk_": "secret",
    "mpk_": "publishable",
    "mct_": "customer",
}
IP = "ip"
LIMITED_PREFIX = "/api/"
# Credentials longer than this authenticate nothing; do not hash them either.
MAX_CREDENTIAL_LENGTH = 200
STORAGE_RETRY_SECONDS = 5.0
STORAGE_WARNING_EVERY_SECONDS = 60.0
STORAGE_TIMEOUT_SECONDS = 0.5

_DESCRIPTIONS = {
    "secret": "for this secret key",
    "publishable": "for this publishable key from this address",
    "customer": "for this customer session",
    IP: "from this address",
}


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit applied to one identity, e.g. 600/minute for one secret key."""

    scope: str
    item: limits.RateLimitItem
    identity: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of spending from a budget, and what the client is told."""

    allowed: bool
    scope: str
    limit: int
    remaining: int
    reset_after: int
    """Seconds until the oldest request in the window leaves it."""
    window: int

    def headers(self) -> dict[str, str]:
        """Return the RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
            "RateLimit-Policy": f"{self.limit};w={self.window}",
        }


class RateLimiter:
    """Moving-window limits over one storage, failing open when it is down."""

    def __init__(self, storage_uri: str, *, key_prefix: str) -> None:
        self.storage_uri = storage_uri
        self.key_prefix = key_prefix
        self._lock = threading.Lock()
        self._strategy: MovingWindowRateLimiter | None = None
        self._retry_at = 0.0
        self._warned_at: float | None = None
        self._failing = False

    def _storage(self) -> Storage:
        if self.storage_uri.startswith("memory://"):
            return MemoryStorage()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        uri = self.storage_uri
        if uri.startswith("unix://"):
            uri = "redis+unix://" + uri.removeprefix("unix://")
        # Short timeouts and no retries: a slow limiter would slow every API
        # request, and failing open is the answer to a storage that is down.
        storage = storage_from_string(
            uri,
            key_prefix=self.key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),  # type: ignore[arg-type]
        )
        assert isinstance(storage, Storage)
        return storage

    @property
    def strategy(self) -> MovingWindowRateLimiter:
        if self._strategy is None:
            with self._lock:
                if self._strategy is None:
                    self._strategy = MovingWindowRateLimiter(self._storage())
        return self._strategy

    def check(self, budgets: Sequence[Budget]) -> Verdict | None:
        """
        Spend one request from each budget, in order, stopping at the first
        that is exhausted; return its verdict, or else the verdict of the
        budget with the least left. Return None when nothing could be counted
        (no budget, or the storage is down).
        """
        if not budgets or time.monotonic() < self._retry_at:
            return None
        try:
            reported: Verdict | None = None
            for budget in budgets:
                verdict = self._spend(budget)
                if not verdict.allowed:
                    return verdict
                if reported is None or verdict.remaining < reported.remaining:
                    reported = verdict
        except StorageError as exc:
            self._storage_failed(exc)
            return None
        if self._failing:
            self._failing = False
            logger.info("rate_limit_storage_recovered")
        return reported

    def _spend(self, budget: Budget) -> Verdict:
        key = (budget.scope, *budget.identity)
        allowed = self.strategy.hit(budget.item, *key)
        stats = self.strategy.get_window_stats(budget.item, *key)
        return Verdict(
            allowed=allowed,
            scope=budget.scope,
            limit=budget.item.amount,
            remaining=max(0, stats.remaining),
            reset_after=max(0, math.ceil(stats.reset_time - time.time())),
            window=budget.item.get_expiry(),
        )

    def _storage_failed(self, exc: StorageError) -> None:
        now = time.monotonic()
        with self._lock:
            self._retry_at = now + STORAGE_RETRY_SECONDS
            self._failing = True
            warn = self._warned_at is None or now - self._warned_at >= STORAGE_WARNING_EVERY_SECONDS
            if warn:
                self._warned_at = now
        if warn:
            logger.warning(
                "rate_limit_storage_unavailable",
                error=str(exc.storage_error),
                detail="API requests are served without rate limits until it answers",
            )

    def reset(self) -> None:
        """Forget every count (tests; an operator lifting a block)."""
        self.strategy.storage.reset()


_limiters: dict[tuple[str, str], RateLimiter] = {}
_limiters_lock = threading.Lock()


def get_limiter() -> RateLimiter:
    """Return the process's limiter for the configured storage."""
    key = (settings.MERCHANTRY_RATE_LIMIT_STORAGE, settings.MERCHANTRY_RATE_LIMIT_KEY_PREFIX)
    limiter = _limiters.get(key)
    if limiter is None:
        with _limiters_lock:
            limiter = _limiters.setdefault(key, RateLimiter(key[0], key_prefix=key[1]))
    return limiter


@lru_cache(maxsize=64)
def _parse(spec: str | None) -> tuple[limits.RateLimitItem, ...]:
    text = (spec or "off").strip().lower()
    if text in ("off", "0", ""):
        return ()
    return tuple(limits.parse_many(text))


def client_ip(request: HttpRequest, *, trust_proxy_headers: bool) -> str:
    """
    Return the client's address: ``REMOTE_ADDR``, or the first
    ``X-Forwarded-For`` hop when a reverse proxy that sets it is trusted.
    """
    if trust_proxy_headers:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        first = forwarded.split(",", 1)[0].strip()
        try:
            return str(ipaddress.ip_address(first))
        except ValueError:
            pass  # absent or garbage: fall back to the peer's address
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _digest(raw: str) -> str:
    # Domain-separated so the stored value is not the api_keys table's lookup
    # hash; truncated because 128 bits tell keys apart well enough.
    return hashlib.sha256(b"merchantry-ratelimit\x00" + raw.encode()).hexdigest()[:32]


def _credentials(request: HttpRequest) -> list[tuple[str, str]]:
    """Return ``(kind, digest)`` for each recognisable credential presented."""
    raw_values = [request.headers.get("X-Publishable-Key", "").strip()]
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        raw_values.append(token.strip())
    found: list[tuple[str, str]] = []
    for raw in raw_values:
        if not raw or len(raw) > MAX_CREDENTIAL_LENGTH:
            continue
        kind = next((k for p, k in CREDENTIAL_KINDS.items() if raw.startswith(p)), None)
        if kind is not None and (kind, _digest(raw)) not in found:
            found.append((kind, _digest(raw)))
    return found


def budgets_for(request: HttpRequest) -> list[Budget]:
    """Return the budgets ``request`` spends from: its credentials', then its address's."""
    configured: Mapping[str, str] = settings.MERCHANTRY_RATE_LIMITS
    ip = client_ip(request, trust_proxy_headers=settings.MERCHANTRY_TRUST_PROXY_HEADERS)
    budgets = []
    for kind, digest in _credentials(request):
        identity = (digest, ip) if kind == "publishable" else (digest,)
        budgets += [Budget(kind, item, identity) for item in _parse(configured.get(kind))]
    budgets += [Budget(IP, item, (ip,)) for item in _parse(configured.get(IP))]
    return budgets


def _too_many(request: HttpRequest, verdict: Verdict) -> HttpResponseBase:
    retry_after = max(1, verdict.reset_after)
    logger.info("rate_limited", scope=verdict.scope, path=request.path)
    error = RateLimited(
        f"Too many requests {_DESCRIPTIONS[verdict.scope]}; retry in {retry_after} seconds.",
        retry_after=retry_after,
        headers=verdict.headers(),
    )
    return error_response(request, error)


class RateLimitMiddleware:
    """Apply the API rate limits; see the module docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # Preflights carry no credentials and do no work beyond the CORS check.
        if not request.path.startswith(LIMITED_PREFIX) or request.method == "OPTIONS":
            return self.get_response(request)
        verdict = get_limiter().check(budgets_for(request))
        if verdict is not None and not verdict.allowed:
            return _too_many(request, verdict)
        response = self.get_response(request)
        if verdict is not None:
            for name, value in verdict.headers().items():
                response[name] = value
        return response
