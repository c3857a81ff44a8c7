"""
Collections: merchandising groups of a shop's products.

A **manual** collection lists products picked by hand, in the order given
(``CollectionProduct.position``). An **automated** collection holds whatever
matches its ``rules`` when it is read, so a new product joins it without
anyone touching the collection. A rule is ``{"field", "op", "value"}``:

============== ============ ===============================================
field          op           matches products whose...
============== ============ ===============================================
tag            equals       tags include the value (case-insensitive)
product_type   equals       type is the value (case-insensitive)
vendor         equals       vendor is the value (case-insensitive)
price          gte, lte     lowest variant price on the channel
                            (``ProductChannelListing.price_min``) is at
                            least / at most the value, a decimal string
============== ============ ===============================================

With ``rules_match_all`` a product must match every rule, otherwise any one.
Prices compare as plain decimals, whatever the channel's currency; without a
channel, a listing on any channel can satisfy a price rule.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import reduce
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery

from merchantry.catalog.handles import unique_handle
from merchantry.catalog.models import (
    Collection,
    CollectionKind,
    CollectionProduct,
    Product,
    ProductChannelListing,
)
from merchantry.catalog.services import sanitize_description
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    invalid_field,
    refuse_nulls,
    validation_failed_from_django,
)
from merchantry.core.events import record_event
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "COLLECTION_FIELDS",
    "MAX_ADD",
    "MAX_MEMBERS",
    "MAX_RULES",
    "RULE_OPS",
    "clean_rules",
    "collection_add_products",
    "collection_by_handle",
    "collection_create",
    "collection_delete",
    "collection_get",
    "collection_position",
    "collection_product_filter",
    "collection_products",
    "collection_remove_product",
    "collection_reorder",
    "collection_set_products",
    "collection_update",
]

COLLECTION_FIELDS = (
    "title", "handle", "description", "rules", "rules_match_all", "is_published",
    "seo_title", "seo_description",
)  # fmt: skip
RULE_OPS: dict[str, tuple[str, ...]] = {
    "tag": ("equals",),
    "product_type": ("equals",),
    "vendor": ("equals",),
    "price": ("gte", "lte"),
}
_TEXT_LIMITS = {"tag": 60, "product_type": 120, "vendor": 120}
MAX_RULES = 20
MAX_MEMBERS = 5000
MAX_ADD = 250
HANDLE_MAX_LENGTH = 255
_MATCHES_NOTHING = Q(pk__in=[])


# -- rules ----------------------------------------------------------------------------


def _price(value: Any, loc: tuple[str | int, ...]) -> str:
    # As catalog.services._amount, without a currency: the rule applies to
    # every channel's prices, so it allows the most places any currency has.
    if not isinstance(value, str | int | Decimal) or isinstance(value, bool):
        raise invalid_field(
            loc, 'Give the price as a decimal string, e.g. "19.99".', "not_a_number"
        )
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise invalid_field(loc, "Not a number.", "not_a_number") from None
    if not amount.is_finite():
        raise invalid_field(loc, "Not a number.", "not_a_number")
    if amount < 0:
        raise invalid_field(loc, "Must not be negative.", "negative")
    if amount >= Decimal(10) ** 11:
        raise invalid_field(loc, "Too large.", "too_large")
    if -amount.as_tuple().exponent > 3:  # type: ignore[operator]
        raise invalid_field(loc, "At most 3 decimal places.", "too_many_decimals")
    return format(amount, "f")


def _clean_rule(index: int, rule: Any) -> dict[str, str]:
    loc: tuple[str | int, ...] = ("rules", index)
    if not isinstance(rule, Mapping):
        raise invalid_field(loc, 'A rule is an object: {"field", "op", "value"}.', "not_an_object")
    unknown = sorted(set(rule) - {"field", "op", "value"})
    if unknown:
        raise invalid_field(loc, f"Unknown keys: {', '.join(map(str, unknown))}.", "unknown_keys")
    field_name, op, value = rule.get("field"), rule.get("op"), rule.get("value")
    if field_name not in RULE_OPS:
        raise invalid_field((*loc, "field"), f"One of: {', '.join(RULE_OPS)}.", "unknown_field")
    if op not in RULE_OPS[field_name]:
        raise invalid_field(
            (*loc, "op"),
            f"A {field_name} rule's op is one of: {', '.join(RULE_OPS[field_name])}.",
            "unknown_op",
        )
    if field_name == "price":
        return {"field": field_name, "op": op, "value": _price(value, (*loc, "value"))}
    text = value.strip() if isinstance(value, str) else ""
    limit = _TEXT_LIMITS[field_name]
    if not text or len(text) > limit or "\x00" in text or (field_name == "tag" and "|" in text):
        raise invalid_field(
            (*loc, "value"),
            f"Give a text of 1 to {limit} characters"
            + (", without '|'." if field_name == "tag" else "."),
        )
    return {"field": field_name, "op": op, "value": text}


def clean_rules(rules: Any) -> list[dict[str, str]]:
    """
    Return ``rules`` checked and normalised (values stripped, prices as plain
    decimal strings), or raise :class:`ValidationFailed` listing every bad
    part at its path, e.g. ``("rules", 0, "op")``.
    """
    if not isinstance(rules, list | tuple):
        raise invalid_field("rules", "Give a list of rules.", "not_a_list")
    if len(rules) > MAX_RULES:
        raise invalid_field("rules", f"At most {MAX_RULES} rules.", "too_many")
    cleaned, errors = [], []
    for index, rule in enumerate(rules):
        try:
            cleaned.append(_clean_rule(index, rule))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


def _rule_q(rule: Mapping[str, Any], channel: Channel | None) -> Q:
    field_name, op, value = rule.get("field"), rule.get("op"), rule.get("value")
    if field_name == "tag" and isinstance(value, str):
        return Q(tags_index__contains=f"|{value.strip().lower()}|")
    if field_name in ("product_type", "vendor") and isinstance(value, str):
        return Q(**{f"{field_name}__iexact": value.strip()})
    if field_name == "price" and op in ("gte", "lte"):
        try:
            amount = Decimal(str(value))
        except (InvalidOperation, ValueError):
            return _MATCHES_NOTHING
        if not amount.is_finite():
            return _MATCHES_NOTHING
        listings = ProductChannelListing.objects.filter(**{f"price_min__{op}": amount})
        if channel is not None:
            listings = listings.filter(channel_id=channel.pk)
        return Q(pk__in=listings.values("product_id"))
    # Rules are checked on the way in; one that is not understood matches nothing.
    return _MATCHES_NOTHING


# -- reads ----------------------------------------------------------------------------


def collection_product_filter(collection: Collection, channel: Channel | None = None) -> Q:
    """
    Return a ``Q`` over :class:`Product`: the products in ``collection``.

    A manual collection's members (one subquery); an automated collection's
    rules, AND-ed or OR-ed as ``rules_match_all`` says (a subquery per price
    rule, plain column tests otherwise). Price rules read ``channel``'s
    listings, or any channel's when it is None. Runs no query itself; an
    automated collection without rules matches nothing. The ``Q`` keeps to
    the collection's shop; combine it with the list's own scope, e.g.
    ``Product.objects.visible_in(channel).filter(q)``, and order a manual
    collection with :func:`collection_position`.
    """
    shop = Q(shop_id=collection.shop_id)
    if collection.kind == CollectionKind.MANUAL:
        members = CollectionProduct.objects.filter(collection_id=collection.pk)
        return shop & Q(pk__in=members.values("product_id"))
    terms = [_rule_q(rule, channel) for rule in collection.rules or []]
    if not terms:
        return _MATCHES_NOTHING
    return shop & reduce(operator.and_ if collection.rules_match_all else operator.or_, terms)


def collection_position(collection: Collection) -> Subquery:
    """
    Return an expression for ``Product`` querysets: the product's position in
    the manual ``collection`` (null when not a member), for
    ``.annotate(position=...).order_by("position", "pk")``.
    """
    return Subquery(
        CollectionProduct.objects.filter(collection_id=collection.pk, product_id=OuterRef("pk"))
        .order_by()
        .values("position")[:1]
    )


def collection_products(
    collection: Collection, channel: Channel | None = None
) -> QuerySet[Product]:
    """
    Return the collection's products: a manual one's in its order (annotated
    ``collection_position``), an automated one's by title.
    """
    products = Product.objects.filter(collection_product_filter(collection, channel))
    if collection.kind == CollectionKind.MANUAL:
        return products.annotate(collection_position=collection_position(collection)).order_by(
            "collection_position", "pk"
        )
    return products.order_by("title", "pk")


def collection_get(*, shop: Shop, collection_id: int, lock: bool = False) -> Collection:
    queryset = Collection.objects.for_shop(shop).filter(pk=collection_id)
    collection = (queryset.select_for_update() if lock else queryset).first()
    if collection is None:
        raise NotFound("No such collection.")
    return collection


def collection_by_handle(shop: Shop, handle: str, *, published_only: bool = False) -> Collection:
    """Return the shop's collection with ``handle`` (a published one if told), or 404."""
    collections = Collection.objects.for_shop(shop).filter(handle=handle)
    if published_only:
        collections = collections.filter(is_published=True)
    collection = collections.first()
    if collection is None:
        raise NotFound("No such collection.")
    return collection


