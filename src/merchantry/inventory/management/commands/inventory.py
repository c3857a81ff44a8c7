"""``merchantry inventory verify``: check that stock levels equal the ledger."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from merchantry.inventory.verify import verify_ledger
from merchantry.tenancy.management import service_errors, shop_by_slug

MAX_LINES_SHOWN = 200


class Command(BaseCommand):
    help = "Inventory checks."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser(
            "verify",
            help="check every stock level against the sums of the ledger and the holds "
            "of reservations and allocations; exit 1 on any mismatch",
        )
        verify.add_argument("--shop", metavar="SLUG", help="only this shop (default: all)")

    def handle(self, *args: Any, **options: Any) -> None:
        shop = shop_by_slug(options["shop"]) if options.get("shop") else None
        with service_errors():
            checked, mismatches = verify_ledger(shop=shop)
        if not mismatches:
            self.stdout.write(f"OK: {checked} stock level(s) match the ledger.")
            return
        self.stdout.write(f"MISMATCH: {len(mismatches)} difference(s) in {checked} level(s):")
        for mismatch in mismatches[:MAX_LINES_SHOWN]:
            self.stdout.write(f"  {mismatch}")
        if len(mismatches) > MAX_LINES_SHOWN:
            self.stdout.write(f"  ... and {len(mismatches) - MAX_LINES_SHOWN} more")
        raise CommandError(
            f"{len(mismatches)} stock difference(s) found; see the report above.", returncode=1
        )
