"""``merchantry plugin new NAME [--dir PATH]``: start a new plugin package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from merchantry.plugins.scaffold import ScaffoldError, plugin_names, scaffold_plugin


class Command(BaseCommand):
    help = "Create a new plugin package, ready to test and install."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        new = actions.add_parser("new", help="write a new plugin package")
        new.add_argument("name", metavar="NAME", help="the plugin's name, e.g. acme-rates")
        new.add_argument(
            "--dir", default=".", metavar="PATH", help="where to create it (default: here)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            root = scaffold_plugin(options["name"], Path(options["dir"]))
        except ScaffoldError as exc:
            raise CommandError(str(exc)) from None
        names = plugin_names(options["name"])
        self.stdout.write(
            f"Created plugin {names['plugin_id']} in {root}.\n"
            f"Next: cd {root} && pip install -e '.[test]' && pytest"
        )
