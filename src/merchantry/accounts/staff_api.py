"""Admin API for staff memberships and roles, and read-only access to customers."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from merchantry.accounts import services
from merchantry.accounts.models import Customer, Membership, Role
from merchantry.accounts.staff_schemas import (
    CustomerDetailOut,
    CustomerFilters,
    CustomerOut,
    RoleCreate,
    RoleOut,
    RolePatch,
    StaffCreate,
    StaffCreated,
    StaffOut,
    StaffPatch,
)
from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.tenancy.context import request_context
from merchantry.tenancy.schemas import WithExtra, parse_id

__all__ = ["admin_router"]

admin_router = Router()


# -- staff -----------------------------------------------------------------------


@admin_router.get("/staff", response=Page[StaffOut], tags=["staff"], summary="Staff members")
def staff_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[Membership]:
    ctx = request_context(request)
    return paginate(services.membership_list(actor=ctx.actor, shop=ctx.shop), page)


@admin_router.post(
    "/staff",
    response={201: StaffCreated},
    exclude_none=True,
    tags=["staff"],
    summary="Add a staff member (creating their account if new)",
)
def staff_create(request: HttpRequest, payload: StaffCreate) -> Status[WithExtra]:
    ctx = request_context(request)
    invite = services.membership_create(
        actor=ctx.actor,
        shop=ctx.shop,
        email=payload.email,
        role=payload.role,
        full_name=payload.full_name,
    )
    return Status(201, WithExtra(invite.membership, temporary_password=invite.password))


@admin_router.get(
    "/staff/{membership_id}", response=StaffOut, tags=["staff"], summary="One staff member"
)
def staff_get(request: HttpRequest, membership_id: str) -> Membership:
    ctx = request_context(request)
    return services.membership_detail(
        actor=ctx.actor, shop=ctx.shop, membership_id=parse_id(membership_id, what="staff member")
    )


@admin_router.patch(
    "/staff/{membership_id}",
    response=StaffOut,
    tags=["staff"],
    summary="Change a staff member's role",
)
def staff_patch(request: HttpRequest, membership_id: str, payload: StaffPatch) -> Membership:
    ctx = request_context(request)
    return services.membership_set_role(
        actor=ctx.actor,
        shop=ctx.shop,
        membership_id=parse_id(membership_id, what="staff member"),
        role=payload.role,
    )


@admin_router.delete(
    "/staff/{membership_id}",
    response={204: None},
    tags=["staff"],
    summary="Remove a staff member from the shop (their account stays)",
)
def staff_delete(request: HttpRequest, membership_id: str) -> Status[None]:
    ctx = request_context(request)
    services.membership_remove(
        actor=ctx.actor, shop=ctx.shop, membership_id=parse_id(membership_id, what="staff member")
    )
    return Status(204, None)


# -- roles -----------------------------------------------------------------------


@admin_router.get(
    "/roles", response=Page[RoleOut], tags=["roles"], summary="Built-in and custom roles"
)
def role_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[Role]:
    ctx = request_context(request)
    return paginate(services.role_list(actor=ctx.actor, shop=ctx.shop), page)


@admin_router.post(
    "/roles", response={201: RoleOut}, tags=["roles"], summary="Create a custom role"
)
def role_create(request: HttpRequest, payload: RoleCreate) -> Status[Role]:
    ctx = request_context(request)
    role = services.role_create(
        actor=ctx.actor,
        shop=ctx.shop,
        key=payload.key,
        name=payload.name,
        permissions=[str(code) for code in payload.permissions],
    )
    return Status(201, role)


@admin_router.patch(
    "/roles/{role_id}",
    response=RoleOut,
    tags=["roles"],
    summary="Rename a custom role or change its permissions (built-in roles: 409)",
)
def role_patch(request: HttpRequest, role_id: str, payload: RolePatch) -> Role:
    ctx = request_context(request)
    # Absent fields stay as they are; explicit nulls fail the schema (422).
    changes = payload.model_dump(exclude_unset=True)
    return services.role_update(
        actor=ctx.actor,
        shop=ctx.shop,
        role_id=parse_id(role_id, what="role"),
        name=changes.get("name"),
        permissions=[str(c) for c in changes["permissions"]] if "permissions" in changes else None,
    )


@admin_router.delete(
    "/roles/{role_id}",
    response={204: None},
    tags=["roles"],
    summary="Delete a custom role nobody holds (built-in roles: 409)",
)
def role_delete(request: HttpRequest, role_id: str) -> Status[None]:
    ctx = request_context(request)
    services.role_delete(actor=ctx.actor, shop=ctx.shop, role_id=parse_id(role_id, what="role"))
    return Status(204, None)


# -- customers -------------------------------------------------------------------


@admin_router.get("/customers", response=Page[CustomerOut], tags=["customers"], summary="Customers")
def customer_list(
    request: HttpRequest, page: Query[PageParams], filters: Query[CustomerFilters]
) -> CursorPage[Customer]:
    ctx = request_context(request)
    return paginate(services.customer_list(actor=ctx.actor, shop=ctx.shop, q=filters.q), page)


@admin_router.get(
    "/customers/{customer_id}",
    response=CustomerDetailOut,
    tags=["customers"],
    summary="One customer, with their addresses",
)
def customer_get(request: HttpRequest, customer_id: str) -> Customer:
    ctx = request_context(request)
    return services.customer_detail(
        actor=ctx.actor, shop=ctx.shop, customer_id=parse_id(customer_id, what="customer")
    )
