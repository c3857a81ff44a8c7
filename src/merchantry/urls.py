"""The URL map: admin, versioned APIs, health probes and the storefront."""

import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from merchantry.accounts import admin_access
from merchantry.api.v1 import api as api_v1
from merchantry.catalog.thumbnails import thumbnail_view
from merchantry.core import health
from merchantry.core.mediafiles import serve_media
from merchantry.core.views import api_not_found
from merchantry.plugins import inbox

admin.site.site_header = "Merchantry"
admin.site.site_title = "Merchantry admin"
admin.site.index_title = "Shop administration"

_MEDIA = re.escape(settings.MEDIA_URL.lstrip("/"))

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}storefront/favicon.svg")),
    # Before the admin's own catch-all; admin_view requires signed-in staff.
    path(
        "admin/shop/switch/",
        admin.site.admin_view(admin_access.shop_switch),
        name="admin-shop-switch",
    ),
    path(
        "admin/account/two-factor/",
        admin.site.admin_view(admin_access.two_factor),
        name="admin-two-factor",
    ),
    path("admin/", admin.site.urls),
    path("api/v1", RedirectView.as_view(url="/api/v1/", permanent=True)),
    path("api/v1/", api_v1.urls),
    re_path(r"^api/", api_not_found),
    # Plugins' inbound webhooks: /webhooks/<plugin>/<token>/[<path>], POST only.
    re_path(
        r"^webhooks/(?P<plugin_id>[^/]+)/(?P<token>[^/]+)(?:/(?P<rest>.*))?$",
        inbox.receive_webhook,
        name="plugin-webhook",
    ),
    # Thumbnails are made on first request; other media files come from the
    # local media folder (404 with S3 storage, whose URLs point at the bucket).
    re_path(
        rf"^{_MEDIA}thumbs/(?P<size>[0-9]+)/(?P<name>.+)\.webp$",
        thumbnail_view,
        name="media-thumbnail",
    ),
    re_path(rf"^{_MEDIA}(?P<name>.+)$", serve_media, name="media-file"),
    path("", include("merchantry.storefront.urls")),
]
