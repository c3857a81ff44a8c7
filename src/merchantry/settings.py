"""
Django settings, derived from :mod:`merchantry.config` and nothing else.

Self-hosters configure Merchantry with environment variables (see
``docs/configuration.md``); this module translates the validated
:class:`~merchantry.config.Config` into what Django and its libraries expect.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url
from django.templatetags.static import static
from django.urls import reverse

from merchantry.config import get_config
from merchantry.core.logging import build_logging_config

CONFIG = get_config()
BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = CONFIG.ensure_data_dir()

SECRET_KEY = CONFIG.effective_secret_key()
# Keys for secrets stored in the database (merchantry.core.crypto); empty means
# one key derived from SECRET_KEY.
MERCHANTRY_ENCRYPTION_KEYS = [key.get_secret_value() for key in CONFIG.encryption_keys]
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "csp",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "django_rq",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "treebeard",
    "merchantry.core",
    "merchantry.tenancy",
    "merchantry.accounts",
    "merchantry.plugins",
    "merchantry.webhooks",
    "merchantry.catalog",
    "merchantry.inventory",
    "merchantry.shipping",
    "merchantry.storefront",
]

MIDDLEWARE = [
    "merchantry.core.middleware.RequestContextMiddleware",
    # Near the top so it sees the responses every inner layer produces.
    "merchantry.core.middleware.ApiProblemMiddleware",
    "merchantry.core.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Inside CORS, so a 429 carries the CORS headers a browser needs to read
    # it, and preflights (answered by CORS) spend no budget.
    "merchantry.core.ratelimit.RateLimitMiddleware",
    "merchantry.core.middleware.ContentSecurityPolicyMiddleware",
    # Cached Store catalog reads are answered here, without the layers below.
    "merchantry.api.store_cache.StoreReadCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "merchantry.tenancy.middleware.ShopFromHostMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Admin pages: the second factor, and the shop the staff member works in.
    "merchantry.accounts.admin_access.AdminShopMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "merchantry.urls"
WSGI_APPLICATION = "merchantry.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]


# -- Database -------------------------------------------------------------------

_db = dj_database_url.parse(CONFIG.effective_database_url, conn_max_age=0)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # WAL lets readers run beside the single writer; IMMEDIATE takes the
        # write lock at BEGIN so two writers queue on the busy timeout instead
        # of failing with "database is locked" when a read upgrades to a write.
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA temp_store=MEMORY;"
            "PRAGMA cache_size=-20000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    _db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    _db["CONN_MAX_AGE"] = 60
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("connect_timeout", 5)
DATABASES = {"default": _db}


# -- Cache ----------------------------------------------------------------------

if CONFIG.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "merchantry.core.redis_cache.RedisCache",
            "LOCATION": CONFIG.redis_url,
            "KEY_PREFIX": "merchantry",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "merchantry",
        }
    }


# -- Background jobs ------------------------------------------------------------

if CONFIG.job_queue == "redis":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# The RQ dashboard in the admin only makes sense when jobs wait in Redis.
RQ_SHOW_ADMIN_LINK = CONFIG.job_queue == "redis"
RQ_QUEUES = {
    "default": {
        "URL": CONFIG.redis_url or "redis://127.0.0.1:6379/0",
        "DEFAULT_TIMEOUT": 600,
    }
}


# -- Auth and passwords ---------------------------------------------------------

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "/admin/"
# Staff two-factor sign-in (merchantry.accounts.otp): the name authenticator apps show.
OTP_TOTP_ISSUER = "Merchantry"


# -- Security -------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG.effective_secure_cookies
CSRF_COOKIE_SECURE = CONFIG.effective_secure_cookies
CSRF_COOKIE_HTTPONLY = True
if not DEBUG and CONFIG.hsts_seconds:
    SECURE_HSTS_SECONDS = CONFIG.hsts_seconds
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
if CONFIG.trust_proxy_headers:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# Origins allowed to POST forms (the admin): each host directly on PORT, and
# behind a TLS-terminating proxy on the default port.
CSRF_TRUSTED_ORIGINS = sorted(
    {
        origin
        for host in CONFIG.allowed_hosts
        if host != "*"
        for name in [f"*{host}" if host.startswith(".") else host]
        for origin in (
            f"https://{name}",
            f"http://{name}:{CONFIG.port}",
            f"https://{name}:{CONFIG.port}",
        )
    }
)

DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.max_request_body
MERCHANTRY_MAX_REQUEST_BODY = CONFIG.max_request_body

# The strict policy every response gets; the admin and the API docs relax it
# (see merchantry.core.middleware.ContentSecurityPolicyMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# CORS: no static origins. Only the Store API is for browsers of other
# origins; it allows the origins of active channels (merchantry.tenancy.cors).
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_URLS_REGEX = r"^/api/v\d+/store/"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-publishable-key",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = (
    "x-request-id",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
)

# API rate limits (merchantry.core.ratelimit): per credential kind and per
# client address, in the `limits` notation or "off"; counters live in Redis
# when configured, so every process shares them.
MERCHANTRY_RATE_LIMITS = {
    "secret": CONFIG.rate_limit_secret,
    "publishable": CONFIG.rate_limit_publishable,
    "customer": CONFIG.rate_limit_customer,
    "ip": CONFIG.rate_limit_ip,
}
MERCHANTRY_RATE_LIMIT_STORAGE = CONFIG.redis_url or "memory://"
# Store API answers are cached only in a cache every web process shares.
MERCHANTRY_STORE_CACHE_SECONDS = 60 if CONFIG.redis_url else 0
# How long a web process reuses a resolved publishable key (see api/auth.py).
MERCHANTRY_PUBLISHABLE_KEY_CACHE_SECONDS = 5
MERCHANTRY_RATE_LIMIT_KEY_PREFIX = "merchantry:ratelimit"
MERCHANTRY_TRUST_PROXY_HEADERS = CONFIG.trust_proxy_headers

# Outbound calls (merchantry.core.http) reach only public addresses, except
# these names, addresses or networks (each with an optional port).
MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = CONFIG.http_allow_private_hosts
# Development and tests only: let webhook endpoints be any private host, over http too
# (production lists its private receivers in MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS).
MERCHANTRY_WEBHOOKS_ALLOW_PRIVATE_URLS = False


# -- Static and media -----------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    # The data folder's media/ (served by merchantry.core.mediafiles), or S3.
    "default": CONFIG.media_storage_backend(),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True
# Folders of the default storage that anyone may read at MEDIA_URL (when it is
# the local folder); anything else kept there (exports, say) stays private.
MERCHANTRY_PUBLIC_MEDIA_PREFIXES = ("products/",)

# Product images (merchantry.catalog.media): checked with Pillow on upload.
MERCHANTRY_MAX_IMAGE_BYTES = CONFIG.max_image_bytes
MERCHANTRY_MAX_IMAGE_PIXELS = CONFIG.max_image_pixels
# Requests that may be larger than MERCHANTRY_MAX_REQUEST_BODY: multipart POSTs
# carrying images. (path pattern, largest body in bytes): one image and its form
# on the Admin API; a few at once on the admin's product page.
_FORM_SLACK = 1024 * 1024
MERCHANTRY_UPLOAD_BODY_LIMITS = (
    (r"^/api/v\d+/admin/products/[^/]+/media$", CONFIG.max_image_bytes + _FORM_SLACK),
    (r"^/admin/catalog/product/[^/]+/change/$", 4 * CONFIG.max_image_bytes + _FORM_SLACK),
)


# -- Internationalisation ------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True


# -- Logging --------------------------------------------------------------------

LOG_FORMAT = CONFIG.resolved_log_format(isatty=sys.stderr.isatty())
LOGGING = build_logging_config(level=CONFIG.log_level, fmt=LOG_FORMAT)


# -- Mail -----------------------------------------------------------------------

globals().update(CONFIG.email_settings())
DEFAULT_FROM_EMAIL = CONFIG.default_from_email
SERVER_EMAIL = CONFIG.default_from_email


# -- Feature flags --------------------------------------------------------------

MERCHANTRY_FEATURE_FLAGS = CONFIG.feature_flags
MERCHANTRY_DEFAULT_SHOP = CONFIG.default_shop


# -- Admin (unfold) -------------------------------------------------------------

UNFOLD = {
    "SITE_TITLE": "Merchantry admin",
    "SITE_HEADER": "Merchantry",
    "SITE_SUBHEADER": "Commerce, self-hosted",
    "SITE_SYMBOL": "storefront",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "BORDER_RADIUS": "8px",
    # The current shop in the sidebar header, the shop switcher in its dropdown.
    "GLOBAL_CALLBACK": "merchantry.tenancy.admin_scope.admin_context",
    # Email and password, plus the authenticator code once two-factor is on.
    "LOGIN": {"form": "merchantry.accounts.otp.AdminLoginForm"},
    "ACCOUNT": {
        "navigation": [
            {
                "title": "Two-factor authentication",
                "link": lambda request: reverse("admin-two-factor"),
            }
        ]
    },
    "STYLES": [lambda request: static("merchantry/admin.css")],
    "COLORS": {
        "primary": {
            "50": "oklch(97.1% .014 163)",
            "100": "oklch(94.4% .03 163)",
            "200": "oklch(89.5% .06 163)",
            "300": "oklch(82.5% .1 163)",
            "400": "oklch(73.5% .14 163)",
            "500": "oklch(64.5% .15 163)",
            "600": "oklch(55% .13 163)",
            "700": "oklch(47% .11 163)",
            "800": "oklch(40% .09 163)",
            "900": "oklch(34% .07 163)",
            "950": "oklch(24% .05 163)",
        },
    },
}
