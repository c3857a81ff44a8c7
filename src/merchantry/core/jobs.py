"""
Background jobs and periodic jobs, on Django's Tasks API.

Declare a job with :func:`job` in an app's ``tasks.py``; it is a django-tasks
``Task`` that also carries the request id of whoever enqueued it, so the
worker's log lines for the job share the request's id::

    from merchantry.core.jobs import job

    @job()
    def send_order_confirmation(order_id: int) -> None:
        ...

    # in a service, once the transaction that created the order commits:
    send_order_confirmation.enqueue_on_commit(order_id=order.pk)

Make it periodic by stacking :func:`periodic` on top::

    @periodic(every=timedelta(minutes=1))
    @job()
    def release_expired_reservations() -> None:
        ...

Every ``merchantry worker`` runs a scheduler that imports each installed app's
``tasks`` module and enqueues periodic jobs when due. Several workers may run
schedulers at once: a job's next run is claimed with one conditional UPDATE, so
each period enqueues the job once.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

import structlog
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django_tasks.base import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_PRIORITY,
    DEFAULT_TASK_QUEUE_NAME,
    Task,
    TaskResult,
)
from django_tasks.utils import get_module_path

from merchantry.core.context import current_request_id, new_request_id
from merchantry.core.models import PeriodicJobState

__all__ = [
    "ContextTask",
    "PeriodicJob",
    "job",
    "periodic",
    "periodic_jobs",
    "run_due_jobs",
    "run_scheduler",
]

P = ParamSpec("P")
T = TypeVar("T")
REQUEST_ID_KWARG = "_merchantry_request_id"
logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextTask(Task[P, T]):
    """A Task whose enqueue passes the current request id to the worker."""

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[T]:
        kwargs.setdefault(REQUEST_ID_KWARG, current_request_id())
        return Task.enqueue(self, *args, **kwargs)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[T]:
        kwargs.setdefault(REQUEST_ID_KWARG, current_request_id())
        return await Task.aenqueue(self, *args, **kwargs)

    def enqueue_on_commit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """
        Enqueue once the current transaction commits; never if it rolls back.

        Outside a transaction this enqueues at once. The request id is taken
        now, while the request is still the current context.
        """
        kwargs.setdefault(REQUEST_ID_KWARG, current_request_id())
        transaction.on_commit(lambda: Task.enqueue(self, *args, **kwargs))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def job(
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
) -> Callable[[Callable[P, T]], ContextTask[P, T]]:
    """
    Turn a module-level function into a background job.

    Arguments must be JSON-serialisable (pass ids, not model instances). The
    job runs with the enqueuing request's id bound to its log lines.
    """

    def decorate(func: Callable[P, T]) -> ContextTask[P, T]:
        path = get_module_path(func)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> T:
            request_id = kwargs.pop(REQUEST_ID_KWARG, None) or new_request_id()
            # bound_contextvars restores the caller's context afterwards, which
            # matters when a job runs inline inside a request.
            with structlog.contextvars.bound_contextvars(request_id=request_id, job=path):
                started = time.perf_counter()
                logger.info("job_started")
                try:
                    outcome = func(*args, **kwargs)
                except Exception:
                    logger.exception("job_failed", duration_ms=_elapsed_ms(started))
                    raise
                logger.info("job_finished", duration_ms=_elapsed_ms(started))
                return outcome

        return ContextTask(
            func=run,
            priority=priority,
            queue_name=queue_name,
            backend=backend,
            takes_context=False,
            run_after=None,
        )

    return decorate


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A job enqueued by the scheduler every ``every``."""

    name: str
    task: Task[Any, Any]
    every: timedelta


_periodic_jobs: dict[str, PeriodicJob] = {}


def periodic(*, every: timedelta, name: str | None = None) -> Callable[[Task], Task]:
    """Register a job to be enqueued by the scheduler every ``every``."""
    if every < timedelta(seconds=1):
        raise ValueError("A periodic job cannot run more often than once a second.")

    def register(task: Task) -> Task:
        if not isinstance(task, Task):
            raise TypeError("@periodic goes above @job(): it schedules a job, not a function.")
        key = name or task.module_path
        _periodic_jobs[key] = PeriodicJob(name=key, task=task, every=every)
        return task

    return register


def periodic_jobs() -> dict[str, PeriodicJob]:
    """Return the registered periodic jobs, after importing every app's tasks."""
    autodiscover_modules("tasks")
    return dict(_periodic_jobs)


def _claim(periodic_job: PeriodicJob, now: Any) -> bool:
    PeriodicJobState.objects.get_or_create(name=periodic_job.name, defaults={"next_run_at": now})
    # The claim is the UPDATE itself: of several schedulers racing for the
    # same period, only the first finds next_run_at still in the past.
    claimed = PeriodicJobState.objects.filter(name=periodic_job.name, next_run_at__lte=now).update(
        next_run_at=now + periodic_job.every, last_run_at=now
    )
    return claimed == 1


def run_due_jobs(jobs: dict[str, PeriodicJob] | None = None) -> list[str]:
    """Enqueue every periodic job that is due; return the names enqueued."""
    now = timezone.now()
    enqueued = []
    for periodic_job in (jobs if jobs is not None else periodic_jobs()).values():
        if not _claim(periodic_job, now):
            continue
        try:
            with structlog.contextvars.bound_contextvars(request_id=new_request_id()):
                result = periodic_job.task.enqueue()
        except Exception:
            logger.exception("periodic_job_enqueue_failed", job=periodic_job.name)
            continue
        PeriodicJobState.objects.filter(name=periodic_job.name).update(last_result_id=result.id)
        logger.info("periodic_job_enqueued", job=periodic_job.name, result_id=result.id)
        enqueued.append(periodic_job.name)
    return enqueued


def run_scheduler(stop: threading.Event, *, tick: float = 1.0) -> None:
    """Enqueue due periodic jobs every ``tick`` seconds until ``stop`` is set."""
    jobs = periodic_jobs()
    logger.info("scheduler_started", jobs=sorted(jobs))
    while not stop.is_set():
        close_old_connections()
        try:
            run_due_jobs(jobs)
        except Exception:
            # A database hiccup must not kill the scheduler; the next tick retries.
            logger.exception("scheduler_tick_failed")
        stop.wait(tick)
    close_old_connections()
