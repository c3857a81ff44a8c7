"""/healthz answers without I/O; /readyz names the dependency that is down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import run_merchantry, subprocess_env

READYZ_SCRIPT = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/readyz")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def _readyz_with(tmp_path: Path, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", READYZ_SCRIPT],
        env=subprocess_env(
            DJANGO_SETTINGS_MODULE="tests.settings",
            MERCHANTRY_DATA_DIR=str(tmp_path),
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_healthz_answers_without_touching_the_database(client: Client) -> None:
    # No django_db mark: any query in this request would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_readyz_is_ok_when_everything_answers(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "queue": "ok"},
        "failed": [],
    }


def test_readyz_names_the_database_when_it_is_unreachable(tmp_path: Path) -> None:
    # given a database server that does not exist (nothing listens on port 1)
    result = _readyz_with(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")

    # then readiness fails and names the database
    assert result["status"] == 503
    assert result["body"]["checks"]["database"] == "unavailable"
    assert "database" in result["body"]["failed"]
    assert result["body"]["checks"]["cache"] == "ok"


def test_readyz_names_the_cache_when_it_is_unreachable(tmp_path: Path) -> None:
    # given a SQLite database that exists, and a Redis cache that does not
    sqlite = tmp_path / "ready.sqlite3"
    migrated = run_merchantry(
        "migrate",
        env=subprocess_env(MERCHANTRY_DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{sqlite}"),
    )
    assert migrated.returncode == 0, migrated.stderr
    result = _readyz_with(
        tmp_path, DATABASE_URL=f"sqlite:///{sqlite}", REDIS_URL="redis://127.0.0.1:1/0"
    )

    assert result["status"] == 503
    assert result["body"]["failed"] == ["cache"]
    assert result["body"]["checks"]["database"] == "ok"
