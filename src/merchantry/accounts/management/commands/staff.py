"""``merchantry staff create|list``: who works in a shop, and in which role."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from merchantry.accounts.models import Membership
from merchantry.accounts.services import membership_create
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.management import render_table, service_errors, shop_by_slug
from merchantry.tenancy.models import Shop

_OPTIONS = {"full_name": "--name"}


class Command(BaseCommand):
    help = "Give a person a role in a shop (creating their staff account), and list staff."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser(
            "create", help="add a staff member to a shop, creating the account if needed"
        )
        create.add_argument("--shop", required=True, metavar="SLUG", help="the shop's slug")
        create.add_argument("--email", required=True, help="the person's email address")
        create.add_argument(
            "--role",
            required=True,
            help="a built-in role (owner, admin, catalog_manager, fulfillment, support, "
            "read_only) or one of the shop's own",
        )
        create.add_argument("--name", default="", help="the person's full name")
        listing = actions.add_parser("list", help="list a shop's staff")
        listing.add_argument("--shop", required=True, metavar="SLUG", help="the shop's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        shop = shop_by_slug(options["shop"])
        if options["action"] == "create":
            self._create(shop, options)
        else:
            self._list(shop)

    def _create(self, shop: Shop, options: dict[str, Any]) -> None:
        with service_errors(_OPTIONS):
            invite = membership_create(
                actor=SYSTEM_ACTOR,
                shop=shop,
                email=options["email"],
                role=options["role"],
                full_name=options["name"],
            )
        membership = invite.membership
        email, role = membership.user.email, membership.role.key
        if invite.user_created:
            self.stdout.write(
                f"Created the staff account {email}, with the role {role} in shop {shop.slug}.\n"
                "Its one-time password is shown only this once; hand it over safely and "
                "have it changed at first sign-in:\n"
                f"    password  {invite.password}"
            )
        else:
            self.stdout.write(
                f"Added the existing account {email} to shop {shop.slug} with the role {role}; "
                "its password is unchanged."
            )

    def _list(self, shop: Shop) -> None:
        with service_errors():
            memberships = list(
                Membership.objects.filter(shop=shop)
                .select_related("user", "role")
                .order_by("user__email")
            )
        if not memberships:
            self.stdout.write(f"Shop {shop.slug} has no staff yet.")
            return
        rows = [
            (
                m.user.email,
                m.user.full_name or "-",
                m.role.key,
                "yes" if m.user.is_active else "no",
            )
            for m in memberships
        ]
        self.stdout.write(render_table(("EMAIL", "NAME", "ROLE", "ACTIVE"), rows))
