"""The accounts app's routers: staff and roles (Admin API), customers (Store API)."""

from merchantry.accounts.customer_api import store_router
from merchantry.accounts.staff_api import admin_router

__all__ = ["admin_router", "store_router"]
