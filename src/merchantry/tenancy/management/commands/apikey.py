"""
``merchantry apikey create|revoke|list``: a shop's API keys.

``create`` writes the key, and nothing else, to standard output, so a script
can capture it (``KEY=$(merchantry apikey create ...)``); what a person should
read goes to standard error. Keys are shown once: ``list`` shows prefixes only.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.keys import DISPLAY_PREFIX_LENGTH, hash_key
from merchantry.tenancy.management import (
    channel_by_slug,
    render_table,
    service_errors,
    shop_by_slug,
)
from merchantry.tenancy.models import ApiKey, ApiKeyKind, Shop
from merchantry.tenancy.permissions import ALL
from merchantry.tenancy.services import apikey_create, apikey_list, apikey_revoke

MIN_PREFIX_LENGTH = 6


def _plain(text: str) -> str:
    return text


def parse_permissions(value: str | None) -> list[str]:
    """Return the codes of ``--permissions`` (``all``, or codes separated by commas)."""
    if value is None:
        return []
    if value.strip().lower() == "all":
        return sorted(ALL)
    return [code.strip() for code in value.split(",") if code.strip()]


def _describe_permissions(codes: list[str]) -> str:
    if set(codes) >= ALL:
        return "all"
    return ",".join(codes) or "-"


class Command(BaseCommand):
    help = "Create, revoke and list a shop's API keys."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser(
            "create", help="create a key and print it (only it) on standard output"
        )
        create.add_argument("--shop", required=True, metavar="SLUG", help="the shop's slug")
        create.add_argument("--kind", required=True, choices=ApiKeyKind.values)
        create.add_argument(
            "--channel", metavar="CHANNEL_SLUG", help="the channel of a publishable key"
        )
        create.add_argument(
            "--permissions",
            metavar="CODES",
            help="what a secret key may do: codes separated by commas "
            "(e.g. catalog.view,orders.manage), or all",
        )
        create.add_argument("--name", required=True, metavar="LABEL", help="what uses the key")
        revoke = actions.add_parser("revoke", help="revoke a key")
        revoke.add_argument("--shop", required=True, metavar="SLUG", help="the shop's slug")
        revoke.add_argument("key", metavar="PREFIX_OR_ID", help="the key's id or prefix")
        listing = actions.add_parser("list", help="list a shop's keys (prefixes, never keys)")
        listing.add_argument("--shop", required=True, metavar="SLUG", help="the shop's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        shop = shop_by_slug(options["shop"])
        if options["action"] == "create":
            self._create(shop, options)
        elif options["action"] == "revoke":
            self._revoke(shop, options["key"])
        else:
            self._list(shop)

    def _note(self, text: str) -> None:
        self.stderr.write(text, style_func=_plain)

    def _create(self, shop: Shop, options: dict[str, Any]) -> None:
        kind = options["kind"]
        permissions = parse_permissions(options["permissions"])
        if kind == ApiKeyKind.SECRET and not permissions:
            raise CommandError(
                "A secret key needs --permissions: codes separated by commas "
                "(e.g. catalog.view,orders.manage), or all."
            )
        channel = channel_by_slug(shop, options["channel"]) if options["channel"] else None
        with service_errors():
            created = apikey_create(
                actor=SYSTEM_ACTOR,
                shop=shop,
                kind=kind,
                name=options["name"],
                channel=channel,
                permissions=permissions,
            )
        key = created.api_key
        scope = (
            f"channel {channel.slug}"
            if channel
            else f"permissions {_describe_permissions(key.permissions)}"
        )
        self._note(
            f"Created {kind} key {key.name!r} ({key.prefix}…) in shop {shop.slug}, {scope}.\n"
            "The key is shown only this once; store it now."
        )
        self.stdout.write(created.raw)

    def _find(self, shop: Shop, value: str) -> ApiKey:
        value = value.strip()
        keys = ApiKey.objects.for_shop(shop)
        if value.isdigit():
            found = keys.filter(pk=int(value)).first()
        elif len(value) > DISPLAY_PREFIX_LENGTH:
            # The whole key (e.g. one that leaked): find it by its hash.
            found = keys.filter(key_hash=hash_key(value)).first()
        elif len(value) < MIN_PREFIX_LENGTH:
            raise CommandError(
                f"{value!r} is too short to name a key; give its id or its prefix "
                "as `merchantry apikey list` shows it."
            )
        else:
            matches = list(keys.filter(prefix__startswith=value)[:2])
            if len(matches) > 1:
                raise CommandError(f"Several keys start with {value!r}; give the key's id.")
            found = matches[0] if matches else None
        if found is None:
            raise CommandError(
                f"No API key {value!r} in shop {shop.slug}; "
                f"`merchantry apikey list --shop {shop.slug}` shows them."
            )
        return found

    def _revoke(self, shop: Shop, value: str) -> None:
        with service_errors():
            key = self._find(shop, value)
            was_revoked = key.is_revoked
            key = apikey_revoke(actor=SYSTEM_ACTOR, shop=shop, key_id=key.pk)
        if was_revoked:
            self.stdout.write(f"Key {key.name!r} ({key.prefix}…) was already revoked.")
        else:
            self.stdout.write(f"Revoked key {key.name!r} ({key.prefix}…) of shop {shop.slug}.")

    def _list(self, shop: Shop) -> None:
        with service_errors():
            keys = list(
                apikey_list(actor=SYSTEM_ACTOR, shop=shop)
                .select_related("channel")
                .order_by("created_at", "pk")
            )
        if not keys:
            self.stdout.write(f"Shop {shop.slug} has no API keys yet.")
            return
        rows = [
            (
                key.pk,
                key.kind,
                key.name,
                f"{key.prefix}…",
                key.channel.slug if key.channel else "-",
                _describe_permissions(key.permissions) if key.kind == ApiKeyKind.SECRET else "-",
                key.created_at.strftime("%Y-%m-%d %H:%M"),
                key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never",
                "revoked" if key.is_revoked else "live",
            )
            for key in keys
        ]
        self.stdout.write(
            render_table(
                (
                    "ID",
                    "KIND",
                    "NAME",
                    "PREFIX",
                    "CHANNEL",
                    "PERMISSIONS",
                    "CREATED",
                    "LAST USED",
                    "STATUS",
                ),
                rows,
            )
        )
