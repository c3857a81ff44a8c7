"""Admin API DTOs for webhook endpoints and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import StrictBool, StrictInt

from merchantry.core.schemas import InputSchema, ObjectOut
from merchantry.tenancy.schemas import Text
from merchantry.webhooks.models import DeliveryStatus
from merchantry.webhooks.services import (
    MAX_DESCRIPTION_LENGTH,
    MAX_EVENT_TYPES,
    MAX_PREVIOUS_SECRET_HOURS,
    MAX_URL_LENGTH,
)

__all__ = [
    "DeliveryFilters",
    "DeliveryOut",
    "EndpointCreate",
    "EndpointOut",
    "EndpointPatch",
    "EndpointWithSecretOut",
    "SecretRotate",
]

_EVENT_PATTERN = (
    r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$"
)
Url = Text(MAX_URL_LENGTH, min_length=1)
Description = Text(MAX_DESCRIPTION_LENGTH)
EventPattern = Text(100, min_length=1, pattern=_EVENT_PATTERN)
EventTypeText = Text(100, min_length=1)
IdText = Text(20, min_length=1)

_URL_HELP = "Where events are POSTed: https, a public host."
_TYPES_HELP = 'Event types ("order.placed"), prefixes ("order.*"), or "*" for every event.'


class EndpointOut(ObjectOut):
    """An endpoint as listed: never its secret, only the secret's last characters."""

    url: str
    description: str
    event_types: list[str]
    is_active: bool
    secret_hint: str = Field(..., description="The last 4 characters of the signing secret.")
    previous_secret_expires_at: datetime | None = Field(
        None, description="Until when the rotated-out secret still signs deliveries."
    )
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_previous_secret_expires_at(obj: Any) -> datetime | None:
        return obj.previous_secret_expires_at if obj.previous_secret_encrypted else None


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(
        ..., description="The signing secret. Shown this once; store it now (whsec_...)."
    )


class EndpointCreate(InputSchema):
    url: Url = Field(..., description=_URL_HELP)
    event_types: list[EventPattern] = Field(
        ..., min_length=1, max_length=MAX_EVENT_TYPES, description=_TYPES_HELP
    )
    description: Description = ""
    is_active: StrictBool = True


class EndpointPatch(InputSchema):
    """Fields to change; absent fields stay as they are (null is not allowed)."""

    url: Url = Field(None, description=_URL_HELP)
    event_types: list[EventPattern] = Field(
        None, min_length=1, max_length=MAX_EVENT_TYPES, description=_TYPES_HELP
    )
    description: Description = Field(None)
    is_active: StrictBool = Field(None)


class SecretRotate(InputSchema):
    previous_secret_valid_hours: StrictInt = Field(
        0,
        ge=0,
        le=MAX_PREVIOUS_SECRET_HOURS,
        description="Keep signing with the old secret too for this many hours (0: stop now).",
    )


class DeliveryOut(ObjectOut):
    """One delivery attempt of one event to one endpoint."""

    endpoint_id: str
    event_id: str = Field(..., description="The event's id (the Merchantry-Webhook-Id header).")
    event_type: str
    attempt: int
    is_replay: bool
    status: DeliveryStatus
    response_status_code: int | None
    response_time_ms: int | None
    error: str
    next_attempt_at: datetime | None = Field(
        None, description="Pending: when it is due. Failed: when the retry is due, if any."
    )
    created_at: datetime
    attempted_at: datetime | None
    delivered_at: datetime | None

    @staticmethod
    def resolve_endpoint_id(obj: Any) -> str:
        return str(obj.endpoint_id)

    @staticmethod
    def resolve_event_id(obj: Any) -> str:
        return str(obj.event.uid)


class DeliveryFilters(Schema):
    endpoint_id: IdText | None = Field(None, description="Only this endpoint's deliveries.")
    status: DeliveryStatus | None = Field(None, description="pending, succeeded or failed.")
    event_type: EventTypeText | None = Field(None, description="Only this event type.")
