"""Background jobs: enqueued in a request, run by a real worker, with the request id."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from merchantry.core.jobs import PeriodicJob, _claim, job, periodic, periodic_jobs, run_due_jobs
from merchantry.core.models import PeriodicJobState
from tests.conftest import database_url_for_subprocess, run_merchantry, subprocess_env
from tests.core.sample_jobs import write_context

DB_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
RQ_QUEUE = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}


def _enqueue_in_request_then_run_worker(
    client: Client, tmp_path: Path, **worker_env: str
) -> tuple[dict, str]:
    out = tmp_path / "job-output.json"
    # when a request enqueues a job
    response = client.get("/enqueue", {"path": str(out)}, headers={"X-Request-ID": "checkout-7f3a"})
    assert response.status_code == 200
    assert not out.exists(), "the job must wait for a worker, not run in the request"

    # and a worker process runs the waiting jobs
    result = run_merchantry(
        "worker",
        "--burst",
        env=subprocess_env(
            DATABASE_URL=database_url_for_subprocess(),
            MERCHANTRY_DATA_DIR=str(Path(connection.settings_dict["NAME"]).parent)
            if connection.vendor == "sqlite"
            else str(tmp_path),
            **worker_env,
        ),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert out.exists(), result.stderr + result.stdout
    return json.loads(out.read_text()), result.stderr + result.stdout


@pytest.mark.real_queue
@pytest.mark.slow
@pytest.mark.urls("tests.core.urls")
@pytest.mark.django_db(transaction=True)
def test_job_runs_in_database_worker_with_the_request_id(
    client: Client, tmp_path: Path, settings
) -> None:
    settings.TASKS = DB_QUEUE
    output, logs = _enqueue_in_request_then_run_worker(
        client, tmp_path, MERCHANTRY_JOB_QUEUE="database"
    )
    # then the job ran under the request's id, and its log lines carry it
    assert output["request_id"] == "checkout-7f3a"
    assert "checkout-7f3a" in logs


@pytest.mark.real_queue
@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.urls("tests.core.urls")
@pytest.mark.django_db(transaction=True)
def test_job_runs_in_rq_worker_with_the_request_id(
    client: Client, tmp_path: Path, settings, redis_url: str
) -> None:
    import django_rq

    settings.TASKS = RQ_QUEUE
    settings.RQ_QUEUES = {"default": {"URL": redis_url}}
    assert django_rq.get_connection("default").connection_pool.connection_kwargs["port"]
    output, logs = _enqueue_in_request_then_run_worker(
        client, tmp_path, MERCHANTRY_JOB_QUEUE="redis", REDIS_URL=redis_url
    )
    assert output["request_id"] == "checkout-7f3a"
    assert "checkout-7f3a" in logs


def test_job_enqueued_outside_a_request_gets_its_own_request_id(tmp_path: Path) -> None:
    # Inline backend (the default in tests): the job still runs under an id.
    out = tmp_path / "out.json"
    result = write_context.enqueue(str(out))
    assert result.return_value
    assert json.loads(out.read_text())["request_id"] == result.return_value


def test_periodic_requires_a_job_and_a_sane_interval() -> None:
    with pytest.raises(ValueError, match="once a second"):
        periodic(every=timedelta(milliseconds=10))
    with pytest.raises(TypeError, match="above @job"):
        periodic(every=timedelta(minutes=1))(lambda: None)  # type: ignore[arg-type]


def test_builtin_periodic_jobs_are_discovered() -> None:
    assert "merchantry.core.tasks.prune_job_results" in periodic_jobs()


@job()
def _tick() -> str:
    return "ticked"


TICK = PeriodicJob(name="tests.tick", task=_tick, every=timedelta(minutes=5))


@pytest.mark.django_db
def test_due_job_is_enqueued_once_per_period() -> None:
    # given a periodic job never run before
    jobs = {TICK.name: TICK}

    # when the scheduler ticks twice in the same period
    first = run_due_jobs(jobs)
    second = run_due_jobs(jobs)

    # then the job was enqueued once, and is next due one period later
    assert first == ["tests.tick"]
    assert second == []
    state = PeriodicJobState.objects.get(name="tests.tick")
    assert state.last_result_id
    assert state.next_run_at - state.last_run_at == timedelta(minutes=5)

    # and once the period has passed it is enqueued again
    PeriodicJobState.objects.filter(name="tests.tick").update(
        next_run_at=timezone.now() - timedelta(seconds=1)
    )
    assert run_due_jobs(jobs) == ["tests.tick"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_schedulers_claim_a_period_once() -> None:
    # given a due job and eight schedulers on separate connections
    now = timezone.now()
    PeriodicJobState.objects.create(name=TICK.name, next_run_at=now - timedelta(seconds=1))
    barrier = threading.Barrier(8)
    claims: list[bool] = []

    def scheduler() -> None:
        try:
            barrier.wait()
            claims.append(_claim(TICK, timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one claimed it
    assert sorted(claims) == [False] * 7 + [True]


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_waits_for_commit_and_drops_on_rollback(tmp_path: Path) -> None:
    from django.db import transaction

    committed, rolled_back = tmp_path / "committed.json", tmp_path / "rolled-back.json"
    with transaction.atomic():
        write_context.enqueue_on_commit(str(committed))
        assert not committed.exists(), "must not run before the commit"
    assert committed.exists()

    def failing_service() -> None:
        with transaction.atomic():
            write_context.enqueue_on_commit(str(rolled_back))
            raise RuntimeError("the service failed")

    with pytest.raises(RuntimeError):
        failing_service()
    assert not rolled_back.exists()


def test_inline_job_leaves_the_callers_log_context_intact(tmp_path: Path) -> None:
    import structlog

    with structlog.contextvars.bound_contextvars(request_id="outer-1", shop="demo"):
        result = write_context.enqueue(str(tmp_path / "x.json"))
        after = structlog.contextvars.get_contextvars()
    assert result.return_value == "outer-1"
    assert after["request_id"] == "outer-1"
    assert after["shop"] == "demo"
    assert "job" not in after
