"""``merchantry shop create|list``: manage the installation's shops."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.management import render_table, service_errors
from merchantry.tenancy.models import Shop
from merchantry.tenancy.services import shop_create

# Where a service's field is called something else on the command line.
_OPTIONS = {
    "slug": "SLUG",
    "default_currency": "--currency",
    "default_country": "--country",
    "host": "--domain",
}


class Command(BaseCommand):
    help = "Create and list shops (the tenants of this installation)."
    # The admin commands read and write a few rows; Django's system checks
    # (which import every URL and API route) would triple their start-up time.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="create a shop")
        create.add_argument("slug", metavar="SLUG", help="short name in URLs, e.g. acme")
        create.add_argument("--name", required=True, help="display name")
        create.add_argument("--currency", required=True, help="default currency, e.g. USD")
        create.add_argument("--country", required=True, help="default country, e.g. US")
        create.add_argument("--timezone", default="UTC", help="e.g. Europe/Paris (default: UTC)")
        create.add_argument("--domain", help="host name the shop answers to, e.g. shop.example.com")
        actions.add_parser("list", help="list the shops")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self._create(options)
        else:
            self._list()

    def _create(self, options: dict[str, Any]) -> None:
        with service_errors(_OPTIONS):
            shop = shop_create(
                actor=SYSTEM_ACTOR,
                slug=options["slug"],
                name=options["name"],
                currency=options["currency"],
                country=options["country"],
                timezone_name=options["timezone"],
                domain=options["domain"],
            )
        self.stdout.write(
            f"Created shop {shop.slug} ({shop.name}, {shop.default_currency}, "
            f"{shop.default_country}, {shop.timezone})."
        )

    def _list(self) -> None:
        with service_errors():
            shops = list(Shop.objects.prefetch_related("domains").order_by("slug"))
        if not shops:
            self.stdout.write("No shops yet; create one with `merchantry shop create`.")
            return
        rows = [
            (
                shop.slug,
                shop.name,
                shop.default_currency,
                shop.default_country,
                shop.timezone,
                shop.status,
                ",".join(domain.host for domain in shop.domains.all()) or "-",
            )
            for shop in shops
        ]
        self.stdout.write(
            render_table(
                ("SLUG", "NAME", "CURRENCY", "COUNTRY", "TIMEZONE", "STATUS", "DOMAINS"), rows
            )
        )
