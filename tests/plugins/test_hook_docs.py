"""
The plugin guide keeps up with the code: every hook and every provider
interface has a heading in docs/plugins.md, with the hook's real arguments,
and every Python example in it at least compiles.
"""

from __future__ import annotations

import re

import pytest
import yaml

from merchantry.plugins import hookspecs
from merchantry.plugins.providers import PROVIDER_INTERFACES
from merchantry.plugins.registry import new_plugin_manager
from merchantry.testing import __all__ as testing_exports
from tests.conftest import REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "plugins.md"
HOOK_HEADING = re.compile(r"^### (merchantry_\w+)\((.*)\)$", re.MULTILINE)
HEADING = re.compile(r"^#{2,4} (.+)$", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _hook_specs() -> dict[str, tuple[str, ...]]:
    manager = new_plugin_manager()
    return {
        name: caller.spec.argnames
        for name, caller in vars(manager.hook).items()
        if name.startswith("merchantry_") and caller.spec is not None
    }


def test_there_are_hooks_to_document() -> None:
    assert set(_hook_specs()) >= {
        "merchantry_on_event",
        "merchantry_adjust_checkout_totals",
        "merchantry_validate_checkout",
    }


@pytest.mark.parametrize("hook", sorted(_hook_specs()))
def test_every_hook_has_a_heading_with_its_arguments(hook: str) -> None:
    documented = {
        name: tuple(arg.strip() for arg in args.split(",") if arg.strip())
        for name, args in HOOK_HEADING.findall(GUIDE.read_text())
    }

    assert hook in documented, f"docs/plugins.md has no '### {hook}(...)' heading"
    assert documented[hook] == _hook_specs()[hook]


def test_no_heading_documents_a_hook_that_does_not_exist() -> None:
    documented = {name for name, _ in HOOK_HEADING.findall(GUIDE.read_text())}

    assert documented == set(_hook_specs())


def test_every_hookspec_has_a_docstring() -> None:
    for name in _hook_specs():
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"


@pytest.mark.parametrize("interface", sorted(i.__name__ for i in PROVIDER_INTERFACES.values()))
def test_every_provider_interface_has_a_heading(interface: str) -> None:
    assert interface in HEADING.findall(GUIDE.read_text())


def test_the_kit_s_public_names_are_documented() -> None:
    text = GUIDE.read_text()

    assert [name for name in testing_exports if f"`{name}" not in text] == []


def test_every_python_example_compiles() -> None:
    blocks = PYTHON_BLOCK.findall(GUIDE.read_text())

    assert len(blocks) >= 15
    for number, block in enumerate(blocks, start=1):
        compile(block, f"docs/plugins.md python block {number}", "exec")


def test_the_guide_is_in_the_site_navigation() -> None:
    config = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())

    assert {"Plugin development": "plugins.md"} in config["nav"]
