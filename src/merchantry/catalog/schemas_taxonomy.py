"""Admin and Store API DTOs for categories and collections."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import NonNegativeInt

from merchantry.catalog.models import CollectionKind
from merchantry.catalog.schemas import ProductOut
from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.tenancy.schemas import JsonObject, StrictBool, Text

__all__ = [
    "CategoryBriefOut",
    "CategoryCreate",
    "CategoryMoveIn",
    "CategoryNodeOut",
    "CategoryOut",
    "CategoryPatch",
    "CategoryTreeOut",
    "CollectionCreate",
    "CollectionOut",
    "CollectionPatch",
    "CollectionProductOut",
    "MembersAddedOut",
    "ProductCategoriesIn",
    "ProductCategoriesOut",
    "ProductIdsIn",
    "ProductOrderIn",
    "RuleIn",
    "StoreCategoryOut",
    "StoreCollectionOut",
]

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Name = Text(120, min_length=1)
CategoryHandle = Text(120, min_length=1, pattern=_SLUG)
Title = Text(255, min_length=1)
Handle = Text(255, min_length=1, pattern=_SLUG)
Description = Text(100_000)
SeoTitle = Text(255)
SeoDescription = Text(500)
IdText = Text(20, min_length=1)
RuleValue = Text(120, min_length=1)
Position = NonNegativeInt

# -- categories -----------------------------------------------------------------------


class _CategoryFields(InputSchema):
    description: Description = Field(None, description="HTML; sanitized to an allow-list.")
    seo_title: SeoTitle = Field(None)
    seo_description: SeoDescription = Field(None)
    metadata_public: JsonObject = Field(None)


class CategoryCreate(_CategoryFields):
    name: Name
    handle: CategoryHandle = Field(None, description="Made from the name when absent.")
    parent_id: IdText | None = Field(None, description="The parent category; null: top level.")
    position: Position = Field(None, description="Place among the siblings, 0 first; absent: last.")


class CategoryPatch(_CategoryFields):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    name: Name = Field(None)
    handle: CategoryHandle = Field(None)


class CategoryMoveIn(InputSchema):
    """Where to: a parent (null: top level) and/or a position, or next to a sibling."""

    parent_id: IdText | None = Field(
        None, description="The new parent; null: top level; absent: the current parent."
    )
    position: Position | None = Field(
        None, description="Place among the new siblings, 0 first; null: last (or unchanged)."
    )
    before_id: IdText | None = Field(None, description="Put it right before this category.")
    after_id: IdText | None = Field(None, description="Put it right after this category.")


class ProductCategoriesIn(InputSchema):
    category_ids: list[IdText] = Field(..., max_length=50, description="[] removes them all.")


class CategoryBriefOut(ObjectOut):
    name: str
    handle: str


class CategoryNodeOut(Schema):
    """A category of the tree with its subcategories, in their order."""

    id: str
    name: str
    handle: str
    children: list[CategoryNodeOut]

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.category.pk)

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj.category.name)

    @staticmethod
    def resolve_handle(obj: Any) -> str:
        return str(obj.category.handle)


CategoryNodeOut.model_rebuild()


class CategoryTreeOut(Schema):
    items: list[CategoryNodeOut] = Field(..., description="The top-level categories.")


class StoreCategoryOut(ObjectOut):
    name: str
    handle: str
    description: str
    seo_title: str
    seo_description: str
    metadata_public: dict[str, Any]
    ancestors: list[CategoryBriefOut] = Field(..., description="From the top level down.")
    children: list[CategoryBriefOut]

    @staticmethod
    def resolve_ancestors(obj: Any) -> list[Any]:
        return list(obj.family[0])

    @staticmethod
    def resolve_children(obj: Any) -> list[Any]:
        return list(obj.family[1])


class CategoryOut(StoreCategoryOut):
    parent_id: str | None
    depth: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_parent_id(obj: Any) -> str | None:
        ancestors = obj.family[0]
        return str(ancestors[-1].pk) if ancestors else None


class ProductCategoriesOut(Schema):
    product_id: str
    categories: list[CategoryBriefOut]


# -- collections ----------------------------------------------------------------------


class RuleIn(InputSchema):
    field: Literal["tag", "product_type", "vendor", "price"]
    op: Literal["equals", "gte", "lte"] = Field(
        ..., description="equals (tag, product_type, vendor); gte or lte (price)."
    )
    value: RuleValue = Field(..., description='Text, or a decimal string for price: "19.99".')


class RuleOut(Schema):
    field: str
    op: str
    value: str


class _CollectionFields(InputSchema):
    description: Description = Field(None, description="HTML; sanitized to an allow-list.")
    rules: list[RuleIn] = Field(None, max_length=20, description="Automated collections only.")
    rules_match_all: StrictBool = Field(None, description="All rules (true) or any one.")
    is_published: StrictBool = Field(None, description="Shown in the Store API.")
    seo_title: SeoTitle = Field(None)
    seo_description: SeoDescription = Field(None)


class CollectionCreate(_CollectionFields):
    title: Title
    handle: Handle = Field(None, description="Made from the title when absent.")
    kind: CollectionKind = Field(
        CollectionKind.MANUAL, description="manual or automated; fixed once created."
    )


class CollectionPatch(_CollectionFields):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    title: Title = Field(None)
    handle: Handle = Field(None)


class StoreCollectionOut(ObjectOut):
    handle: str
    title: str
    description: str
    seo_title: str
    seo_description: str


class CollectionOut(StoreCollectionOut):
    kind: CollectionKind
    rules: list[RuleOut]
    rules_match_all: bool
    is_published: bool
    created_at: datetime
    updated_at: datetime


class ProductIdsIn(InputSchema):
    product_ids: list[IdText] = Field(..., max_length=250)


class ProductOrderIn(InputSchema):
    product_ids: list[IdText] = Field(
        ..., max_length=5000, description="Every product of the collection, once, in order."
    )


class MembersAddedOut(Schema):
    added: list[str] = Field(..., description="The ids added (those already in it stay put).")
    count: int = Field(..., description="How many products the collection holds now.")


class CollectionProductOut(ProductOut):
    position: int | None = Field(..., description="Place in a manual collection; else null.")

    @staticmethod
    def resolve_position(obj: Any) -> int | None:
        return getattr(obj, "collection_position", None)
