"""Configuration is validated at start-up: one clear line, non-zero exit, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from merchantry.config import ConfigError, load_config
from tests.conftest import run_merchantry

STRONG_KEY = "Zk4p9Q2vL8xT1mN6bR3yW7cJ0hF5sD2gA9eU4iO"


CONFIG_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "HOST",
    "PORT",
    "ALLOWED_HOSTS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "EMAIL_URL",
    "MERCHANTRY_JOB_QUEUE",
    "MERCHANTRY_FEATURE_FLAGS",
    "MERCHANTRY_DATA_DIR",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process load_config() reads the environment too; the CI pass on
    # PostgreSQL sets DATABASE_URL, which these tests must not see.
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "DEBUG",
            "HOST",
            "PORT",
            "ALLOWED_HOSTS",
            "LOG_LEVEL",
            "LOG_FORMAT",
            "MERCHANTRY_JOB_QUEUE",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    env["MERCHANTRY_DATA_DIR"] = str(tmp_path / "data")
    env.update(values)
    return env


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://root@localhost/shop", "not a supported database URL"),
        ("DATABASE_URL", "postgres://", "names no database"),
        ("DATABASE_URL", "postgres:///shop", "names no host"),
        ("DATABASE_URL", "not a url", "not a supported database URL"),
        ("REDIS_URL", "http://localhost:6379", "not a Redis URL"),
        ("LOG_LEVEL", "verbose", "unknown log level 'verbose'"),
        ("LOG_FORMAT", "xml", "'auto', 'json' or 'console'"),
        ("SECRET_KEY", "short", "too short (5 characters)"),
        ("SECRET_KEY", "changeme-changeme-changeme-changeme-1234", "looks like a placeholder"),
        (
            "SECRET_KEY",
            "django-insecure-abcdefghijklmnopqrstuvwxyz0123",
            "looks like a placeholder",
        ),
        ("SECRET_KEY", "a" * 40, "too few distinct characters"),
        ("PORT", "eighty", "valid integer"),
        ("PORT", "70000", "less than or equal to 65535"),
        ("DEBUG", "maybe", "valid boolean"),
        ("ALLOWED_HOSTS", " , ", "at least one host"),
        ("MERCHANTRY_FEATURE_FLAGS", "Checkout=on", "is not a flag name"),
        ("MERCHANTRY_JOB_QUEUE", "redis", "needs REDIS_URL"),
        ("MERCHANTRY_JOB_QUEUE", "kafka", "'database' or 'redis'"),
    ],
)
def test_invalid_value_stops_with_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    # given an environment with one invalid value
    env = _env(tmp_path, **{variable: value})

    # when any merchantry command starts
    result = run_merchantry("check-config", env=env, cwd=tmp_path)

    # then it exits non-zero with one line naming the variable, and no traceback
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("merchantry: invalid configuration: ")
    if variable != "MERCHANTRY_JOB_QUEUE" or value == "kafka":
        assert f"{variable}: " in lines[0]
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_django_commands_are_guarded_too(tmp_path: Path) -> None:
    result = run_merchantry("migrate", env=_env(tmp_path, LOG_LEVEL="loud"), cwd=tmp_path)
    assert result.returncode == 2
    assert "LOG_LEVEL: unknown log level 'loud'" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_prints_effective_values_with_secrets_masked(tmp_path: Path) -> None:
    # given a configuration with secrets in it
    env = _env(
        tmp_path,
        SECRET_KEY=STRONG_KEY,
        DATABASE_URL="postgres://shop:s3cr3t-pass@db.internal:5432/merchantry",
        REDIS_URL="redis://:redis-pass@cache.internal:6379/0",
        PORT="9000",
        LOG_LEVEL="debug",
    )

    # when the configuration is printed
    result = run_merchantry("check-config", env=env, cwd=tmp_path)

    # then values are shown, secrets are not
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Configuration is valid" in out
    assert "PORT" in out
    assert "9000" in out
    assert "LOG_LEVEL" in out
    assert "DEBUG" in out
    assert "postgres://shop:****@db.internal:5432/merchantry" in out
    assert "redis://:****@cache.internal:6379/0" in out
    assert STRONG_KEY not in out
    assert "s3cr3t-pass" not in out
    assert "redis-pass" not in out


def test_dotenv_file_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=9123\nLOG_LEVEL=warning\n")
    result = run_merchantry("check-config", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "9123" in result.stdout
    assert "WARNING" in result.stdout


def test_secret_key_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    # given no SECRET_KEY
    config = load_config(data_dir=tmp_path / "data")

    # when the key is asked for twice
    first = config.effective_secret_key()
    second = load_config(data_dir=tmp_path / "data").effective_secret_key()

    # then one random key was written, readable by the owner only, and reused
    key_file = tmp_path / "data" / "secret_key"
    assert first == second
    assert len(first) >= 50
    assert key_file.stat().st_mode & 0o077 == 0


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    config = load_config(data_dir=tmp_path / "store")
    assert config.effective_database_url == f"sqlite:///{tmp_path / 'store' / 'merchantry.sqlite3'}"
    assert config.is_sqlite


def test_feature_flag_defaults_are_parsed() -> None:
    config = load_config(feature_flags="new_checkout=on,beta_search=off,quick")
    assert config.feature_flags == {"new_checkout": True, "beta_search": False, "quick": True}


def test_load_config_raises_config_error_not_pydantic_error() -> None:
    with pytest.raises(ConfigError, match=r"^PORT: "):
        load_config(port=0)


def test_unprefixed_names_of_merchantry_variables_are_ignored(tmp_path: Path) -> None:
    # DATA_DIR and JOB_QUEUE are common names other programs set; only the
    # MERCHANTRY_ prefixed variables configure Merchantry.
    env = _env(tmp_path, DATA_DIR="/nonexistent/elsewhere", JOB_QUEUE="redis")
    result = run_merchantry("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "/nonexistent/elsewhere" not in result.stdout
    assert (
        "MERCHANTRY_JOB_QUEUE           database"
        in result.stdout.replace("  database", " database")
        or "database" in result.stdout
    )


def test_empty_variables_mean_unset(tmp_path: Path) -> None:
    result = run_merchantry("check-config", env=_env(tmp_path, DEBUG="", PORT=""), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "8000" in result.stdout
