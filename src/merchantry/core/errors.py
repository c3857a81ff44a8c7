"""
Merchantry's exceptions, and their rendering as RFC 9457 problem details.

The hierarchy::

    MerchantryError                 base of every error we raise on purpose
    ├── BadRequest                  400  the request cannot be read
    ├── NotAuthenticated            401  who is calling is unknown
    ├── PermissionDenied            403  the caller may not do this
    ├── NotFound                    404  no such object (or not in the caller's shop)
    ├── MethodNotAllowed            405
    ├── Conflict                    409  the state forbids it (e.g. already paid)
    ├── PayloadTooLarge             413
    ├── ValidationFailed            422  field-level errors in ``errors``
    ├── RateLimited                 429  carries ``retry_after``
    └── ServiceUnavailable          503  a dependency is down; retrying may help

Every domain app raises these (or subclasses with its own ``code``); one
handler turns them into ``application/problem+json`` responses, so no view
formats an error by hand and no stack trace or SQL reaches a client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, JsonResponse

from merchantry.core.context import current_request_id

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "BadRequest",
    "Conflict",
    "FieldError",
    "MerchantryError",
    "MethodNotAllowed",
    "NotAuthenticated",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ServiceUnavailable",
    "ValidationFailed",
    "invalid_field",
    "problem_response",
    "refuse_nulls",
    "validation_failed_from_django",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://merchantry.dev/problems/"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: where it is (``loc``), what is wrong, and a code."""

    loc: tuple[str | int, ...]
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "message": self.message, "code": self.code}


class MerchantryError(Exception):
    """An error we raise on purpose; its fields become the problem response."""

    status: int = 400
    code: str = "error"
    title: str = "Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.errors = list(errors)
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class BadRequest(MerchantryError):
    """The request cannot be read (malformed JSON, bad encoding)."""

    status, code, title = 400, "bad_request", "Bad request"


class NotAuthenticated(MerchantryError):
    """No valid credentials came with the request."""

    status, code, title = 401, "not_authenticated", "Authentication required"


class PermissionDenied(MerchantryError):
    """The caller is known but may not do this."""

    status, code, title = 403, "permission_denied", "Permission denied"


class NotFound(MerchantryError):
    """No such object, or it belongs to another shop (never say which)."""

    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(MerchantryError):
    """The route exists but not for this HTTP method."""

    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(MerchantryError):
    """The current state of the object forbids the operation."""

    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(MerchantryError):
    """The request body is larger than the installation accepts."""

    status, code, title = 413, "payload_too_large", "Payload too large"


class ValidationFailed(MerchantryError):
    """The input is well-formed but some fields are invalid."""

    status, code, title = 422, "validation_error", "Validation failed"


class RateLimited(MerchantryError):
    """Too many requests; ``retry_after`` says when to try again."""

    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        headers = {"Retry-After": str(max(1, int(retry_after))), **kwargs.pop("headers", {})}
        super().__init__(detail, headers=headers, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(MerchantryError):
    """A dependency is down; the same request may succeed later."""

    status, code, title = 503, "service_unavailable", "Service unavailable"


def problem_response(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    """Build an ``application/problem+json`` response (RFC 9457)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
        "request_id": current_request_id(),
    }
    if request is not None:
        body["instance"] = request.path
    field_errors = [error.as_dict() for error in errors]
    if field_errors:
        body["errors"] = field_errors
    response = JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(request: HttpRequest | None, exc: MerchantryError) -> JsonResponse:
    """Render one of our errors as a problem response."""
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
    )


def validation_failed_from_django(exc: Any, *, detail: str | None = None) -> ValidationFailed:
    """Turn a Django ``ValidationError`` (from ``full_clean``) into ours."""
    errors = []
    if hasattr(exc, "error_dict"):
        for field_name, field_errors in exc.error_dict.items():
            for error in field_errors:
                message = error.message % error.params if error.params else error.message
                loc = () if field_name == "__all__" else (field_name,)
                errors.append(FieldError(loc, str(message), error.code or "invalid"))
    else:
        for error in exc.error_list:
            message = error.message % error.params if error.params else error.message
            errors.append(FieldError((), str(message), error.code or "invalid"))
    return ValidationFailed(detail or "Some fields are invalid; see errors.", errors=errors)


def invalid_field(
    field: str | tuple[str | int, ...], message: str, code: str = "invalid"
) -> ValidationFailed:
    """Return a :class:`ValidationFailed` about one input field (a name or a path)."""
    loc = field if isinstance(field, tuple) else (field,)
    return ValidationFailed(errors=[FieldError(loc, message, code)])


def refuse_nulls(changes: Mapping[str, Any], fields: Iterable[str]) -> None:
    """
    Raise :class:`ValidationFailed` for each of ``fields`` set to None.

    A partial update leaves out what it does not change; null is no value.
    """
    errors = [
        FieldError((name,), "This field cannot be null.", "null")
        for name in fields
        if name in changes and changes[name] is None
    ]
    if errors:
        raise ValidationFailed(errors=errors)
