"""The Redis cache backend: Django's, with one Redis client per connection pool."""

from __future__ import annotations

import threading
import uuid

import pytest

from merchantry.core.redis_cache import RedisCache

pytestmark = pytest.mark.redis


@pytest.fixture
def backend(redis_url: str) -> RedisCache:
    return RedisCache(redis_url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})


def test_reads_and_writes_share_one_client(backend: RedisCache) -> None:
    client = backend._cache.get_client()

    # every later call hands out the same client, for reads and for writes
    assert backend._cache.get_client() is client
    assert backend._cache.get_client("some-key", write=True) is client


def test_behaves_as_djangos_backend(backend: RedisCache) -> None:
    assert backend.get("missing") is None
    assert backend.add("counter", 1) is True
    assert backend.add("counter", 5) is False
    assert backend.incr("counter") == 2
    backend.set("body", b"\x00bytes", timeout=30)
    assert backend.get("body") == b"\x00bytes"
    assert backend.get_many(["counter", "body", "missing"]) == {"counter": 2, "body": b"\x00bytes"}
    backend.delete("body")
    assert backend.get("body") is None
    with pytest.raises(ValueError, match="not found"):
        backend.incr("missing")


def test_threads_share_the_client_safely(backend: RedisCache) -> None:
    backend.set("hits", 0, timeout=60)
    errors: list[BaseException] = []

    def hit() -> None:
        try:
            for _ in range(200):
                backend.incr("hits")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert backend.get("hits") == 1600
