"""Bases for API request and response schemas, shared by every app."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import BaseModel, model_validator

__all__ = ["InputSchema", "ObjectOut"]


class InputSchema(Schema):
    """Base of request bodies: a JSON object, nothing else."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        # Ninja would read attributes off a list or a string and find none, so
        # `[]` sent to a PATCH of optional fields would pass as "no changes".
        raw = data._obj if isinstance(data, DjangoGetter) else data
        if not isinstance(raw, dict | BaseModel):
            raise ValueError("The body must be a JSON object.")
        return data


class ObjectOut(Schema):
    """Base of every response object: an opaque string ``id``."""

    id: str

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.pk)
