"""The URL map: admin, versioned APIs, health probes and the storefront."""

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import RedirectView

from merchantry.api.v1 import api as api_v1
from merchantry.core import health
from merchantry.core.views import api_not_found
from merchantry.storefront import views as storefront

admin.site.site_header = "Merchantry"
admin.site.site_title = "Merchantry admin"
admin.site.index_title = "Shop administration"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}storefront/favicon.svg")),
    path("admin/", admin.site.urls),
    path("api/v1", RedirectView.as_view(url="/api/v1/", permanent=True)),
    path("api/v1/", api_v1.urls),
    re_path(r"^api/", api_not_found),
    path("", storefront.home, name="storefront-home"),
]
