"""
Exception handlers that make every Ninja error an RFC 9457 problem.

Installed on each versioned API by :func:`install_problem_handlers`; the
middleware in :mod:`merchantry.core.middleware` covers errors outside Ninja.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from merchantry.core.errors import (
    FieldError,
    MerchantryError,
    ServiceUnavailable,
    error_response,
    problem_response,
)
from merchantry.core.logging import get_logger

__all__ = ["install_problem_handlers"]

logger = get_logger("merchantry.errors")

_HTTP_ERROR_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("not_authenticated", "Authentication required"),
    403: ("permission_denied", "Permission denied"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


def _field_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    return [
        FieldError(
            loc=tuple(error.get("loc", ())),
            message=str(error.get("msg", "Invalid value.")),
            code=str(error.get("type", "invalid")),
        )
        for error in errors
    ]


def _on_merchantry_error(request: HttpRequest, exc: MerchantryError) -> HttpResponse:
    return error_response(request, exc)


def _on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return problem_response(
        request,
        status=422,
        code="validation_error",
        title="Validation failed",
        detail="Some fields are invalid; see errors.",
        errors=_field_errors(exc.errors),
    )


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code, title = _HTTP_ERROR_CODES.get(exc.status_code, ("error", "Error"))
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        code, detail = "malformed_body", "The request body is not valid JSON."
    else:
        detail = str(exc) or title
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
    return problem_response(
        request, status=exc.status_code, code=code, title=title, detail=detail, headers=headers
    )


def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(
        request, status=404, code="not_found", title="Not found", detail="No such object."
    )


def _on_permission_denied(request: HttpRequest, exc: DjangoPermissionDenied) -> HttpResponse:
    return problem_response(
        request, status=403, code="permission_denied", title="Permission denied"
    )


def _on_unreadable_body(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Raised by Django while parsing a form body (multipart uploads), which
    # Ninja does inside the view; Django itself would answer 400 (or 413).
    if isinstance(exc, RequestDataTooBig):
        return problem_response(
            request,
            status=413,
            code="payload_too_large",
            title="Payload too large",
            detail="The form data is larger than the installation accepts.",
        )
    return problem_response(
        request,
        status=400,
        code="bad_request",
        title="Bad request",
        detail="The request body could not be read.",
    )


def _on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled_exception", path=request.path, method=request.method)
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred. Quote the request id when reporting it.",
    )


def _on_database_error(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    # SQLite answers "database is locked" when a writer waited past the busy
    # timeout for another's transaction: the shop is busy, not broken, and
    # the same request may go through a moment later.
    if "locked" not in str(exc).lower():
        return _on_unexpected(request, exc)
    logger.warning("database_busy", path=request.path, method=request.method)
    return _on_merchantry_error(
        request,
        ServiceUnavailable(
            "The shop is busy; try again in a moment.",
            headers={"Retry-After": "1"},
        ),
    )


def install_problem_handlers(api: NinjaAPI) -> None:
    """Make ``api`` answer every error with a problem+json response."""
    api.add_exception_handler(Exception, _on_unexpected)
    api.add_exception_handler(OperationalError, _on_database_error)
    api.add_exception_handler(MerchantryError, _on_merchantry_error)
    api.add_exception_handler(NinjaValidationError, _on_validation_error)
    api.add_exception_handler(HttpError, _on_http_error)
    api.add_exception_handler(Http404, _on_not_found)
    api.add_exception_handler(DjangoPermissionDenied, _on_permission_denied)
    api.add_exception_handler(MultiPartParserError, _on_unreadable_body)
    api.add_exception_handler(SuspiciousOperation, _on_unreadable_body)
