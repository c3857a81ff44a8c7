"""
Admin API DTOs for the shop, its domains, channels and API keys, and the
input types every Admin API schema builds on.

Every input string has a maximum length and no NUL character (PostgreSQL
cannot store one; it would fail as a database error), booleans are strict
(``"yes"`` is not ``true``), and enumerations are closed. Anything else is a
422 problem from Ninja before a handler runs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from ninja import Field
from pydantic import AfterValidator, StrictBool, StringConstraints

from merchantry.core.ids import ID_MAX_LENGTH, parse_id
from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.tenancy.models import ApiKeyKind, ChannelKind
from merchantry.tenancy.permissions import Perm

__all__ = [
    "ID_MAX_LENGTH",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "ChannelCreate",
    "ChannelOut",
    "ChannelPatch",
    "DomainCreate",
    "DomainOut",
    "InputSchema",
    "JsonObject",
    "ObjectOut",
    "ShopOut",
    "ShopPatch",
    "StrictBool",
    "Text",
    "WithExtra",
    "parse_id",
]

SETTINGS_MAX_BYTES = 65_536


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _walk_strings(value: Any) -> None:
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            _walk_strings(item)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    _walk_strings(value)
    if len(json.dumps(value)) > SETTINGS_MAX_BYTES:
        raise ValueError(f"must be at most {SETTINGS_MAX_BYTES} bytes as JSON")
    return value


def Text(max_length: int, *, min_length: int = 0, pattern: str | None = None) -> Any:
    """Return a stripped string type with length bounds and no NUL character."""
    return Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern
        ),
        AfterValidator(_no_nul),
    ]


Name = Text(120, min_length=1)
SlugText = Text(50, min_length=1, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
CurrencyCode = Text(3, min_length=3)
CountryCode = Text(2, min_length=2)
TimezoneName = Text(64, min_length=1)
Origin = Text(255, min_length=1)
Host = Text(253, min_length=1)
IdText = Text(ID_MAX_LENGTH, min_length=1)
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]

_ORIGINS_HELP = "Browser origins allowed to call the Store API, e.g. https://shop.example.com."


class WithExtra:
    """
    A model instance plus attributes it does not store (a one-time secret),
    for a response schema to read; avoids writing them onto the instance.
    """

    __slots__ = ("_extra", "_obj")

    def __init__(self, obj: Any, **extra: Any) -> None:
        self._obj = obj
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        extra = object.__getattribute__(self, "_extra")
        if name in extra:
            return extra[name]
        return getattr(object.__getattribute__(self, "_obj"), name)


# -- shop ------------------------------------------------------------------------


class ShopOut(ObjectOut):
    slug: str
    name: str
    status: str
    default_currency: str
    default_country: str
    timezone: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ShopPatch(InputSchema):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    name: Name = Field(None)
    default_currency: CurrencyCode = Field(None, description="ISO 4217, e.g. EUR.")
    default_country: CountryCode = Field(None, description="ISO 3166-1 alpha-2, e.g. FR.")
    timezone: TimezoneName = Field(None, description="IANA name, e.g. Europe/Paris.")
    settings: JsonObject = Field(None, description="Replaces the shop's settings object.")


# -- channels --------------------------------------------------------------------


class ChannelOut(ObjectOut):
    slug: str
    name: str
    kind: ChannelKind
    currency: str
    default_country: str
    allowed_origins: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ChannelCreate(InputSchema):
    slug: SlugText
    name: Name
    kind: ChannelKind = ChannelKind.WEB
    currency: CurrencyCode | None = Field(None, description="ISO 4217; the shop's by default.")
    default_country: CountryCode | None = Field(
        None, description="ISO 3166-1 alpha-2; the shop's by default."
    )
    allowed_origins: list[Origin] = Field(
        default_factory=list, max_length=50, description=_ORIGINS_HELP
    )
    is_active: StrictBool = True


class ChannelPatch(InputSchema):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    slug: SlugText = Field(None)
    name: Name = Field(None)
    kind: ChannelKind = Field(None)
    currency: CurrencyCode = Field(None)
    default_country: CountryCode = Field(None)
    allowed_origins: list[Origin] = Field(None, max_length=50, description=_ORIGINS_HELP)
    is_active: StrictBool = Field(None)


# -- domains ---------------------------------------------------------------------


class DomainOut(ObjectOut):
    host: str
    is_primary: bool
    created_at: datetime


class DomainCreate(InputSchema):
    host: Host = Field(..., description="e.g. shop.example.com")
    is_primary: StrictBool = False


# -- API keys --------------------------------------------------------------------


class ApiKeyOut(ObjectOut):
    """An API key as listed: never the key itself, only its first characters."""

    name: str
    kind: ApiKeyKind
    prefix: str
    channel_id: str | None
    permissions: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_channel_id(obj: Any) -> str | None:
        return str(obj.channel_id) if obj.channel_id else None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(..., description="The key itself. Shown this once; store it now.")


class ApiKeyCreate(InputSchema):
    name: Name
    kind: ApiKeyKind
    channel_id: IdText | None = Field(None, description="Publishable keys: the channel served.")
    permissions: list[Perm] = Field(
        default_factory=list,
        max_length=len(Perm),
        description="Secret keys: a subset of your own permissions.",
    )
