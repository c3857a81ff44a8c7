"""
Counting attempts in the cache, and refusing them after too many.

Sign-in failures are counted per account — the shop and the normalised email
*as typed*, whether or not a customer has it, so the lockout itself does not
reveal which emails exist — and per client IP. After too many failures in the
window, further attempts are refused with 429 until the lock expires, even
with the right password. The same mechanism caps requests that send email
(registration, password reset) per IP and per address.

Counters live in Django's cache: ``cache.add`` then ``cache.incr`` are atomic
on Redis (production, so the limits hold across every web process) and on the
in-memory cache (embedded mode, one process). When the count reaches the
maximum a lock key is written holding its expiry time, which gives the exact
``Retry-After``. If the cache is down, attempts are refused (503) rather than
let through uncounted.

Every number is a setting (read on each call, so tests can override it) with
the default given here.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from merchantry.core.errors import RateLimited, ServiceUnavailable
from merchantry.core.logging import get_logger

__all__ = [
    "Limit",
    "check",
    "hit",
    "limit",
    "reset",
    "signin_check",
    "signin_failed",
    "signin_succeeded",
]

logger = get_logger(__name__)

SIGNIN_MAX_FAILURES = 5
"""Failed sign-ins per account (shop + email) before it is locked."""
SIGNIN_MAX_FAILURES_PER_IP = 20
"""Failed sign-ins from one IP address, across shops, before it is locked."""
SIGNIN_WINDOW_SECONDS = 15 * 60
"""How long failures are remembered, and how long a lock lasts."""
EMAIL_REQUESTS_PER_IP = 20
"""Requests that send an email (register, password reset, resend) per IP and window."""
EMAIL_REQUESTS_PER_ADDRESS = 3
"""Password-reset or verification emails to one address per window."""
EMAIL_WINDOW_SECONDS = 60 * 60

TOO_MANY_ATTEMPTS = "too_many_attempts"
_PREFIX = "throttle"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``max_hits`` within ``window`` seconds; then locked for ``window``."""

    name: str
    max_hits: int
    window: int


def limit(
    name: str, *, max_setting: str, max_default: int, window_setting: str, window_default: int
) -> Limit:
    """Build a :class:`Limit` from settings, falling back to the defaults."""
    return Limit(
        name=name,
        max_hits=max(1, int(getattr(settings, max_setting, max_default))),
        window=max(1, int(getattr(settings, window_setting, window_default))),
    )


def _signin_account() -> Limit:
    return limit(
        "signin-account",
        max_setting="MERCHANTRY_SIGNIN_MAX_FAILURES",
        max_default=SIGNIN_MAX_FAILURES,
        window_setting="MERCHANTRY_SIGNIN_WINDOW_SECONDS",
        window_default=SIGNIN_WINDOW_SECONDS,
    )


def _signin_ip() -> Limit:
    return limit(
        "signin-ip",
        max_setting="MERCHANTRY_SIGNIN_MAX_FAILURES_PER_IP",
        max_default=SIGNIN_MAX_FAILURES_PER_IP,
        window_setting="MERCHANTRY_SIGNIN_WINDOW_SECONDS",
        window_default=SIGNIN_WINDOW_SECONDS,
    )


def email_requests_per_ip() -> Limit:
    return limit(
        "email-ip",
        max_setting="MERCHANTRY_EMAIL_REQUESTS_PER_IP",
        max_default=EMAIL_REQUESTS_PER_IP,
        window_setting="MERCHANTRY_EMAIL_WINDOW_SECONDS",
        window_default=EMAIL_WINDOW_SECONDS,
    )


def email_requests_per_address() -> Limit:
    return limit(
        "email-address",
        max_setting="MERCHANTRY_EMAIL_REQUESTS_PER_ADDRESS",
        max_default=EMAIL_REQUESTS_PER_ADDRESS,
        window_setting="MERCHANTRY_EMAIL_WINDOW_SECONDS",
        window_default=EMAIL_WINDOW_SECONDS,
    )


