"""Media configuration: local or S3 storage, image limits; checked at start-up."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from merchantry.config import ConfigError, load_config, s3_storage_options
from tests.conftest import run_merchantry

VARIABLES = (
    "MERCHANTRY_MEDIA_STORAGE",
    "MERCHANTRY_MAX_IMAGE_BYTES",
    "MERCHANTRY_MAX_IMAGE_PIXELS",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*VARIABLES, "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_s3_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Importable (empty) ``storages`` and ``boto3`` packages, as the s3 extra installs."""
    root = tmp_path / "site"
    for package in ("storages", "boto3"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(root))
    return root


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", *VARIABLES)
    }
    env["MERCHANTRY_DATA_DIR"] = str(tmp_path / "data")
    env.update(values)
    return env


def test_the_default_is_the_local_media_folder() -> None:
    config = load_config()

    assert config.media_storage == "local"
    assert config.media_storage_backend() == {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }
    assert (config.max_image_bytes, config.max_image_pixels) == (20 * 1024 * 1024, 40_000_000)


def test_an_s3_url_becomes_django_storages_options() -> None:
    options = s3_storage_options(
        "s3://AKIAEXAMPLE:se%2Fcret@shop-media/merchantry/?endpoint_url=https://s3.example.com"
        "&region=eu-central-1&custom_domain=cdn.example.com&signed_urls=false"
    )

    assert options == {
        "bucket_name": "shop-media",
        "location": "merchantry",
        "access_key": "AKIAEXAMPLE",
        "secret_key": "se/cret",
        "endpoint_url": "https://s3.example.com",
        "region_name": "eu-central-1",
        "custom_domain": "cdn.example.com",
        "querystring_auth": False,
    }
    assert s3_storage_options("s3://shop-media") == {"bucket_name": "shop-media"}


def test_with_the_s3_extra_the_default_storage_is_s3(fake_s3_packages) -> None:
    config = load_config(MERCHANTRY_MEDIA_STORAGE="s3://shop-media?region=eu-west-1")

    assert config.media_storage_backend() == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "shop-media", "region_name": "eu-west-1"},
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MERCHANTRY_MEDIA_STORAGE", "ftp://files.example.com", "use local, or s3://bucket"),
        ("MERCHANTRY_MEDIA_STORAGE", "s3://", "names no valid bucket"),
        ("MERCHANTRY_MEDIA_STORAGE", "s3://Shop_Media", "names no valid bucket"),
        ("MERCHANTRY_MEDIA_STORAGE", "s3://media?acl=public", "unknown S3 URL parameter 'acl'"),
        ("MERCHANTRY_MEDIA_STORAGE", "s3://media?endpoint_url=s3.local", "endpoint_url must be"),
        ("MERCHANTRY_MEDIA_STORAGE", "s3://media?signed_urls=maybe", "signed_urls must be"),
        ("MERCHANTRY_MEDIA_STORAGE", "s3://key@media", "both the access key and the secret"),
        ("MERCHANTRY_MAX_IMAGE_BYTES", "big", "valid integer"),
        ("MERCHANTRY_MAX_IMAGE_BYTES", "10", "greater than or equal to 1024"),
        ("MERCHANTRY_MAX_IMAGE_PIXELS", "0", "greater than or equal to 1"),
    ],
)
def test_invalid_values_name_the_variable(fake_s3_packages, variable, value, message) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(**{variable: value})

    assert str(caught.value).startswith(f"{variable}: ")
    assert message in str(caught.value)


@pytest.mark.slow
def test_s3_without_the_extra_stops_start_up_with_exit_2(tmp_path: Path) -> None:
    if importlib.util.find_spec("storages") is not None:
        pytest.skip("django-storages is installed here; this checks an installation without it")
    env = _env(tmp_path, MERCHANTRY_MEDIA_STORAGE="s3://AKIA:top-secret@shop-media")

    result = run_merchantry("check-config", env=env, cwd=tmp_path)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("merchantry: invalid configuration: MERCHANTRY_MEDIA_STORAGE: ")
    assert "pip install 'merchantry[s3]'" in lines[0]
    assert "top-secret" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_check_config_masks_the_s3_secret(tmp_path: Path, fake_s3_packages: Path) -> None:
    env = _env(
        tmp_path,
        MERCHANTRY_MEDIA_STORAGE="s3://AKIAEXAMPLE:top-secret@shop-media?region=eu-west-1",
        MERCHANTRY_MAX_IMAGE_BYTES="5242880",
        PYTHONPATH=os.pathsep.join([str(fake_s3_packages), os.environ.get("PYTHONPATH", "")]),
    )

    result = run_merchantry("check-config", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "s3://AKIAEXAMPLE:****@shop-media?region=eu-west-1" in result.stdout
    assert "top-secret" not in result.stdout
    assert "MERCHANTRY_MAX_IMAGE_BYTES" in result.stdout
    assert "5242880" in result.stdout
