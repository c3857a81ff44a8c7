"""Schemas shared by every API version."""

from __future__ import annotations

from ninja import Schema


class FieldErrorOut(Schema):
    loc: list[str | int]
    message: str
    code: str


class Problem(Schema):
    """An RFC 9457 problem; every error response has this shape."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    instance: str | None = None
    errors: list[FieldErrorOut] | None = None


class ApiInfo(Schema):
    name: str
    version: str
    api_version: str
