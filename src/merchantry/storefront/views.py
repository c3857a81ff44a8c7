"""Storefront pages."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from merchantry import __version__


def _shop(request: HttpRequest) -> Any:
    shop = getattr(request, "shop", None)
    if not shop:  # request.shop is lazy; truth-testing resolves it once
        raise Http404("No shop answers at this address.")
    return shop


def home(request: HttpRequest) -> HttpResponse:
    """Render the front page of the shop this host belongs to."""
    shop = _shop(request)
    return render(request, "storefront/home.html", {"shop": shop, "version": __version__})
