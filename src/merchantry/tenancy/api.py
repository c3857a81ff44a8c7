"""Admin API for the shop itself, its domains, channels and API keys."""

from __future__ import annotations

from ninja import Router

admin_router = Router()
