"""
Liveness and readiness endpoints for load balancers and orchestrators.

``/healthz`` answers as long as the process can serve a request and touches
nothing else. ``/readyz`` checks every dependency a request may need (the
database, the cache, the job queue) and answers 503 naming the ones that fail,
so an orchestrator stops routing traffic to an instance that cannot serve it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from merchantry import __version__
from merchantry.core.logging import get_logger

__all__ = ["check_cache", "check_database", "check_queue", "healthz", "readyz"]

logger = get_logger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was stored")
    cache.delete(key)


def check_queue() -> None:
    backend = settings.TASKS["default"]["BACKEND"]
    if backend.startswith("django_tasks_rq."):
        import django_rq

        django_rq.get_connection("default").ping()
    elif backend.startswith("django_tasks_db."):
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.only("id").first()


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "queue": check_queue,
}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process is alive; no I/O."""
    return JsonResponse({"status": "ok", "version": __version__})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when every dependency answers, 503 naming those that do not."""
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            # The reason goes to the log; the response names only the
            # dependency, since error texts can carry hosts and users.
            logger.warning("readiness_check_failed", check=name, error=type(exc).__name__)
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"
    failed = sorted(name for name, state in checks.items() if state != "ok")
    return JsonResponse(
        {"status": "unavailable" if failed else "ok", "checks": checks, "failed": failed},
        status=503 if failed else 200,
    )
