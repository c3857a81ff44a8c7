"""``merchantry plugins list|health``: what plugins this server has, and how they fare."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from merchantry.plugins.models import PluginInstallation
from merchantry.plugins.registry import all_plugins
from merchantry.plugins.services import installation_health
from merchantry.tenancy.management import render_table, service_errors, shop_by_slug


class Command(BaseCommand):
    help = "List the plugins this server found, or check the health of installed ones."
    # Like the tenancy commands: a few rows, no need for every system check.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser(
            "list", help="list the plugins found through entry points, refused ones with why"
        )
        health = actions.add_parser(
            "health", help="run the health check of every installation (exit 1 if one fails)"
        )
        health.add_argument("--shop", metavar="SLUG", help="only this shop's installations")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list()
        else:
            self._health(options["shop"])

    def _list(self) -> None:
        plugins = all_plugins()
        if not plugins:
            self.stdout.write("No plugins found (none registers a merchantry.plugins entry point).")
            return
        rows = []
        for plugin_id, loaded in sorted(plugins.items()):
            manifest = loaded.manifest
            rows.append(
                (
                    plugin_id,
                    manifest.name if manifest else "-",
                    manifest.version if manifest else "-",
                    loaded.status,
                    loaded.reason or "-",
                )
            )
        self.stdout.write(render_table(("ID", "NAME", "VERSION", "STATUS", "REASON"), rows))

    def _health(self, shop_slug: str | None) -> None:
        with service_errors():
            installations = PluginInstallation.objects.select_related("shop").order_by(
                "shop__slug", "plugin_id"
            )
            if shop_slug:
                installations = installations.for_shop(shop_by_slug(shop_slug))
            installations = list(installations)
        if not installations:
            where = f"shop {shop_slug}" if shop_slug else "any shop"
            self.stdout.write(f"No plugin is installed in {where}.")
            return
        rows, failing = [], 0
        for installation in installations:
            health = installation_health(installation)
            failing += not health.ok
            rows.append(
                (
                    installation.shop.slug,
                    installation.plugin_id,
                    installation.status,
                    "ok" if health.ok else "failing",
                    health.detail,
                )
            )
        self.stdout.write(render_table(("SHOP", "PLUGIN", "STATUS", "HEALTH", "DETAIL"), rows))
        if failing:
            raise CommandError(
                f"{failing} of {len(rows)} installation(s) are failing.", returncode=1
            )
