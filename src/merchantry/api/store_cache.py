"""
Store catalog reads answered from the read cache before the rest of the stack.

:mod:`merchantry.catalog.cache` keeps whole Store answers under a version per
shop. This middleware sits right below the layers every response needs (request
id and logging, problems, security headers, CORS, rate limits, the CSP) and
above everything a cached answer does not: sessions, CSRF, users, the admin's
shop, URL resolution and the API's parameter parsing. On a hit it answers
straight away; on a miss the request goes on as usual, and a view that marked
its answer cacheable (:func:`cacheable`) has it stored under the version read
*before* the view ran, so an answer built from data older than a change is
never stored under the version that follows it.

The cache key is the channel, the path and the query string with its
parameters sorted: two spellings of one query are two entries, which costs a
little memory and nothing in correctness. Only ``200`` answers are stored.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from merchantry.api.auth import PublishableKeyAuth, publishable_key_lookup
from merchantry.catalog import cache as read_cache
from merchantry.core.context import bind

__all__ = ["StoreReadCacheMiddleware"]

# The routes whose answers may be cached (their views mark them): other Store
# reads (a customer's pages, availability) skip the version lookup entirely.
CACHED_PREFIXES = ("/api/v1/store/products", "/api/v1/store/facets")
# What the inner middleware would have added to a JSON answer.
_HIT_HEADERS = {"X-Frame-Options": "DENY"}


class StoreReadCacheMiddleware:
    """Answer cached Store reads early; store the answers views mark cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if (
            request.method != "GET"
            or not request.path.startswith(CACHED_PREFIXES)
            or not read_cache.enabled()
        ):
            return self.get_response(request)
        api_key = publishable_key_lookup(request.headers.get(PublishableKeyAuth.param_name, ""))
        if api_key is None or api_key.channel_id is None:
            return self.get_response(request)  # the API answers 401 as usual
        params = sorted(request.GET.lists())
        entry = read_cache.Entry(api_key.shop_id, api_key.channel_id, request.path, params)
        body = entry.get()
        if body is None:
            response = self.get_response(request)
            if read_cache.is_cacheable(response):
                entry.set(response.content)
            return response
        bind(shop=api_key.shop.slug, actor=f"apikey:{api_key.pk}")
        response = HttpResponse(body, content_type="application/json")
        # As CommonMiddleware would: without a length the server would
        # stream the answer in chunks.
        response.headers["Content-Length"] = str(len(body))
        for name, value in _HIT_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
