"""
Request middleware: request ids and the access log, the body-size limit,
problem responses under ``/api/``, and the content security policy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import structlog
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.functional import empty

from merchantry.core.context import bind, clean_request_id
from merchantry.core.errors import PROBLEM_CONTENT_TYPE, problem_response

__all__ = [
    "ApiProblemMiddleware",
    "ContentSecurityPolicyMiddleware",
    "RequestBodyLimitMiddleware",
    "RequestContextMiddleware",
    "body_limit",
    "is_api_request",
]

REQUEST_ID_HEADER = "X-Request-ID"
access_log = structlog.get_logger("merchantry.access")
error_log = structlog.get_logger("merchantry.errors")


def is_api_request(request: HttpRequest) -> bool:
    """Return True for requests whose errors must be problem+json."""
    return request.path.startswith("/api/")


# Webhook URLs carry a per-installation secret token as their second segment.
_WEBHOOK_TOKEN_RE = re.compile(r"^(/webhooks/[^/]+/)[^/]+")


def _loggable_path(path: str) -> str:
    """Return ``path`` with secrets that live in URLs masked."""
    return _WEBHOOK_TOKEN_RE.sub(r"\1****", path)


def _actor(request: HttpRequest) -> str | None:
    # Only name the actor if authentication already ran for this request;
    # resolving request.user here would cost a session query on every hit.
    user = getattr(request, "user", None)
    wrapped = getattr(user, "_wrapped", empty)
    if wrapped is empty or wrapped is None or not getattr(wrapped, "is_authenticated", False):
        return None
    return f"user:{wrapped.pk}"


class RequestContextMiddleware:
    """
    Give each request an id, bind it to every log line, echo it in the
    response, and write one access-log line when the response is ready.

    The access line has method, path (without the query string, which may
    carry tokens), status, duration and the shop and actor when known; never
    bodies or headers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        structlog.contextvars.clear_contextvars()
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        bind(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            actor = _actor(request)
            if actor:
                bind(actor=actor)
            access_log.info(
                "request",
                method=request.method,
                path=_loggable_path(request.path),
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            return response
        finally:
            structlog.contextvars.clear_contextvars()


def body_limit(request: HttpRequest) -> int:
    """
    Return the largest body ``request`` may have.

    ``MERCHANTRY_MAX_REQUEST_BODY``, except for multipart POSTs to the upload
    routes of ``MERCHANTRY_UPLOAD_BODY_LIMITS``, which may carry an image.
    """
    limit = settings.MERCHANTRY_MAX_REQUEST_BODY
    if request.method != "POST" or not request.content_type.startswith("multipart/form-data"):
        return limit
    for pattern, upload_limit in getattr(settings, "MERCHANTRY_UPLOAD_BODY_LIMITS", ()):
        if re.match(pattern, request.path):
            return max(limit, upload_limit)
    return limit


class RequestBodyLimitMiddleware:
    """Refuse a request whose declared body is larger than the limit, unread."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = body_limit(request)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _too_large(request, limit)
        return self.get_response(request)


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    detail = f"The request body is larger than {limit} bytes."
    if is_api_request(request):
        return problem_response(
            request, status=413, code="payload_too_large", title="Payload too large", detail=detail
        )
    return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")


_API_STATUS_PROBLEMS = {
    400: ("bad_request", "Bad request", "The request could not be understood."),
    403: ("permission_denied", "Permission denied", "This request is not allowed."),
    404: ("not_found", "Not found", "No API route matches this path."),
    405: ("method_not_allowed", "Method not allowed", "This route does not accept this method."),
}


class ApiProblemMiddleware:
    """
    Make every error under ``/api/`` a problem+json response.

    Ninja's handlers cover errors raised inside API views; this covers what
    happens around them: routes that do not exist, methods a route does not
    take, bodies too large to read, and exceptions outside Ninja.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not is_api_request(request):
            return response
        known = _API_STATUS_PROBLEMS.get(response.status_code)
        if known and response.get("Content-Type", "") != PROBLEM_CONTENT_TYPE:
            code, title, detail = known
            problem = problem_response(
                request, status=response.status_code, code=code, title=title, detail=detail
            )
            if response.has_header("Allow"):
                problem["Allow"] = response["Allow"]
            return problem
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return _too_large(request, body_limit(request))
        error_log.exception("unhandled_exception", path=request.path, method=request.method)
        return problem_response(
            request,
            status=500,
            code="internal_error",
            title="Internal server error",
            detail="An unexpected error occurred. Quote the request id when reporting it.",
        )


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """
    django-csp's middleware, with the strict policy relaxed only where a
    third-party UI needs it: the admin (unfold uses Alpine.js, which evaluates
    expressions, and inline styles) and the interactive API docs.
    """

    RELAXED_PREFIXES = ("/admin/", "/api/v1/docs", "/api/v2/docs")

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if request.path.startswith(self.RELAXED_PREFIXES) and not hasattr(response, "_csp_update"):
            response._csp_update = {  # type: ignore[attr-defined]
                "script-src": ["'unsafe-inline'", "'unsafe-eval'"],
                "style-src": ["'unsafe-inline'"],
            }
        return super().process_response(request, response)