# -- changes --------------------------------------------------------------------------


def _changed(collection: Collection, action: str) -> None:
    record_event(
        shop_id=collection.shop_id,
        type="collection.changed",
        payload={
            "collection_id": str(collection.pk),
            "handle": collection.handle,
            "action": action,
        },
    )


def _apply(collection: Collection, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        if name not in COLLECTION_FIELDS:
            raise TypeError(f"unknown collection field {name!r}")
        setattr(collection, name, value)
    if "title" in changes:
        collection.title = (collection.title or "").strip()
    if "description" in changes:
        collection.description = sanitize_description(collection.description or "")
    if "rules" in changes:
        collection.rules = clean_rules(collection.rules)
    if collection.kind == CollectionKind.MANUAL and collection.rules:
        raise invalid_field("rules", "Only automated collections have rules.", "not_allowed")
    if collection.kind == CollectionKind.AUTOMATED and not collection.rules:
        raise invalid_field("rules", "An automated collection needs a rule.", "required")


def _save(collection: Collection) -> None:
    try:
        collection.full_clean(exclude=["shop"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise validation_failed_from_django(exc) from None
    others = Collection.objects.for_shop(collection.shop_id).exclude(pk=collection.pk)
    if others.filter(handle=collection.handle).exists():
        raise invalid_field("handle", "This value is already in use.", "unique")
    try:
        with transaction.atomic():
            collection.save()
    except IntegrityError:
        # Taken in the instant since the check: the constraint has the last word.
        raise invalid_field("handle", "This value is already in use.", "unique") from None


def collection_create(
    *,
    actor: Actor,
    shop: Shop,
    title: str,
    handle: str | None = None,
    kind: str = CollectionKind.MANUAL,
    **fields: Any,
) -> Collection:
    """Create a collection; the handle is made from the title unless given."""
    actor.require(Perm.CATALOG_MANAGE)
    if kind not in CollectionKind.values:
        raise invalid_field("kind", f"One of: {', '.join(CollectionKind.values)}.", "invalid")
    with transaction.atomic():
        # Locked so two collections made at once cannot take the same handle.
        Shop.objects.select_for_update().filter(pk=shop.pk).values_list("pk").first()
        collection = Collection(shop=shop, kind=kind)
        _apply(collection, {"title": title, **fields})
        collection.handle = handle or unique_handle(
            Collection.objects.for_shop(shop),
            collection.title,
            fallback="collection",
            max_length=HANDLE_MAX_LENGTH,
        )
        _save(collection)
        audit.record(
            actor,
            "collection.create",
            collection,
            {"handle": collection.handle, "kind": kind},
            shop_id=shop.pk,
        )
        _changed(collection, "created")
    return collection


def collection_update(
    *, actor: Actor, shop: Shop, collection_id: int, changes: Mapping[str, Any]
) -> Collection:
    """Change a collection; its kind (manual or automated) is fixed at creation."""
    actor.require(Perm.CATALOG_MANAGE)
    refuse_nulls(changes, COLLECTION_FIELDS)
    with transaction.atomic():
        collection = collection_get(shop=shop, collection_id=collection_id, lock=True)
        kind = changes.get("kind", collection.kind)
        if kind != collection.kind:
            raise invalid_field("kind", "A collection's kind cannot change.", "frozen")
        _apply(collection, {k: v for k, v in changes.items() if k != "kind"})
        _save(collection)
        audit.record(
            actor, "collection.update", collection, {"changed": sorted(changes)}, shop_id=shop.pk
        )
        _changed(collection, "updated")
    return collection


def collection_delete(*, actor: Actor, shop: Shop, collection_id: int) -> None:
    """Delete a collection; its products stay in the catalog."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        collection = collection_get(shop=shop, collection_id=collection_id, lock=True)
        audit.record(
            actor, "collection.delete", collection, {"handle": collection.handle}, shop_id=shop.pk
        )
        _changed(collection, "deleted")
        collection.delete()


def _manual(shop: Shop, collection_id: int) -> Collection:
    collection = collection_get(shop=shop, collection_id=collection_id, lock=True)
    if collection.kind != CollectionKind.MANUAL:
        raise Conflict("An automated collection's products come from its rules.")
    return collection


def _check_products(shop: Shop, product_ids: Sequence[int]) -> None:
    found = set(
        Product.objects.for_shop(shop).filter(pk__in=set(product_ids)).values_list("pk", flat=True)
    )
    errors = [
        FieldError(("product_ids", index), "No such product.", "not_found")
        for index, pk in enumerate(product_ids)
        if pk not in found
    ]
    if errors:
        raise ValidationFailed(errors=errors)


def _members(collection: Collection) -> list[int]:
    return list(
        CollectionProduct.objects.filter(collection=collection)
        .order_by("position", "pk")
        .values_list("product_id", flat=True)
    )


def _record_members(actor: Actor, collection: Collection, changes: dict[str, Any]) -> None:
    audit.record(actor, "collection.products", collection, changes, shop_id=collection.shop_id)
    # A shop's catalog pages and caches go stale with the membership.
    _changed(collection, "products")


def collection_add_products(
    *, actor: Actor, shop: Shop, collection_id: int, product_ids: Sequence[int]
) -> list[int]:
    """
    Append products to a manual collection, in the order given; products
    already in it keep their place. Return the ids actually added.
    """
    actor.require(Perm.CATALOG_MANAGE)
    if len(product_ids) > MAX_ADD:
        raise invalid_field("product_ids", f"At most {MAX_ADD} at a time.", "too_many")
    with transaction.atomic():
        collection = _manual(shop, collection_id)
        _check_products(shop, product_ids)
        current = set(_members(collection))
        new = [pk for pk in dict.fromkeys(product_ids) if pk not in current]
        if len(current) + len(new) > MAX_MEMBERS:
            raise invalid_field(
                "product_ids", f"A collection holds at most {MAX_MEMBERS} products.", "too_many"
            )
        last = CollectionProduct.objects.filter(collection=collection).aggregate(m=Max("position"))
        start = 0 if last["m"] is None else last["m"] + 1
        CollectionProduct.objects.bulk_create(
            CollectionProduct(collection=collection, product_id=pk, position=start + offset)
            for offset, pk in enumerate(new)
        )
        if new:
            _record_members(actor, collection, {"added": new})
    return new


def collection_remove_product(
    *, actor: Actor, shop: Shop, collection_id: int, product_id: int
) -> None:
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        collection = _manual(shop, collection_id)
        deleted, _ = CollectionProduct.objects.filter(
            collection=collection, product_id=product_id
        ).delete()
        if not deleted:
            raise NotFound("No such product in this collection.")
        _record_members(actor, collection, {"removed": [product_id]})


def collection_reorder(
    *, actor: Actor, shop: Shop, collection_id: int, product_ids: Sequence[int]
) -> None:
    """Put a manual collection's products in the given order: every one of them, once."""
    actor.require(Perm.CATALOG_MANAGE)
    with transaction.atomic():
        collection = _manual(shop, collection_id)
        entries = {e.product_id: e for e in CollectionProduct.objects.filter(collection=collection)}
        errors = [
            FieldError(("product_ids", index), "Not a product of this collection.", "not_found")
            for index, pk in enumerate(product_ids)
            if pk not in entries
        ]
        if errors:
            raise ValidationFailed(errors=errors)
        if len(product_ids) != len(entries) or set(product_ids) != set(entries):
            raise invalid_field(
                "product_ids",
                f"Give each of the collection's {len(entries)} products exactly once.",
                "incomplete",
            )
        _renumber(entries, {pk: index for index, pk in enumerate(product_ids)})
        _record_members(actor, collection, {"order": list(product_ids)})


def _renumber(entries: Mapping[int, CollectionProduct], positions: Mapping[int, int]) -> None:
    """Give each entry its new position, writing only those that change."""
    changed = []
    for pk, entry in entries.items():
        if entry.position != positions[pk]:
            entry.position = positions[pk]
            changed.append(entry)
    CollectionProduct.objects.bulk_update(changed, ["position"])


def collection_set_products(
    *, actor: Actor, shop: Shop, collection_id: int, product_ids: Sequence[int]
) -> None:
    """Make a manual collection hold exactly ``product_ids``, in that order."""
    actor.require(Perm.CATALOG_MANAGE)
    ids = list(dict.fromkeys(product_ids))
    if len(ids) > MAX_MEMBERS:
        raise invalid_field(
            "product_ids", f"A collection holds at most {MAX_MEMBERS} products.", "too_many"
        )
    with transaction.atomic():
        collection = _manual(shop, collection_id)
        _check_products(shop, ids)
        before = _members(collection)
        if before == ids:
            return
        kept = set(ids)
        removed = [pk for pk in before if pk not in kept]
        CollectionProduct.objects.filter(collection=collection, product_id__in=removed).delete()
        entries = CollectionProduct.objects.filter(collection=collection)
        existing = {e.product_id: e for e in entries}
        added = [pk for pk in ids if pk not in existing]
        positions = {pk: index for index, pk in enumerate(ids)}
        CollectionProduct.objects.bulk_create(
            CollectionProduct(collection=collection, product_id=pk, position=positions[pk])
            for pk in added
        )
        _renumber(existing, positions)
        _record_members(actor, collection, {"added": added, "removed": removed, "order": ids})
