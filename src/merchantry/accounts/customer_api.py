"""Store API for customers: registration, sign-in, profile and addresses."""

from __future__ import annotations

from ninja import Router

store_router = Router()
