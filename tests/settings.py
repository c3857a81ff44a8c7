"""
Settings for the test suite: the real settings, with a throw-away data folder
so tests never touch a developer's ./data (database, generated secret key).
"""

import os
import tempfile

os.environ.setdefault("MERCHANTRY_DATA_DIR", tempfile.mkdtemp(prefix="merchantry-tests-"))

# Under pytest-xdist each worker gets a Redis database of its own (15, 14, ...
# down from the one given), since tests clear the cache and the queues.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    if _db.isdigit() and int(_db) >= int(_worker[2:]):
        os.environ["REDIS_URL"] = f"{_base}/{int(_db) - int(_worker[2:])}"

from merchantry.settings import *  # noqa: F403, E402
from merchantry.settings import ALLOWED_HOSTS  # noqa: E402

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
# The manifest storage needs `collectstatic`; tests render templates without it.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Hashing with argon2's production cost makes every created user take ~50 ms.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The suite sends every API request from 127.0.0.1 within seconds; the rate
# limiter has its own tests, which set their own limits.
MERCHANTRY_RATE_LIMITS = {}
# Threads (the live server's request handlers, race tests) must not keep
# persistent connections past their work: a leftover session stops the test
# database from being dropped on PostgreSQL.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# The Store read cache is invalidated after commits, which most tests roll
# back instead; tests/catalog/test_store_cache.py turns it on for itself.
MERCHANTRY_STORE_CACHE_SECONDS = 0
# Revocation tests expect the next request to fail at once; the key cache
# has its own test.
MERCHANTRY_PUBLISHABLE_KEY_CACHE_SECONDS = 0
