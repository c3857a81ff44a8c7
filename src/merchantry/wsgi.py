"""WSGI entry point, used by ``merchantry serve`` (gunicorn)."""

import os

from merchantry.cli import bootstrap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merchantry.settings")
bootstrap()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
