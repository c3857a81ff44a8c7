"""Version 1 of the JSON API, mounted at ``/api/v1/``."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI, Router

from merchantry import __version__
from merchantry.accounts import api as accounts_api
from merchantry.api.auth import admin_auth, store_auth
from merchantry.api.problems import install_problem_handlers
from merchantry.api.schemas import ApiInfo
from merchantry.catalog import api as catalog_api
from merchantry.catalog import api_io as catalog_io_api
from merchantry.catalog import api_media as catalog_media_api
from merchantry.catalog import api_taxonomy as taxonomy_api
from merchantry.inventory import api as inventory_api
from merchantry.plugins import api as plugins_api
from merchantry.shipping import api as shipping_api
from merchantry.tenancy import api as tenancy_api
from merchantry.webhooks import api as webhooks_api


def build_api(*, version: str) -> NinjaAPI:
    """Create an API instance with our conventions for ``version``."""
    api = NinjaAPI(
        title="Merchantry API",
        version=version,
        description=(
            "The Admin API (`/admin/`, for staff and secret keys) and the Store API "
            "(`/store/`, for storefronts with a publishable key). Errors are "
            "`application/problem+json` (RFC 9457)."
        ),
        urls_namespace=f"api-v{version}",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    install_problem_handlers(api)
    return api


api = build_api(version="1")


@api.get("/", response=ApiInfo, tags=["meta"], summary="API and server version")
def api_info(request: HttpRequest) -> dict[str, str]:
    """Return the server and API versions; needs no credentials."""
    return {"name": "Merchantry", "version": __version__, "api_version": "1"}


# Each app contributes routers; authentication is attached here, once per
# surface, so no route of a surface can be published without it.
admin = Router(auth=admin_auth)
admin.add_router("", tenancy_api.admin_router)
admin.add_router("", accounts_api.admin_router)
admin.add_router("", plugins_api.admin_router)
admin.add_router("", webhooks_api.admin_router)
# Before the catalog's: its /products/{product_id} would take /products/bulk.
admin.add_router("", catalog_io_api.admin_router)
admin.add_router("", catalog_api.admin_router)
admin.add_router("", catalog_media_api.admin_router)
admin.add_router("", taxonomy_api.admin_router)
admin.add_router("", shipping_api.admin_router)
admin.add_router("", inventory_api.admin_router)

store = Router(auth=store_auth)
store.add_router("", accounts_api.store_router)
store.add_router("", catalog_api.store_router)
store.add_router("", taxonomy_api.store_router)
store.add_router("", shipping_api.store_router)
store.add_router("", inventory_api.store_router)

# The Store first: its requests are the most frequent, and URL resolution
# tries the routes in order.
api.add_router("/store/", store)
api.add_router("/admin/", admin)
