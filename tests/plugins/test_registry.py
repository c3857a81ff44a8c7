"""
Plugin discovery: entry points found, checked against this Merchantry's
version and the hook specifications, refused with a reason when they do not
fit, and the platform starting and listing them either way.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from django.core.management import call_command

from merchantry import __version__
from merchantry.plugins import registry
from merchantry.plugins.registry import (
    ENTRY_POINT_GROUP,
    LoadedPlugin,
    PluginStatus,
    all_plugins,
    get_plugin,
    plugin_manager,
)
from merchantry.testing import registered_plugin
from tests.conftest import REPO_ROOT, run_merchantry, subprocess_env
from tests.plugins import sample

Install = Callable[..., None]


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Make ``registry.entry_points`` find exactly the given ``name=value`` entry points."""

    def install(*specs: str) -> None:
        found = [
            EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
            for name, _, value in (spec.partition("=") for spec in specs)
        ]
        monkeypatch.setattr(
            registry, "entry_points", lambda *, group: found if group == ENTRY_POINT_GROUP else []
        )
        registry.reset_registry()

    yield install
    registry.reset_registry()


def _refusals(caplog: pytest.LogCaptureFixture) -> list[dict]:
    """Return the registry's refusal lines, without their time stamps."""
    return [
        {key: value for key, value in record.msg.items() if key != "timestamp"}
        for record in caplog.records
        if record.name == "merchantry.plugins.registry" and record.msg["event"] == "plugin_refused"
    ]


# -- discovery ------------------------------------------------------------------------


def test_an_entry_point_is_discovered_and_registered_for_hooks(installed: Install) -> None:
    # given one plugin's entry point
    installed("sample=tests.plugins.sample:plugin")

    # when the registry is read
    plugins = all_plugins()

    # then the plugin is usable and registered, under its id, for hooks
    assert plugins == {
        "sample": LoadedPlugin(
            id="sample",
            entry_point="sample = tests.plugins.sample:plugin",
            status=PluginStatus.OK,
            reason="",
            plugin=sample.plugin,
        )
    }
    assert get_plugin("sample").manifest.version == "2.3.4"
    assert plugin_manager().get_plugin("sample") is sample.plugin
    assert get_plugin("other") is None


def test_discovery_runs_once_until_reset(installed: Install, monkeypatch) -> None:
    # given a discovered registry
    installed("sample=tests.plugins.sample:plugin")
    all_plugins()
    calls = []
    monkeypatch.setattr(registry, "entry_points", lambda *, group: calls.append(group) or [])

    # when it is read again, then after a reset
    again = all_plugins()
    registry.reset_registry()
    after_reset = all_plugins()

    # then entry points were looked at only after the reset
    assert list(again) == ["sample"]
    assert after_reset == {}
    assert calls == [ENTRY_POINT_GROUP]


def test_an_incompatible_plugin_is_refused_with_the_reason_and_others_still_load(
    installed: Install, caplog: pytest.LogCaptureFixture
) -> None:
    # given a plugin for a future Merchantry beside a compatible one
    installed("future=tests.plugins.sample:future", "sample=tests.plugins.sample:plugin")

    # when the registry is read
    with caplog.at_level("ERROR", logger="merchantry.plugins.registry"):
        plugins = all_plugins()

    # then the future one is listed as incompatible, with why, and kept out of hooks
    reason = f"needs Merchantry >=99.0; this is {__version__}"
    assert plugins["future"] == LoadedPlugin(
        "future", "future = tests.plugins.sample:future", "incompatible", reason, sample.future
    )
    assert not plugins["future"].usable
    assert plugins["sample"].usable
    assert plugin_manager().get_plugin("future") is None
    assert plugin_manager().get_plugin("sample") is sample.plugin
    assert _refusals(caplog) == [
        {
            "event": "plugin_refused",
            "plugin": "future",
            "reason": reason,
            "level": "error",
            "logger": "merchantry.plugins.registry",
        }
    ]


