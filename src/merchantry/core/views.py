"""Views of the platform itself (not of any shop)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from merchantry.core.errors import problem_response


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Answer any path under /api/ that no API version routes."""
    return problem_response(
        request,
        status=404,
        code="not_found",
        title="Not found",
        detail="No API route matches this path.",
    )
