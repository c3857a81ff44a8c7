"""
Categories named by path (``"Apparel > Shirts > Linen"``), found or made.

Imports and the bulk upsert name categories the way spreadsheets do. A
:class:`CategoryPaths` loads the shop's tree once, answers lookups from
memory, and makes the missing nodes through treebeard (``add_root`` for a
top-level category of the shop, ``add_child`` below). Nodes made inside a
savepoint that rolls back are forgotten with :meth:`CategoryPaths.rollback`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.text import slugify

from merchantry.catalog.models import Category
from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.tenancy.models import Shop

__all__ = ["MAX_DEPTH", "SEPARATOR", "CategoryPaths", "format_path", "parse_path"]

SEPARATOR = ">"
MAX_DEPTH = 10
NAME_MAX_LENGTH = 120
HANDLE_MAX_LENGTH = 120


def parse_path(text: str, loc: tuple[str | int, ...]) -> tuple[str, ...]:
    """Return the names of ``"A > B > C"``, or raise :class:`ValidationFailed` at ``loc``."""
    names = tuple(name.strip() for name in text.split(SEPARATOR))
    if not all(names):
        message = f'A category path is names separated by "{SEPARATOR} ", none of them empty.'
        raise ValidationFailed(errors=[FieldError(loc, message, "invalid")])
    if len(names) > MAX_DEPTH or any(len(name) > NAME_MAX_LENGTH for name in names):
        message = (
            f"A category path has at most {MAX_DEPTH} levels of at most "
            f"{NAME_MAX_LENGTH} characters each."
        )
        raise ValidationFailed(errors=[FieldError(loc, message, "too_long")])
    return names


def format_path(names: Sequence[str]) -> str:
    return f" {SEPARATOR} ".join(names)


class CategoryPaths:
    """The shop's category tree by name path, loaded on first use."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self._by_key: dict[tuple[str, str], Category] | None = None
        self._names: dict[str, str] = {}
        self._handles: set[str] = set()
        self._pending: list[tuple[tuple[str, str], Category]] = []

    def _load(self) -> dict[tuple[str, str], Category]:
        if self._by_key is None:
            self._by_key = {}
            nodes = Category.objects.filter(shop=self.shop).only(
                "id", "shop_id", "path", "depth", "numchild", "name", "handle"
            )
            for node in nodes.order_by("path"):
                self._remember(node)
        return self._by_key

    def _remember(self, node: Category) -> tuple[str, str]:
        assert self._by_key is not None
        key = (node.path[: -Category.steplen], node.name.casefold())
        self._by_key.setdefault(key, node)
        self._names[node.path] = node.name
        self._handles.add(node.handle)
        return key

    def find(self, names: Sequence[str]) -> Category | None:
        """Return the category at ``names``, or None if any level is missing."""
        by_key = self._load()
        parent, node = "", None
        for name in names:
            node = by_key.get((parent, name.casefold()))
            if node is None:
                return None
            parent = node.path
        return node

    def ensure(self, names: Sequence[str]) -> Category:
        """Return the category at ``names``, making the missing levels."""
        by_key = self._load()
        parent: Category | None = None
        for name in names:
            node = by_key.get((parent.path if parent else "", name.casefold()))
            if node is None:
                fields = {"shop": self.shop, "name": name, "handle": self._new_handle(name)}
                node = (
                    Category.objects.add_child(parent, create_kwargs=fields)
                    if parent
                    else Category.objects.add_root(create_kwargs=fields)
                )
                self._pending.append((self._remember(node), node))
            parent = node
        assert parent is not None
        return parent

    def path_of(self, category: Category) -> tuple[str, ...]:
        """Return the names from the root down to ``category``."""
        self._load()
        step = Category.steplen
        return tuple(
            self._names[category.path[:end]]
            for end in range(step, len(category.path) + 1, step)
            if category.path[:end] in self._names
        )

    def commit(self) -> None:
        """Keep the nodes made since the last commit (their savepoint was released)."""
        self._pending.clear()

    def rollback(self) -> None:
        """Forget the nodes made since the last commit (their savepoint rolled back)."""
        assert self._by_key is not None or not self._pending
        for key, node in self._pending:
            if self._by_key is not None and self._by_key.get(key) is node:
                del self._by_key[key]
            self._names.pop(node.path, None)
            self._handles.discard(node.handle)
        self._pending.clear()

    def _new_handle(self, name: str) -> str:
        base = (slugify(name) or "category")[: HANDLE_MAX_LENGTH - 8]
        handle, suffix = base, 2
        while handle in self._handles:
            handle, suffix = f"{base}-{suffix}", suffix + 1
        return handle
