"""`merchantry serve` starts a real server and a worker, and Ctrl-C stops both."""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, run_merchantry, subprocess_env

pytestmark = pytest.mark.slow


def _wait_for(url: str, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def _wait_for_job_success(database: Path, name: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(database, timeout=5)) as db:
            rows = db.execute(
                "SELECT status FROM django_tasks_database_dbtaskresult WHERE task_path LIKE ?",
                (f"%{name}",),
            ).fetchall()
        if ("SUCCESSFUL",) in rows:
            return True
        time.sleep(0.25)
    return False


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_serve_answers_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    # given a fresh data folder, migrated
    env = subprocess_env(MERCHANTRY_DATA_DIR=str(tmp_path / "data"), LOG_FORMAT="json")
    env.pop("REDIS_URL", None)
    migrated = run_merchantry("migrate", "--noinput", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    seeded = run_merchantry("demo", env=env, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()

    # when the server starts
    server = subprocess.Popen(
        [sys.executable, "-m", "merchantry", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = _wait_for(f"http://127.0.0.1:{port}/healthz")
        openapi = httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5)
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)

        # then it serves the API description, the storefront and readiness
        assert health.status_code == 200
        assert health.headers["server"] == "gunicorn"
        assert openapi.status_code == 200
        assert openapi.json()["info"]["title"] == "Merchantry API"
        assert home.status_code == 200
        assert "Demo Shop is open." in home.text
        assert ready.json()["status"] == "ok"
        # and the worker beside it runs jobs: the scheduler's first job completes
        assert _wait_for_job_success(tmp_path / "data" / "merchantry.sqlite3", "prune_job_results")
    finally:
        # and Ctrl-C stops the server and its worker cleanly
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)

    assert server.returncode == 0, output
    assert "merchantry: stopped." in output
    assert "Storefront  http://127.0.0.1:" in output
    assert "scheduler_started" in output
    assert "Traceback" not in output
    assert not _port_open(port)


def test_web_workers_freeze_the_loaded_heap(tmp_path: Path) -> None:
    # given the gunicorn settings of `merchantry serve`
    env = subprocess_env(MERCHANTRY_DATA_DIR=str(tmp_path / "data"))
    script = (
        "import gc, merchantry.gunicorn_conf as conf; "
        "before = gc.get_freeze_count(); conf.post_worker_init(None); "
        "print(before, gc.get_freeze_count(), gc.get_threshold()[0])"
    )

    # when a worker has loaded the application
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )

    # then what it loaded is frozen: full collections no longer walk it
    assert done.returncode == 0, done.stderr
    before, after, threshold = map(int, done.stdout.split())
    assert before == 0
    assert after > 10_000
    assert threshold == 700
