"""
Typed custom attributes: the shop defines them, products carry their values.

An ``Attribute`` (Material: choice of Linen/Wool; Waterproof: yes/no; Weight
class: number) is defined once per shop; a product stores its values in
``Product.attributes`` by slug, checked here against the definitions:

========  ====================================  =====================
type      accepted from the API                 stored as
========  ====================================  =====================
text      a string, at most 500 characters      the string
number    an integer or a decimal string        a decimal string ("12.5")
boolean   true or false                         the boolean
choice    one of the attribute's choices        the string
========  ====================================  =====================

Sending ``null`` for a slug removes that value. Numbers are kept as decimal
strings so that they round-trip exactly (JSON numbers are floats).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from merchantry.catalog.models import Attribute, AttributeType, Product
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, NotFound, invalid_field
from merchantry.core.events import record_event
from merchantry.tenancy.models import Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "MAX_ATTRIBUTES",
    "attribute_create",
    "attribute_delete",
    "attribute_update",
    "clean_attribute_values",
]

MAX_ATTRIBUTES = 100
MAX_CHOICES = 200
MAX_TEXT = 500


def _clean_choices(kind: str, choices: Any) -> list[str]:
    if kind != AttributeType.CHOICE:
        if choices:
            raise invalid_field("choices", "Only a choice attribute has choices.", "invalid")
        return []
    if not isinstance(choices, list) or not choices:
        raise invalid_field("choices", "A choice attribute needs its choices.", "required")
    cleaned = list(dict.fromkeys(str(c).strip() for c in choices if str(c).strip()))
    if len(cleaned) > MAX_CHOICES or any(len(c) > 120 for c in cleaned):
        raise invalid_field("choices", f"At most {MAX_CHOICES} choices of 120 characters.")
    return cleaned


def _event(shop: Shop, attribute: Attribute) -> None:
    record_event(
        shop_id=shop.pk,
        type="attribute.changed",
        payload={"attribute_id": str(attribute.pk), "slug": attribute.slug},
    )


def attribute_create(
    *,
    actor: Actor,
    shop: Shop,
    name: str,
    type: str = AttributeType.TEXT,
    slug: str | None = None,
    choices: list[str] | None = None,
    is_facet: bool = False,
    position: int = 0,
) -> Attribute:
    actor.require(Perm.CATALOG_MANAGE)
    if type not in AttributeType.values:
        raise invalid_field("type", f"One of {', '.join(AttributeType.values)}.", "invalid")
    slug = slugify(slug or name)[:60]
    if not slug:
        raise invalid_field("slug", "Give a slug of letters, digits or dashes.", "invalid")
    attribute = Attribute(
        shop=shop,
        name=name.strip(),
        slug=slug,
        type=type,
        choices=_clean_choices(type, choices),
        is_facet=is_facet,
        position=position,
    )
    with transaction.atomic():
        if Attribute.objects.for_shop(shop).count() >= MAX_ATTRIBUTES:
            raise Conflict(f"A shop has at most {MAX_ATTRIBUTES} attributes.")
        try:
            with transaction.atomic():
                attribute.save()
        except IntegrityError:
            raise invalid_field("slug", "This value is already in use.", "unique") from None
        audit.record(actor, "attribute.create", attribute, {"slug": slug}, shop_id=shop.pk)
        _event(shop, attribute)
    return attribute


def _get(shop: Shop, attribute_id: int, *, lock: bool = False) -> Attribute:
    rows = Attribute.objects.for_shop(shop)
    if lock:
        rows = rows.select_for_update()
    attribute = rows.filter(pk=attribute_id).first()
    if attribute is None:
        raise NotFound("No such attribute.")
    return attribute


def attribute_update(
    *, actor: Actor, shop: Shop, attribute_id: int, changes: Mapping[str, Any]
) -> Attribute:
    """Rename, reorder, (un)mark as a facet, or change the choices of an attribute."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        attribute = _get(shop, attribute_id, lock=True)
        for name in ("name", "is_facet", "position"):
            if name in changes:
                setattr(attribute, name, changes[name])
        if "choices" in changes:
            choices = _clean_choices(attribute.type, changes["choices"])
            removed = set(attribute.choices) - set(choices)
            in_use = (
                Product.objects.for_shop(shop)
                .filter(**{f"attributes__{attribute.slug}__in": sorted(removed)})
                .exists()
                if removed
                else False
            )
            if in_use:
                raise invalid_field(
                    "choices", "A removed choice is still used by products.", "in_use"
                )
            attribute.choices = choices
        attribute.save()
        audit.record(actor, "attribute.update", attribute, dict(changes), shop_id=shop.pk)
        _event(shop, attribute)
    return attribute


def attribute_delete(*, actor: Actor, shop: Shop, attribute_id: int) -> None:
    """Delete an attribute and remove its value from every product of the shop."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        attribute = _get(shop, attribute_id, lock=True)
        products = list(Product.objects.for_shop(shop).filter(attributes__has_key=attribute.slug))
        for product in products:
            product.attributes.pop(attribute.slug, None)
        Product.objects.bulk_update(products, ["attributes"], batch_size=500)
        audit.record(
            actor, "attribute.delete", attribute, {"slug": attribute.slug}, shop_id=shop.pk
        )
        _event(shop, attribute)
        attribute.delete()


def _value(attribute: Attribute, value: Any) -> Any:
    field = ("attributes", attribute.slug)
    if attribute.type == AttributeType.TEXT:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise invalid_field(field, f"Text of at most {MAX_TEXT} characters.", "invalid")
        return value.strip()
    if attribute.type == AttributeType.BOOLEAN:
        if not isinstance(value, bool):
            raise invalid_field(field, "true or false.", "invalid")
        return value
    if attribute.type == AttributeType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise invalid_field(field, 'An integer or a decimal string, e.g. "12.5".', "invalid")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise invalid_field(field, "Not a number.", "not_a_number") from None
        if not number.is_finite() or abs(number) >= Decimal(10) ** 15:
            raise invalid_field(field, "Not a number.", "not_a_number")
        text = format(number.normalize(), "f")
        return text
    if not isinstance(value, str) or value not in attribute.choices:
        raise invalid_field(field, f"One of: {', '.join(attribute.choices)}.", "invalid_choice")
    return value


def clean_attribute_values(shop: Shop, current: Mapping[str, Any], changes: Any) -> dict[str, Any]:
    """
    Return ``current`` with ``changes`` applied, each value checked against
    the shop's attribute definitions; raise a 422 naming the first bad one.
    """
    if not isinstance(changes, Mapping):
        raise invalid_field("attributes", "An object of attribute slugs to values.", "invalid")
    definitions = {a.slug: a for a in Attribute.objects.for_shop(shop)}
    result = dict(current)
    for slug, value in changes.items():
        attribute = definitions.get(slug)
        if attribute is None:
            raise invalid_field(("attributes", slug), "No such attribute.", "not_found")
        if value is None:
            result.pop(slug, None)
        else:
            result[slug] = _value(attribute, value)
    return result
