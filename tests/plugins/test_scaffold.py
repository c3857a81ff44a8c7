"""
``merchantry plugin new``: the generated package imports, loads as a plugin,
passes its own tests and the linters, and the command refuses bad input.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from merchantry import __version__
from merchantry.plugins.providers import Address, Parcel
from merchantry.plugins.registry import ENTRY_POINT_GROUP, PluginStatus, load_entry_point
from merchantry.plugins.scaffold import ScaffoldError, plugin_names
from merchantry.plugins.spec import ProviderKind
from merchantry.testing import check_shipping_rate_provider
from tests.conftest import REPO_ROOT

PACKAGE = "merchantry_acme_rates"


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    out = io.StringIO()
    call_command("plugin", "new", "acme-rates", "--dir", str(tmp_path), stdout=out)
    root = tmp_path / "merchantry-acme-rates"
    assert out.getvalue().startswith(f"Created plugin acme_rates in {root}.")
    return root


@pytest.fixture
def imported(generated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make the generated package importable, and forget it afterwards."""
    monkeypatch.syspath_prepend(str(generated / "src"))
    yield generated
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def test_the_package_declares_its_entry_point_and_core_range(generated: Path) -> None:
    pyproject = tomllib.loads((generated / "pyproject.toml").read_text())

    assert pyproject["project"]["name"] == "merchantry-acme-rates"
    assert pyproject["project"]["entry-points"][ENTRY_POINT_GROUP] == {
        "acme_rates": f"{PACKAGE}:plugin"
    }
    assert pyproject["project"]["dependencies"] == ["merchantry>=0.1,<1.0"]
    assert sorted(str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        f"src/{PACKAGE}/__init__.py",
        f"src/{PACKAGE}/integration.py",
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/test_plugin.py",
    ]


def test_the_generated_plugin_loads_through_its_entry_point(imported: Path) -> None:
    # given the entry point the generated pyproject declares
    entry_point = EntryPoint(name="acme_rates", value=f"{PACKAGE}:plugin", group=ENTRY_POINT_GROUP)

    # when the registry loads it
    loaded = load_entry_point(entry_point)

    # then Merchantry accepts it, and its provider follows the contract
    assert (loaded.status, loaded.reason) == (PluginStatus.OK, "")
    manifest = loaded.manifest
    assert (manifest.id, manifest.name, manifest.requires_core) == (
        "acme_rates",
        "Acme Rates",
        ">=0.1,<1.0",
    )
    settings = manifest.settings_model(api_key="key_12345678")
    provider = loaded.plugin.provider(
        ProviderKind.SHIPPING_RATES, installation=None, settings=settings
    )
    check_shipping_rate_provider(
        provider,
        origin=Address(country="US"),
        destination=Address(country="CA"),
        parcels=[Parcel(weight_grams=100)],
    )


@pytest.mark.slow
def test_the_generated_tests_pass(generated: Path) -> None:
    # given the generated package, not installed, run the way its README says
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO_ROOT)

    # when its test suite runs in its own folder
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=generated,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then every generated test passes
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


@pytest.mark.slow
def test_the_generated_code_is_lint_clean(generated: Path) -> None:
    ruff = str(Path(sys.executable).with_name("ruff"))

    checked = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=generated, capture_output=True, text=True
    )
    formatted = subprocess.run(
        [ruff, "format", "--no-cache", "--check", "."],
        cwd=generated,
        capture_output=True,
        text=True,
    )

    assert checked.returncode == 0, checked.stdout
    assert formatted.returncode == 0, formatted.stdout


@pytest.mark.parametrize(
    ("name", "plugin_id", "package", "class_name"),
    [
        ("acme-rates", "acme_rates", "merchantry_acme_rates", "AcmeRatesPlugin"),
        ("shippo", "shippo", "merchantry_shippo", "ShippoPlugin"),
        ("my_tax2", "my_tax2", "merchantry_my_tax2", "MyTax2Plugin"),
    ],
)
def test_names_derive_from_the_plugin_name(
    name: str, plugin_id: str, package: str, class_name: str
) -> None:
    names = plugin_names(name)

    assert (names["plugin_id"], names["package"], names["class_name"]) == (
        plugin_id,
        package,
        class_name,
    )
    major, minor = (int(part) for part in __version__.split(".")[:2])
    assert names["requires_core"] == f">={major}.{minor},<{major + 1}.0"


@pytest.mark.parametrize(
    "name", ["Acme", "1acme", "a", "acme--rates", "acme rates", "x" * 51, "acme-"]
)
def test_a_bad_name_is_refused_and_nothing_is_written(name: str, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is not a plugin name"):
        call_command("plugin", "new", name, "--dir", str(tmp_path))

    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_is_never_overwritten(generated: Path) -> None:
    # given a generated package the author has since edited
    readme = generated / "README.md"
    readme.write_text("mine")

    # when the same plugin is generated again in the same place
    with pytest.raises(CommandError, match="exists and is not empty"):
        call_command("plugin", "new", "acme-rates", "--dir", str(generated.parent))

    # then the author's work is untouched
    assert readme.read_text() == "mine"


def test_scaffold_error_is_a_value_error() -> None:
    assert issubclass(ScaffoldError, ValueError)
