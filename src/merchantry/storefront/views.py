"""Storefront pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from merchantry import __version__


def home(request: HttpRequest) -> HttpResponse:
    """Render the storefront's front page (a placeholder until the catalog lands)."""
    return render(request, "storefront/home.html", {"version": __version__})
