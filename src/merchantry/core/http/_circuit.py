"""
A circuit breaker per key (one plugin installation, one webhook endpoint).

When an upstream is down, every call to it still costs a worker the whole
timeout. After ``failure_threshold`` consecutive failures (5xx, timeouts,
connection failures) within ``window`` seconds, the circuit *opens*: calls
fail at once with ``CircuitOpen`` and touch no network. After ``cool_down``
seconds it is *half open*: one trial call goes through (the first caller to
claim it), the others are still refused. The trial's success closes the
circuit; its failure opens it for another cool-down.

The state lives in Django's cache, so with Redis every web and worker process
sees the same circuit; with the in-memory cache each process has its own. The
cache operations used (``add``, ``incr``, ``delete_many``) are atomic on both,
which is what makes the one-trial rule hold across threads and processes.
When the cache is unreachable the breaker fails open (calls go through): a
breaker must never be why a call fails.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.core.cache import caches

from merchantry.core.http._errors import CircuitOpen
from merchantry.core.logging import get_logger

__all__ = ["CircuitBreaker", "CircuitState"]

logger = get_logger("merchantry.http")

CircuitState = Literal["closed", "open", "half_open"]

_PREFIX = "merchantry:http:circuit"


@dataclass(frozen=True, kw_only=True)
class CircuitBreaker:
    """
    The circuit of one ``key`` (e.g. ``f"{plugin_id}:{installation_id}"``).

    Instances hold configuration only; two instances with the same key share
    one circuit. ``clock`` returns wall-clock seconds (shared by processes,
    unlike a monotonic clock) and is injected in tests.
    """

    key: str
    failure_threshold: int = 5
    window: float = 60.0
    cool_down: float = 30.0
    cache_alias: str = "default"
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a circuit needs a key")
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.window <= 0 or self.cool_down <= 0:
            raise ValueError("window and cool_down must be positive")

    # -- the calls the client makes ------------------------------------------------

    def before_call(self) -> None:
        """Raise ``CircuitOpen`` unless a call may go out now."""
        keys = self._keys
        opened_at = self._cache_op(lambda cache: cache.get(keys["opened"]))
        if opened_at is None:
            return
        now = self.clock()
        remaining = opened_at + self.cool_down - now
        if remaining > 0:
            raise CircuitOpen(self.key, retry_after=remaining)
        # Half open: one trial at a time. A trial whose caller died without
        # reporting back (a killed worker) is given up after another cool-down.
        if self._cache_op(lambda cache: cache.add(keys["trial"], now, self._ttl), default=True):
            return
        trial_at = self._cache_op(lambda cache: cache.get(keys["trial"]))
        if trial_at is not None and now - trial_at >= self.cool_down:
            self._cache_op(lambda cache: cache.delete(keys["trial"]))
            if self._cache_op(lambda cache: cache.add(keys["trial"], now, self._ttl)):
                return
        raise CircuitOpen(self.key, retry_after=self.cool_down)

    def record_success(self) -> None:
        """Close the circuit and forget earlier failures."""
        keys = self._keys
        self._cache_op(lambda cache: cache.delete_many(list(keys.values())))

    def record_failure(self) -> None:
        """Count a failure; open the circuit at the threshold, or re-open it after a trial."""
        keys = self._keys
        now = self.clock()

        def count(cache: Any) -> int:
            since = cache.get(keys["since"])
            if since is None or now - since > self.window:
                cache.set_many({keys["since"]: now, keys["failures"]: 1}, self._ttl)
                return 1
            try:
                return int(cache.incr(keys["failures"]))
            except ValueError:  # expired between the two reads
                cache.set(keys["failures"], 1, self._ttl)
                return 1

        failures = self._cache_op(count, default=0)
        was_open = self._cache_op(lambda cache: cache.get(keys["opened"])) is not None
        if failures >= self.failure_threshold or was_open:
            self._cache_op(lambda cache: cache.set(keys["opened"], now, self._ttl))
            self._cache_op(lambda cache: cache.delete(keys["trial"]))
            if not was_open:
                logger.warning("http.circuit.opened", circuit=self.key, failures=failures)

    # -- inspection --------------------------------------------------------------------

    def state(self) -> CircuitState:
        """Return ``closed``, ``open`` or ``half_open`` (for health checks)."""
        opened_at = self._cache_op(lambda cache: cache.get(self._keys["opened"]))
        if opened_at is None:
            return "closed"
        return "open" if self.clock() < opened_at + self.cool_down else "half_open"

    # -- internals ---------------------------------------------------------------------

    @property
    def _keys(self) -> dict[str, str]:
        # Hashed: keys come from plugins and must fit any cache's key rules.
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:32]
        base = f"{_PREFIX}:{digest}"
        return {part: f"{base}:{part}" for part in ("failures", "since", "opened", "trial")}

    @property
    def _ttl(self) -> int:
        # Long enough to outlive any state we still read; the clock decides, not the TTL.
        return int(self.window + self.cool_down) * 4 + 60

    def _cache_op(self, operation: Callable[[Any], Any], *, default: Any = None) -> Any:
        try:
            return operation(caches[self.cache_alias])
        except Exception:  # the cache backend's errors have no common base
            logger.warning("http.circuit.cache_unavailable", circuit=self.key, exc_info=True)
            return default
