"""
Bulk upsert items, validated without the database: what each item asks for.

:func:`plan_item` checks one item against
:class:`~merchantry.catalog.schemas_io.ProductItem` and the catalog's rules
(options and variants agree, prices are valid amounts of the channel's
currency, tags and category paths are well-formed) and returns a
:class:`Plan`, or raises :class:`ValidationFailed` with every error found.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from merchantry.catalog.category_paths import parse_path
from merchantry.catalog.schemas_io import ProductItem
from merchantry.catalog.services import MAX_VARIANTS, _amount, _clean_tags, sanitize_description
from merchantry.core.errors import FieldError, ValidationFailed, invalid_field

__all__ = ["Plan", "VariantPlan", "duplicates", "plan_item"]

TAGS_INDEX_MAX_LENGTH = 2000
PRODUCT_FIELDS = (
    "title", "description", "product_type", "vendor", "tags", "status", "seo_title",
    "seo_description", "metadata_public", "metadata_private",
)  # fmt: skip
VARIANT_FIELDS = (
    "title", "barcode", "weight_grams", "length_mm", "width_mm", "height_mm",
    "track_inventory", "allow_backorder",
)  # fmt: skip
_NULLABLE = {"weight_grams", "length_mm", "width_mm", "height_mm"}

Loc = tuple[str | int, ...]


@dataclass(slots=True)
class VariantPlan:
    sku_given: bool
    sku: str | None
    option_values: dict[str, str]
    fields: dict[str, Any]
    price: Decimal | None
    compare_given: bool
    compare: Decimal | None


@dataclass(slots=True)
class Plan:
    index: int
    handle: str
    fields: dict[str, Any]
    categories: list[tuple[str, ...]] | None
    published: bool | None
    options: list[tuple[str, list[str]]] | None
    variants: list[VariantPlan] | None


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(tuple(error["loc"]), error["msg"], error["type"])
        for error in exc.errors(include_url=False)
    ]


def plan_item(index: int, raw: Any, currency: str | None) -> Plan:
    """Validate one item; raise :class:`ValidationFailed` with all its errors."""
    if not isinstance(raw, Mapping):
        raise invalid_field((), "An item is a JSON object.", "not_an_object")
    try:
        item = ProductItem.model_validate(dict(raw))
    except ValidationError as exc:
        raise ValidationFailed(errors=_pydantic_errors(exc)) from None
    given = item.model_fields_set
    errors: list[FieldError] = []
    fields = {
        name: getattr(item, name)
        for name in PRODUCT_FIELDS
        if name in given and getattr(item, name) is not None
    }
    if "description" in fields:
        fields["description"] = sanitize_description(fields["description"])
    if "tags" in fields:
        try:
            fields["tags"] = _clean_tags(fields["tags"])
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        else:
            fields["tags_index"] = _tags_index(fields["tags"])
            if len(fields["tags_index"]) > TAGS_INDEX_MAX_LENGTH:
                errors.append(FieldError(("tags",), "The tags are too long together.", "too_long"))
    categories = None
    if item.categories is not None:
        categories = []
        for position, text in enumerate(item.categories):
            try:
                names = parse_path(text, ("categories", position))
            except ValidationFailed as exc:
                errors.extend(exc.errors)
            else:
                if names not in categories:
                    categories.append(names)
    if item.published is not None and currency is None:
        errors.append(FieldError(("published",), "The shop has no channel.", "no_channel"))
    options, variants = None, None
    if item.variants is None:
        if item.options is not None:
            errors.append(
                FieldError(("options",), "Give the variants with the options.", "required")
            )
    else:
        options = _plan_options(item, errors)
        variants = [
            _plan_variant(position, variant, options, currency, errors)
            for position, variant in enumerate(item.variants)
        ]
        _check_variants(variants, errors)
    if errors:
        raise ValidationFailed(errors=errors)
    return Plan(index, item.handle, fields, categories, item.published, options, variants)


def _tags_index(tags: Sequence[str]) -> str:
    return "".join(f"|{t.lower()}" for t in tags) + "|" if tags else ""


def _plan_options(item: ProductItem, errors: list[FieldError]) -> list[tuple[str, list[str]]]:
    assert item.variants is not None
    if item.options is not None:
        options = [(o.name, list(o.values)) for o in item.options]
    else:
        # Derived: names and values in the order the variants first use them.
        derived: dict[str, list[str]] = {}
        for variant in item.variants:
            for name, value in variant.option_values.items():
                values = derived.setdefault(name, [])
                if value not in values:
                    values.append(value)
        options = list(derived.items())
    names = [name for name, _ in options]
    if len({n.casefold() for n in names}) != len(names):
        errors.append(FieldError(("options",), "Option names are distinct.", "duplicate"))
    if len(names) > 5:
        errors.append(FieldError(("options",), "At most 5 options.", "too_many"))
    combinations = 1
    for position, (_, values) in enumerate(options):
        if len({v.casefold() for v in values}) != len(values):
            errors.append(
                FieldError(("options", position, "values"), "Values are distinct.", "duplicate")
            )
        combinations *= len(values)
    if combinations > MAX_VARIANTS:
        errors.append(FieldError(("options",), f"At most {MAX_VARIANTS} combinations.", "too_many"))
    return options


def _plan_variant(
    position: int,
    variant: Any,
    options: list[tuple[str, list[str]]],
    currency: str | None,
    errors: list[FieldError],
) -> VariantPlan:
    given = variant.model_fields_set
    loc: Loc = ("variants", position)
    allowed = dict(options)
    values = variant.option_values
    if set(values) != set(allowed) or any(v not in allowed[k] for k, v in values.items()):
        names = ", ".join(allowed) or "none"
        errors.append(
            FieldError(
                (*loc, "option_values"),
                f"Give one value of each of the product's options ({names}).",
                "invalid",
            )
        )
    fields = {
        name: getattr(variant, name)
        for name in VARIANT_FIELDS
        if name in given and (getattr(variant, name) is not None or name in _NULLABLE)
    }
    price = compare = None
    priced = variant.price is not None or variant.compare_at_price is not None
    if priced and currency is None:
        errors.append(FieldError((*loc, "price"), "The shop has no channel.", "no_channel"))
    elif priced:
        assert currency is not None
        try:
            if variant.price is not None:
                price = _amount(variant.price, currency, (*loc, "price"))
            if variant.compare_at_price is not None:
                compare = _amount(variant.compare_at_price, currency, (*loc, "compare_at_price"))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    sku = (variant.sku or "").strip() or None
    return VariantPlan(
        sku_given="sku" in given,
        sku=sku,
        # Stored in the options' order, as variant generation does.
        option_values={name: values[name] for name in allowed if name in values},
        fields=fields,
        price=price,
        compare_given="compare_at_price" in given,
        compare=compare,
    )


def _check_variants(variants: list[VariantPlan], errors: list[FieldError]) -> None:
    seen_values: set[tuple[tuple[str, str], ...]] = set()
    seen_skus: set[str] = set()
    for position, variant in enumerate(variants):
        key = tuple(variant.option_values.items())
        if key in seen_values:
            errors.append(
                FieldError(
                    ("variants", position, "option_values"),
                    "Another variant has these option values.",
                    "duplicate",
                )
            )
        seen_values.add(key)
        if variant.sku is not None:
            if variant.sku in seen_skus:
                errors.append(
                    FieldError(
                        ("variants", position, "sku"), "Two variants have this SKU.", "duplicate"
                    )
                )
            seen_skus.add(variant.sku)


def duplicates(plans: dict[int, Plan]) -> dict[int, list[FieldError]]:
    """Return the errors of the items sharing a handle or a SKU with another item."""
    handles = Counter(plan.handle for plan in plans.values())
    sku_items: dict[str, set[int]] = defaultdict(set)
    for plan in plans.values():
        for variant in plan.variants or ():
            if variant.sku is not None:
                sku_items[variant.sku].add(plan.index)
    found = {}
    for index, plan in plans.items():
        errors = []
        if handles[plan.handle] > 1:
            errors.append(
                FieldError(("handle",), "This handle appears in more than one item.", "duplicate")
            )
        for position, variant in enumerate(plan.variants or ()):
            if variant.sku is not None and len(sku_items[variant.sku]) > 1:
                errors.append(
                    FieldError(
                        ("variants", position, "sku"),
                        "This SKU appears in more than one item.",
                        "duplicate",
                    )
                )
        if errors:
            found[index] = errors
    return found