def account_ident(shop_id: int, email: str) -> str:
    """Identify an account by shop and email, case-insensitively."""
    return f"{shop_id}:{email.strip().lower()}"


def _keys(lim: Limit, ident: str) -> tuple[str, str]:
    # Hashed: an email or IPv6 address may hold characters some cache
    # backends refuse in keys, and the cache need not hold personal data.
    digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:40]
    return f"{_PREFIX}:{lim.name}:{digest}:n", f"{_PREFIX}:{lim.name}:{digest}:lock"


def _unavailable(exc: Exception) -> ServiceUnavailable:
    logger.error("throttle_cache_unavailable", error=type(exc).__name__)
    return ServiceUnavailable("Please try again in a moment.", code="throttle_unavailable")


def locked_for(pairs: Iterable[tuple[Limit, str]]) -> int:
    """Return the seconds until the longest lock among ``pairs`` ends, 0 if none."""
    lock_keys = [_keys(lim, ident)[1] for lim, ident in pairs]
    try:
        until = cache.get_many(lock_keys).values()
    except Exception as exc:  # any cache backend error: refuse, never skip the check
        raise _unavailable(exc) from exc
    remaining = max((float(value) - time.time() for value in until), default=0.0)
    return math.ceil(remaining) if remaining > 0 else 0


def check(pairs: Iterable[tuple[Limit, str]], *, detail: str) -> None:
    """Raise :class:`RateLimited` if any of ``pairs`` is locked."""
    wait = locked_for(pairs)
    if wait:
        raise RateLimited(detail, retry_after=wait, code=TOO_MANY_ATTEMPTS)


def hit(lim: Limit, ident: str) -> int:
    """Count one attempt against ``lim``; lock it on reaching the maximum. Return the count."""
    count_key, lock_key = _keys(lim, ident)
    try:
        if cache.add(count_key, 1, timeout=lim.window):
            count = 1
        else:
            try:
                count = int(cache.incr(count_key))
            except ValueError:
                # The window expired between add and incr: start a new one.
                cache.add(count_key, 1, timeout=lim.window)
                count = 1
        if count >= lim.max_hits:
            cache.set(lock_key, time.time() + lim.window, timeout=lim.window)
    except Exception as exc:  # any cache backend error: refuse rather than not count
        raise _unavailable(exc) from exc
    return count


def reset(lim: Limit, ident: str, *, unlock: bool = False) -> None:
    """Forget the attempts counted against ``lim`` (and its lock when ``unlock``)."""
    count_key, lock_key = _keys(lim, ident)
    try:
        cache.delete_many([count_key, lock_key] if unlock else [count_key])
    except Exception as exc:
        raise _unavailable(exc) from exc


# -- sign-in -----------------------------------------------------------------------


_SIGNIN_LOCKED = "Too many failed sign-in attempts. Try again later."


def signin_check(*, shop_id: int, email: str, ip: str) -> None:
    """Refuse a sign-in attempt while the account or the IP address is locked."""
    check(
        [(_signin_account(), account_ident(shop_id, email)), (_signin_ip(), ip)],
        detail=_SIGNIN_LOCKED,
    )


def signin_failed(*, shop_id: int, email: str, ip: str) -> None:
    """Count a failed sign-in against the account and the IP address."""
    account = hit(_signin_account(), account_ident(shop_id, email))
    by_ip = hit(_signin_ip(), ip)
    if account >= _signin_account().max_hits or by_ip >= _signin_ip().max_hits:
        logger.warning("customer_sign_in_locked", account_failures=account, ip_failures=by_ip)


def signin_succeeded(*, shop_id: int, email: str) -> None:
    """
    Clear the account's failure count after a successful sign-in.

    The IP counter is kept: otherwise an attacker holding one valid account
    could reset it between guesses at other accounts.
    """
    reset(_signin_account(), account_ident(shop_id, email))


def signin_unlock(*, shop_id: int, email: str) -> None:
    """Clear the account's failures and lock, once its owner proved the mailbox is theirs."""
    reset(_signin_account(), account_ident(shop_id, email), unlock=True)