@pytest.mark.parametrize(
    ("_case", "value", "reason"),
    [
        (
            "module missing",
            "tests.plugins.no_such_module:plugin",
            "import failed: No module named 'tests.plugins.no_such_module'",
        ),
        (
            "attribute missing",
            "tests.plugins.sample:no_such_attribute",
            "import failed: module 'tests.plugins.sample' has no attribute 'no_such_attribute'",
        ),
        (
            "not a Plugin",
            "tests.plugins.sample:not_a_plugin",
            "the entry point does not name a merchantry.plugins.spec.Plugin instance",
        ),
    ],
)
def test_a_plugin_that_does_not_import_is_refused_as_broken(
    installed: Install, caplog: pytest.LogCaptureFixture, _case: str, value: str, reason: str
) -> None:
    # given a broken entry point beside a good one
    installed(f"broken={value}", "sample=tests.plugins.sample:plugin")

    # when the registry is read
    with caplog.at_level("ERROR", logger="merchantry.plugins.registry"):
        plugins = all_plugins()

    # then it is refused as broken with the reason; the good one still loads
    assert plugins["broken"] == LoadedPlugin("broken", f"broken = {value}", "broken", reason)
    assert plugins["sample"].usable
    assert [refusal["entry_point"] for refusal in _refusals(caplog)] == [f"broken = {value}"]


@pytest.mark.parametrize(
    ("_case", "name", "reason"),
    [
        ("id differs", "other", "manifest id 'sample' must match the entry point name"),
        ("bad specifier", "nonsense", "requires_core 'the latest' is not a version specifier"),
        (
            "hook name typo",
            "typo",
            "invalid hook implementation: unknown hook 'merchantry_on_evnt'",
        ),
        (
            "argument not in the spec",
            "unknown_arg",
            "invalid hook implementation: Plugin 'unknown_arg' for hook 'merchantry_on_event'",
        ),
        ("wrapper", "wrapper", "merchantry_on_event is a wrapper"),
    ],
)
def test_a_plugin_with_a_bad_manifest_or_hooks_is_refused_as_broken(
    installed: Install, _case: str, name: str, reason: str
) -> None:
    # given a plugin whose manifest or hooks do not fit
    attribute = "plugin" if name == "other" else name
    installed(f"{name}=tests.plugins.sample:{attribute}")

    # when the registry is read
    loaded = all_plugins()[name]

    # then it is refused, saying why, and none of its hooks is registered
    assert loaded.status == PluginStatus.BROKEN
    assert loaded.reason.startswith(reason), loaded.reason
    assert plugin_manager().get_plugin(name) is None
    assert plugin_manager().get_plugins() == set()


def test_two_entry_points_with_one_id_keep_the_first(installed: Install) -> None:
    # given two distributions claiming the id "sample"
    installed("sample=tests.plugins.sample:plugin", "sample=tests.plugins.sample:future")

    # when the registry is read, then the first one (by sort order) is kept
    assert all_plugins()["sample"].plugin is sample.plugin


# -- plugins added in-process (merchantry.testing) ------------------------------------


def test_a_registered_plugin_replaces_the_installed_one_for_the_block(installed: Install) -> None:
    # given an installed plugin with the id "sample"
    installed("sample=tests.plugins.sample:plugin")
    replacement = sample.SamplePlugin()

    # when another object with that id is registered for a block
    with registered_plugin(replacement) as loaded:
        inside = get_plugin("sample").plugin
        manager_inside = plugin_manager().get_plugin("sample")

    # then it is the plugin inside the block, and the installed one after
    assert loaded.status == PluginStatus.OK
    assert inside is replacement
    assert manager_inside is replacement
    assert get_plugin("sample").plugin is sample.plugin
    assert plugin_manager().get_plugin("sample") is sample.plugin


def test_registering_a_refused_plugin_fails_with_the_reason(installed: Install) -> None:
    installed()

    refused = registered_plugin(sample.future)
    with pytest.raises(AssertionError, match=r"plugin 'future' was refused: needs Merchantry"):
        refused.__enter__()

    assert get_plugin("future") is None


# -- the command line -----------------------------------------------------------------


