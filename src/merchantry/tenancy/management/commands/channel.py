"""``merchantry channel create|list``: manage a shop's sales channels."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.management import render_table, service_errors, shop_by_slug
from merchantry.tenancy.models import ChannelKind
from merchantry.tenancy.services import channel_create, channel_list

_OPTIONS = {
    "slug": "CHANNEL_SLUG",
    "default_country": "--country",
    "allowed_origins": "--origin",
}


class Command(BaseCommand):
    help = "Create and list a shop's sales channels (web store, Facebook, chatbot, ...)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="create a channel")
        create.add_argument("--shop", required=True, metavar="SLUG", help="the shop's slug")
        create.add_argument("slug", metavar="CHANNEL_SLUG", help="short name, e.g. web")
        create.add_argument(
            "--kind",
            default=ChannelKind.WEB.value,
            choices=ChannelKind.values,
            help="what sort of channel (default: %(default)s)",
        )
        create.add_argument("--currency", help="the channel's currency (default: the shop's)")
        create.add_argument("--name", help="display name (default: from the slug)")
        create.add_argument("--country", help="default country (default: the shop's)")
        create.add_argument(
            "--origin",
            action="append",
            default=[],
            metavar="URL",
            help="a browser origin allowed to call the Store API, e.g. https://shop.example.com;"
            " repeat for several",
        )
        listing = actions.add_parser("list", help="list a shop's channels")
        listing.add_argument("--shop", required=True, metavar="SLUG", help="the shop's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        shop = shop_by_slug(options["shop"])
        if options["action"] == "create":
            self._create(shop, options)
        else:
            self._list(shop)

    def _create(self, shop: Any, options: dict[str, Any]) -> None:
        slug = options["slug"]
        with service_errors(_OPTIONS):
            channel = channel_create(
                actor=SYSTEM_ACTOR,
                shop=shop,
                slug=slug,
                name=options["name"] or slug.replace("-", " ").replace("_", " ").title(),
                kind=options["kind"],
                currency=options["currency"],
                default_country=options["country"],
                allowed_origins=options["origin"],
            )
        origins = ", ".join(channel.allowed_origins) or "none"
        self.stdout.write(
            f"Created channel {channel.slug} ({channel.name}, {channel.kind}, "
            f"{channel.currency}) in shop {shop.slug}; allowed origins: {origins}."
        )

    def _list(self, shop: Any) -> None:
        with service_errors():
            channels = list(channel_list(actor=SYSTEM_ACTOR, shop=shop).order_by("slug"))
        if not channels:
            self.stdout.write(f"Shop {shop.slug} has no channels yet.")
            return
        rows = [
            (
                channel.slug,
                channel.name,
                channel.kind,
                channel.currency,
                channel.default_country,
                "yes" if channel.is_active else "no",
                ",".join(channel.allowed_origins) or "-",
            )
            for channel in channels
        ]
        self.stdout.write(
            render_table(("SLUG", "NAME", "KIND", "CURRENCY", "COUNTRY", "ACTIVE", "ORIGINS"), rows)
        )
