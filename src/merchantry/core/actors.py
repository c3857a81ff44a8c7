"""
Who is acting: the subject of every permission check and audit record.

An :class:`Actor` is built once per request (from a staff session, an API key
or a customer token) or per job, and passed to services explicitly. Services
check permissions on it; they never look at the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from merchantry.core.errors import PermissionDenied

__all__ = ["SYSTEM_ACTOR", "Actor"]


@dataclass(frozen=True, slots=True)
class Actor:
    """
    A caller within one shop (or the platform, when ``shop_id`` is None).

    ``kind`` is ``user``, ``apikey``, ``customer`` or ``system``; ``key`` is
    what the audit trail stores (``user:12``); ``permissions`` are codes such
    as ``catalog.manage``. ``is_platform_admin`` marks installation superusers,
    who may act in every shop.
    """

    kind: str
    key: str
    label: str = ""
    shop_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    is_platform_admin: bool = False
    is_shop_owner: bool = False

    def has_perm(self, permission: str) -> bool:
        return self.is_platform_admin or permission in self.permissions

    def has_perms(self, permissions: Iterable[str]) -> bool:
        return all(self.has_perm(p) for p in permissions)

    def require(self, permission: str) -> None:
        """Raise :class:`PermissionDenied` unless the actor holds ``permission``."""
        if not self.has_perm(permission):
            raise PermissionDenied(
                f"This action needs the '{permission}' permission.",
                code="permission_denied",
            )

    def __str__(self) -> str:
        return self.label or self.key


SYSTEM_ACTOR = Actor(kind="system", key="system", label="system", is_platform_admin=True)
