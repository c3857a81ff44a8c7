"""
A customer's saved addresses: listed, added, changed and removed by the
customer, never by anyone of another shop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from merchantry.accounts.models import Customer, CustomerAddress
from merchantry.core.errors import (
    Conflict,
    NotFound,
    invalid_field,
    refuse_nulls,
    validation_failed_from_django,
)
from merchantry.core.ids import pk_or_none

__all__ = [
    "MAX_ADDRESSES",
    "address_create",
    "address_delete",
    "address_get",
    "address_list",
    "address_update",
]

MAX_ADDRESSES = 50


_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "line1",
    "line2",
    "city",
    "postal_code",
    "country",
    "subdivision",
    "phone",
    "is_default_shipping",
    "is_default_billing",
)


def address_list(*, customer: Customer) -> list[CustomerAddress]:
    return list(CustomerAddress.objects.for_shop(customer.shop_id).filter(customer=customer))


def address_get(*, customer: Customer, address_id: str) -> CustomerAddress:
    """Return the customer's address ``address_id``; anyone else's is not found."""
    pk = pk_or_none(address_id)
    address = (
        CustomerAddress.objects.for_shop(customer.shop_id).filter(customer=customer, pk=pk).first()
        if pk is not None
        else None
    )
    if address is None:
        raise NotFound("No such address.")
    return address


def _lock_customer(customer: Customer) -> None:
    # One writer at a time per customer, so moving a default flag from one
    # address to another never meets the one-default unique index half-way.
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()


def _save_address(address: CustomerAddress) -> CustomerAddress:
    if address.subdivision and not address.subdivision.startswith(f"{address.country}-"):
        raise invalid_field(
            "subdivision",
            f"The subdivision must be one of {address.country}'s (e.g. {address.country}-XX).",
            "subdivision_country",
        )
    try:
        address.full_clean(exclude=["shop", "customer"], validate_constraints=False)
    except DjangoValidationError as exc:
        raise validation_failed_from_django(exc) from None
    others = CustomerAddress.objects.filter(customer_id=address.customer_id).exclude(pk=address.pk)
    if address.is_default_shipping:
        others.filter(is_default_shipping=True).update(is_default_shipping=False)
    if address.is_default_billing:
        others.filter(is_default_billing=True).update(is_default_billing=False)
    address.save()
    return address


def address_create(*, customer: Customer, data: Mapping[str, Any]) -> CustomerAddress:
    """Save a new address for the customer; a default flag moves to it."""
    with transaction.atomic():
        _lock_customer(customer)
        if CustomerAddress.objects.filter(customer=customer).count() >= MAX_ADDRESSES:
            raise Conflict(
                f"A customer can keep at most {MAX_ADDRESSES} addresses.", code="address_limit"
            )
        address = CustomerAddress(
            shop_id=customer.shop_id,
            customer=customer,
            **{name: data[name] for name in _ADDRESS_FIELDS if name in data},
        )
        return _save_address(address)


def address_update(
    *, customer: Customer, address_id: str, changes: Mapping[str, Any]
) -> CustomerAddress:
    """Change the fields of the customer's address given in ``changes``."""
    refuse_nulls(changes, _ADDRESS_FIELDS)
    with transaction.atomic():
        _lock_customer(customer)
        address = address_get(customer=customer, address_id=address_id)
        for name in _ADDRESS_FIELDS:
            if name in changes:
                setattr(address, name, changes[name])
        return _save_address(address)


def address_delete(*, customer: Customer, address_id: str) -> None:
    with transaction.atomic():
        address_get(customer=customer, address_id=address_id).delete()
