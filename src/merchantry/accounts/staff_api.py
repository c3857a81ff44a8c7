"""Admin API for staff memberships and roles."""

from __future__ import annotations

from ninja import Router

admin_router = Router()
