"""
``merchantry rotate_encryption_keys``: re-encrypt every stored secret with the
first key of ``MERCHANTRY_ENCRYPTION_KEYS``.

Run it after putting a new key first; once it reports no unreadable values,
the old keys can be removed from the list. Safe to run again: values already
under the first key are left alone.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from merchantry.core import audit
from merchantry.core.crypto import derive_key, rotate_stored


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of MERCHANTRY_ENCRYPTION_KEYS "
        "(idempotent); --show-derived-key prints the key derived from SECRET_KEY instead."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--show-derived-key",
            action="store_true",
            help="print the encryption key derived from the current SECRET_KEY (the default "
            "key when MERCHANTRY_ENCRYPTION_KEYS is unset) and exit; run it before changing "
            "SECRET_KEY and list the printed key in MERCHANTRY_ENCRYPTION_KEYS",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["show_derived_key"]:
            self.stdout.write(derive_key(settings.SECRET_KEY))
            return
        report = rotate_stored()
        audit.record(
            audit.SYSTEM,
            "encryption_keys.rotate",
            None,
            {
                "re_encrypted": report.re_encrypted,
                "already_current": report.already_current,
                "rewritten_meanwhile": report.rewritten_meanwhile,
                "unreadable": len(report.unreadable),
            },
        )
        self.stdout.write(
            f"Re-encrypted {report.re_encrypted} value(s); {report.already_current} already "
            f"used the first key; {report.rewritten_meanwhile} changed during the run."
        )
        if report.unreadable:
            for where in report.unreadable:
                self.stderr.write(f"cannot decrypt: {where}")
            raise CommandError(
                f"{len(report.unreadable)} value(s) cannot be decrypted with any configured "
                "key; keep the key that encrypted them in MERCHANTRY_ENCRYPTION_KEYS."
            )
