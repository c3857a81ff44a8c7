"""ASGI entry point, for servers that speak ASGI."""

import os

from merchantry.cli import bootstrap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merchantry.settings")
bootstrap()

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
