"""Admin API DTOs for staff members, roles and (read-only) customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from merchantry.accounts.customer_schemas import AddressOut
from merchantry.tenancy.permissions import BUILTIN_ROLES, Perm
from merchantry.tenancy.schemas import InputSchema, ObjectOut, Text

__all__ = [
    "CustomerDetailOut",
    "CustomerFilters",
    "CustomerOut",
    "RoleCreate",
    "RoleOut",
    "RolePatch",
    "StaffCreate",
    "StaffCreated",
    "StaffOut",
    "StaffPatch",
]

EMAIL_MAX_LENGTH = 254
RoleKey = Text(50, min_length=1, pattern=r"^[a-z0-9_-]+$")
Email = Text(EMAIL_MAX_LENGTH, min_length=3)
FullName = Text(150)
RoleName = Text(80, min_length=1)
SearchText = Text(EMAIL_MAX_LENGTH)
_ROLE_HELP = (
    "A role key: one of the built-in roles ("
    + ", ".join(f"`{key}`" for key in BUILTIN_ROLES)
    + ") or a custom role of the shop."
)


# -- staff -----------------------------------------------------------------------


class StaffOut(ObjectOut):
    """A staff member: a person's membership of the shop, with its role."""

    user_id: str
    email: str
    full_name: str
    role: str = Field(..., description="The role's key.")
    role_name: str
    created_at: datetime

    @staticmethod
    def resolve_user_id(obj: Any) -> str:
        return str(obj.user_id)

    @staticmethod
    def resolve_email(obj: Any) -> str:
        return obj.user.email

    @staticmethod
    def resolve_full_name(obj: Any) -> str:
        return obj.user.full_name

    @staticmethod
    def resolve_role(obj: Any) -> str:
        return obj.role.key

    @staticmethod
    def resolve_role_name(obj: Any) -> str:
        return obj.role.name


class StaffCreated(StaffOut):
    temporary_password: str | None = Field(
        None,
        description=(
            "Present only when this created the person's account: a one-time password "
            "to hand over. It is not shown again."
        ),
    )


class StaffCreate(InputSchema):
    email: Email
    role: RoleKey = Field(..., description=_ROLE_HELP)
    full_name: FullName = ""


class StaffPatch(InputSchema):
    role: RoleKey = Field(..., description=_ROLE_HELP)


# -- roles -----------------------------------------------------------------------


class RoleOut(ObjectOut):
    key: str
    name: str
    is_builtin: bool
    permissions: list[str] = Field(
        ..., description="Effective permissions (a `manage` implies its `view`)."
    )

    @staticmethod
    def resolve_permissions(obj: Any) -> list[str]:
        return sorted(obj.effective_permissions())


class RoleCreate(InputSchema):
    key: RoleKey
    name: RoleName
    permissions: list[Perm] = Field(..., max_length=len(Perm))


class RolePatch(InputSchema):
    """Fields to change; absent fields stay as they are."""

    name: RoleName = Field(None)
    permissions: list[Perm] = Field(None, max_length=len(Perm))


# -- customers (read-only) -------------------------------------------------------


class CustomerOut(ObjectOut):
    email: str
    full_name: str
    phone: str
    is_registered: bool
    is_active: bool
    accepts_marketing: bool
    email_verified_at: datetime | None
    last_login: datetime | None
    created_at: datetime


class CustomerDetailOut(CustomerOut):
    addresses: list[AddressOut]

    @staticmethod
    def resolve_addresses(obj: Any) -> list[Any]:
        return list(obj.addresses.all())


class CustomerFilters(Schema):
    q: SearchText | None = Field(None, description="Only customers whose email contains this text.")