def test_plugins_list_shows_each_plugin_and_why_refused_ones_are(installed: Install) -> None:
    # given a usable, an incompatible and a broken plugin
    installed(
        "sample=tests.plugins.sample:plugin",
        "future=tests.plugins.sample:future",
        "broken=tests.plugins.no_such_module:plugin",
    )
    out = io.StringIO()

    # when they are listed
    call_command("plugins", "list", stdout=out)

    # then each is a row, sorted by id, with its status and reason
    assert out.getvalue().splitlines() == [
        "ID      NAME    VERSION  STATUS        REASON",
        "broken  -       -        broken        import failed: No module named "
        "'tests.plugins.no_such_module'",
        f"future  Future  2.3.4    incompatible  needs Merchantry >=99.0; this is {__version__}",
        "sample  Sample  2.3.4    ok            -",
    ]


def test_plugins_list_says_when_there_are_none(installed: Install) -> None:
    installed()
    out = io.StringIO()

    call_command("plugins", "list", stdout=out)

    assert out.getvalue() == (
        "No plugins found (none registers a merchantry.plugins entry point).\n"
    )


# -- start-up with real distributions -------------------------------------------------


def _distribution(site: Path, module: str, entry: str, source: str) -> None:
    """Install ``module`` into ``site`` as a distribution registering ``entry``."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry}\n")


@pytest.fixture
def site_with_bad_plugins(tmp_path: Path) -> Path:
    """A folder holding an incompatible and a broken plugin, installed as distributions."""
    site = tmp_path / "site"
    site.mkdir()
    _distribution(
        site,
        "future_plugin",
        "future = future_plugin:plugin",
        """
        from merchantry.plugins.spec import Plugin, PluginManifest

        class Future(Plugin):
            manifest = PluginManifest(
                id="future", name="Future", version="9.0", requires_core=">=99.0"
            )

        plugin = Future()
        """,
    )
    _distribution(
        site,
        "broken_plugin",
        "broken = broken_plugin:plugin",
        'raise ImportError("libfoo is not installed")\n',
    )
    return site


STARTUP = """
import json
from wsgiref.util import setup_testing_defaults

from merchantry.wsgi import application
from merchantry.plugins.registry import all_plugins

environ = {"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}
setup_testing_defaults(environ)
statuses = []
body = b"".join(application(environ, lambda status, headers, exc=None: statuses.append(status)))
print(json.dumps({
    "healthz": statuses[0],
    "body": json.loads(body)["status"],
    "plugins": {pid: p.status for pid, p in sorted(all_plugins().items())},
}))
"""


@pytest.mark.slow
def test_the_platform_starts_and_answers_healthz_with_refused_plugins_installed(
    site_with_bad_plugins: Path, tmp_path: Path
) -> None:
    # given an incompatible and a broken plugin installed beside the example
    env = subprocess_env(
        MERCHANTRY_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=f"{site_with_bad_plugins}:{REPO_ROOT}",
        LOG_LEVEL="WARNING",
    )
    env.pop("REDIS_URL", None)

    # when the WSGI application starts and is asked for /healthz, and the
    # plugins are listed
    started = __import__("subprocess").run(
        [sys.executable, "-c", STARTUP], env=env, capture_output=True, text=True, timeout=120
    )
    listed = run_merchantry("plugins", "list", env=env, cwd=tmp_path)

    # then it answers, the bad plugins are refused with a log line, and listed with why
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout.splitlines()[-1]) == {
        "healthz": "200 OK",
        "body": "ok",
        "plugins": {"broken": "broken", "example": "ok", "future": "incompatible"},
    }
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[1:] == [
        "broken   -        -        broken        import failed: libfoo is not installed",
        "example  Example  1.0.0    ok            -",
        f"future   Future   9.0      incompatible  needs Merchantry >=99.0; this is {__version__}",
    ]
    refused = [line for line in listed.stderr.splitlines() if "plugin_refused" in line]
    assert len(refused) == 2
    assert any("future" in line and "needs Merchantry >=99.0" in line for line in refused)
