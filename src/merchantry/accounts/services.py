"""Operations on staff accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet

from merchantry.accounts.models import Customer, CustomerAddress, Membership, Role, User
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    validation_failed_from_django,
)
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import ALL as ALL_PERMISSIONS
from merchantry.tenancy.permissions import BUILTIN_ROLES, Perm, expand, validate_permissions

__all__ = [
    "EnsuredUser",
    "StaffInvite",
    "customer_detail",
    "customer_list",
    "membership_create",
    "membership_detail",
    "membership_get",
    "membership_list",
    "membership_remove",
    "membership_set_role",
    "role_create",
    "role_delete",
    "role_list",
    "role_update",
    "shops_for_user",
    "staff_actor",
    "superuser_ensure",
]

OWNER = "owner"


@dataclass(frozen=True, slots=True)
class EnsuredUser:
    user: User
    created: bool
    password: str | None
    """The generated password when the user was just created, else None."""


def superuser_ensure(*, email: str, full_name: str = "") -> EnsuredUser:
    """
    Return the superuser with ``email``, creating it with a random password.

    Idempotent: an existing account is returned untouched, and its password is
    never shown again (it was printed once, at creation).
    """
    with transaction.atomic():
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None:
            return EnsuredUser(user=existing, created=False, password=None)
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(email=email, password=password, full_name=full_name)
        audit.record(None, "user.create", user, {"email": email, "is_superuser": True})
    return EnsuredUser(user=user, created=True, password=password)


# -- staff, roles and memberships -------------------------------------------------


def staff_actor(user: User, shop: Shop) -> Actor | None:
    """
    Return the actor ``user`` is in ``shop``, or None when they have no access.

    Platform superusers act in every shop; anyone else needs an active
    membership, whose role decides the permissions.
    """
    if not user.is_active:
        return None
    if user.is_superuser:
        return Actor(
            kind="user",
            key=f"user:{user.pk}",
            label=user.email,
            shop_id=shop.pk,
            permissions=ALL_PERMISSIONS,
            is_platform_admin=True,
            is_shop_owner=True,
        )
    membership = Membership.objects.select_related("role").filter(user=user, shop=shop).first()
    if membership is None:
        return None
    return Actor(
        kind="user",
        key=f"user:{user.pk}",
        label=user.email,
        shop_id=shop.pk,
        permissions=membership.role.effective_permissions(),
        is_shop_owner=membership.role.is_builtin and membership.role.key == OWNER,
    )


def shops_for_user(user: User) -> list[Shop]:
    """The shops ``user`` may work in: all of them for superusers."""
    if user.is_superuser:
        return list(Shop.objects.order_by("name"))
    return list(Shop.objects.filter(memberships__user=user).order_by("name"))


def _role(shop: Shop, key: str) -> Role:
    role = Role.objects.available_to(shop).filter(key=key).order_by("-shop_id").first()
    if role is None and key in BUILTIN_ROLES:
        # Built-in roles exist in every installation (a migration creates
        # them); recreate one that was deleted rather than refuse to work.
        role, _ = Role.objects.get_or_create(
            shop=None, key=key, defaults={"name": BUILTIN_ROLES[key][0]}
        )
    if role is None:
        raise ValidationFailed(
            errors=[FieldError(("role",), f"No role {key!r} in this shop.", "choice")]
        )
    return role


def _check_owner_rule(actor: Actor, *roles: Role) -> None:
    # Admins hold every permission, but handing out or taking away ownership
    # is reserved to owners (and platform administrators).
    if any(r.is_builtin and r.key == OWNER for r in roles) and not (
        actor.is_shop_owner or actor.is_platform_admin
    ):
        raise PermissionDenied("Only an owner can grant or remove the owner role.")


@dataclass(frozen=True, slots=True)
class StaffInvite:
    membership: Membership
    user_created: bool
    password: str | None
    """A one-time password when the user account was created, else None."""


def membership_create(
    *, actor: Actor, shop: Shop, email: str, role: str, full_name: str = ""
) -> StaffInvite:
    """
    Give ``email`` a role in ``shop``, creating the staff account if needed.

    A new account gets a random one-time password, returned once for the
    caller to hand over; an existing account keeps its password.
    """
    actor.require(Perm.STAFF_MANAGE)
    role_obj = _role(shop, role)
    _check_owner_rule(actor, role_obj)
    email = User.objects.normalize_email((email or "").strip())
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed(
            errors=[FieldError(("email",), "Enter a valid email address.", "email")]
        ) from None
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        password = None
        created = user is None
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                email=email, password=password, full_name=full_name, is_staff=True
            )
        elif not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        if Membership.objects.filter(user=user, shop=shop).exists():
            raise Conflict(f"{email} already works in this shop.", code="already_member")
        membership = Membership.objects.create(user=user, shop=shop, role=role_obj)
        audit.record(
            actor,
            "membership.create",
            membership,
            {"email": email, "role": role_obj.key, "user_created": created},
            shop_id=shop.pk,
        )
    return StaffInvite(membership=membership, user_created=created, password=password)


def membership_get(*, shop: Shop, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("user", "role")
        .filter(shop=shop, pk=membership_id)
        .first()
    )
    if membership is None:
        raise NotFound("No such staff member.")
    return membership


def _owners_left(shop: Shop, *, excluding: int) -> int:
    return (
        Membership.objects.filter(shop=shop, role__shop__isnull=True, role__key=OWNER)
        .exclude(pk=excluding)
        .count()
    )


def membership_set_role(*, actor: Actor, shop: Shop, membership_id: int, role: str) -> Membership:
    actor.require(Perm.STAFF_MANAGE)
    with transaction.atomic():
        membership = membership_get(shop=shop, membership_id=membership_id)
        new_role = _role(shop, role)
        _check_owner_rule(actor, membership.role, new_role)
        was_owner = membership.role.is_builtin and membership.role.key == OWNER
        if was_owner and new_role.key != OWNER and not _owners_left(shop, excluding=membership.pk):
            raise Conflict("A shop keeps at least one owner.", code="last_owner")
        old = membership.role.key
        membership.role = new_role
        membership.save(update_fields=["role"])
        audit.record(
            actor,
            "membership.role_change",
            membership,
            {"email": membership.user.email, "role": {"from": old, "to": new_role.key}},
            shop_id=shop.pk,
        )
    return membership


def membership_remove(*, actor: Actor, shop: Shop, membership_id: int) -> None:
    actor.require(Perm.STAFF_MANAGE)
    with transaction.atomic():
        membership = membership_get(shop=shop, membership_id=membership_id)
        _check_owner_rule(actor, membership.role)
        is_owner = membership.role.is_builtin and membership.role.key == OWNER
        if is_owner and not _owners_left(shop, excluding=membership.pk):
            raise Conflict("A shop keeps at least one owner.", code="last_owner")
        audit.record(
            actor,
            "membership.remove",
            membership,
            {"email": membership.user.email, "role": membership.role.key},
            shop_id=shop.pk,
        )
        membership.delete()


def role_create(*, actor: Actor, shop: Shop, key: str, name: str, permissions: list[str]) -> Role:
    """Define a custom role for ``shop`` from permission codes."""
    actor.require(Perm.STAFF_MANAGE)
    unknown = validate_permissions(permissions)
    if unknown:
        raise ValidationFailed(
            errors=[FieldError(("permissions",), f"Unknown permissions: {', '.join(unknown)}.")]
        )
    if key in BUILTIN_ROLES:
        raise ValidationFailed(
            errors=[FieldError(("key",), "That key is a built-in role.", "unique")]
        )
    beyond = sorted(code for code in expand(permissions) if not actor.has_perm(code))
    if beyond:
        raise PermissionDenied(
            f"You cannot grant permissions you do not hold: {', '.join(beyond)}."
        )
    role = Role(shop=shop, key=key, name=name, permissions=sorted(set(permissions)))
    with transaction.atomic():
        try:
            role.full_clean()
        except DjangoValidationError as exc:
            raise validation_failed_from_django(exc) from None
        if Role.objects.filter(shop=shop, key=key).exists():
            raise ValidationFailed(
                errors=[FieldError(("key",), "A role with this key exists.", "unique")]
            )
        role.save()
        audit.record(
            actor,
            "role.create",
            role,
            {"key": key, "permissions": role.permissions},
            shop_id=shop.pk,
        )
    return role


def role_update(
    *,
    actor: Actor,
    shop: Shop,
    role_id: int,
    name: str | None = None,
    permissions: list[str] | None = None,
) -> Role:
    """
    Rename a custom role or change what it grants; audited.

    Its holders gain or lose permissions at once. Built-in roles are defined
    in code and cannot be changed (409); the same no-escalation rule as on
    creation applies to the new permissions.
    """
    actor.require(Perm.STAFF_MANAGE)
    with transaction.atomic():
        role = (
            Role.objects.select_for_update()
            .filter(Q(shop=shop) | Q(shop__isnull=True), pk=role_id)
            .first()
        )
        if role is None:
            raise NotFound("No such role.")
        if role.is_builtin:
            raise Conflict(
                "Built-in roles are defined by Merchantry and cannot change.", code="builtin_role"
            )
        before = {"name": role.name, "permissions": list(role.permissions)}
        if name is not None:
            role.name = name
        if permissions is not None:
            unknown = validate_permissions(permissions)
            if unknown:
                raise ValidationFailed(
                    errors=[
                        FieldError(
                            ("permissions",),
                            f"Unknown permissions: {', '.join(unknown)}.",
                            "choice",
                        )
                    ]
                )
            beyond = sorted(code for code in expand(permissions) if not actor.has_perm(code))
            if beyond:
                raise PermissionDenied(
                    f"You cannot grant permissions you do not hold: {', '.join(beyond)}."
                )
            role.permissions = sorted(set(permissions))
        try:
            role.full_clean()
        except DjangoValidationError as exc:
            raise validation_failed_from_django(exc) from None
        after = {"name": role.name, "permissions": list(role.permissions)}
        if after != before:
            role.save(update_fields=["name", "permissions"])
            audit.record(actor, "role.update", role, {"from": before, "to": after}, shop_id=shop.pk)
    return role


def role_delete(*, actor: Actor, shop: Shop, role_id: int) -> None:
    actor.require(Perm.STAFF_MANAGE)
    with transaction.atomic():
        role = Role.objects.filter(shop=shop, pk=role_id).first()
        if role is None:
            # Built-in roles are listed in every shop, so saying they exist
            # leaks nothing; saying why they stay is more use than a 404.
            if Role.objects.filter(shop__isnull=True, pk=role_id).exists():
                raise Conflict("Built-in roles cannot be deleted.", code="builtin_role")
            raise NotFound("No such role.")
        if role.memberships.exists():
            raise Conflict(
                "Staff still hold this role; give them another first.", code="role_in_use"
            )
        audit.record(actor, "role.delete", role, {"key": role.key}, shop_id=shop.pk)
        role.delete()


# -- reads for the Admin API -------------------------------------------------------
# Each checks the permission to see what it returns; querysets are scoped to
# the shop, load what their API schema reads, and are left for the caller to
# paginate.


def membership_list(*, actor: Actor, shop: Shop) -> QuerySet[Membership]:
    actor.require(Perm.STAFF_VIEW)
    return Membership.objects.select_related("user", "role").filter(shop=shop)


def membership_detail(*, actor: Actor, shop: Shop, membership_id: int) -> Membership:
    actor.require(Perm.STAFF_VIEW)
    return membership_get(shop=shop, membership_id=membership_id)


def role_list(*, actor: Actor, shop: Shop) -> QuerySet[Role]:
    """The built-in roles and ``shop``'s custom roles."""
    actor.require(Perm.STAFF_VIEW)
    return Role.objects.available_to(shop)


def customer_list(*, actor: Actor, shop: Shop, q: str | None = None) -> QuerySet[Customer]:
    """``shop``'s customers, those whose email contains ``q`` when given."""
    actor.require(Perm.CUSTOMERS_VIEW)
    customers = Customer.objects.for_shop(shop)
    if q and q.strip():
        customers = customers.filter(email__icontains=q.strip())
    return customers


def customer_detail(*, actor: Actor, shop: Shop, customer_id: int) -> Customer:
    """One of ``shop``'s customers, with their addresses loaded."""
    actor.require(Perm.CUSTOMERS_VIEW)
    customer = (
        Customer.objects.for_shop(shop)
        .prefetch_related(
            Prefetch("addresses", queryset=CustomerAddress.objects.for_shop(shop).order_by("id"))
        )
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound("No such customer.")
    return customer
