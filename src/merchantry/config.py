"""
Merchantry's configuration: one typed object read from the environment.

Every setting a self-hoster may change is a field of :class:`Config`, read from
environment variables (and from a ``.env`` file in the working directory when
one exists). The object is validated once, at start-up; an invalid value stops
the process with :class:`ConfigError`, whose message names the variable and
what is wrong with it, so the command line can print one clear line instead of
a traceback.

Django's settings (``merchantry.settings``) are derived from this object and
nothing else reads the environment directly.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import dj_database_url
import limits
from cryptography.fernet import Fernet
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Config", "ConfigError", "get_config", "load_config", "s3_storage_options"]

SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a key)

# Values people paste from tutorials. A key that contains one of these is
# refused even when it is long enough, because it is public knowledge.
_PLACEHOLDER_MARKERS = (
    "changeme",
    "change-me",
    "change_me",
    "replace-me",
    "replaceme",
    "your-secret",
    "your_secret",
    "secret-key",
    "secretkey",
    "django-insecure",
    "placeholder",
    "example",
    "xxxxxxxx",
)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "pgsql")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
MEDIA_STORAGE_LOCAL = "local"
# Query parameters of an s3:// media storage URL, and django-storages' names for them.
_S3_PARAMETERS = {
    "endpoint_url": "endpoint_url",
    "region": "region_name",
    "custom_domain": "custom_domain",
    "signed_urls": "querystring_auth",
}
_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no")


class ConfigError(Exception):
    """The environment holds a value Merchantry cannot start with."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _parse_flags(value: Any) -> Any:
    """Parse ``name=on,other=off`` into ``{"name": True, "other": False}``."""
    if not isinstance(value, str):
        return value
    flags: dict[str, bool] = {}
    for item in _split_csv(value):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
            raise ValueError(f"{name!r} is not a flag name (lowercase letters, digits, _)")
        raw = raw.strip().lower() if sep else "on"
        if raw in ("1", "true", "on", "yes"):
            flags[name] = True
        elif raw in ("0", "false", "off", "no"):
            flags[name] = False
        else:
            raise ValueError(f"flag {name!r} must be on or off, not {raw!r}")
    return flags


RATE_LIMIT_OFF = "off"


def _parse_rate_limit(value: Any) -> str:
    """
    Return a rate limit in the `limits` notation, checked, or ``off``.

    ``600/minute``, ``10 per second`` and several limits at once
    (``10/second;600/minute``) are accepted; ``off`` or ``0`` disables.
    """
    text = str(value).strip().lower()
    if text in (RATE_LIMIT_OFF, "0", "none", "false", "no"):
        return RATE_LIMIT_OFF
    try:
        items = limits.parse_many(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rate limit; use e.g. 600/minute, 10/second;600/hour, or off"
        ) from None
    if any(item.amount < 1 for item in items):
        raise ValueError(f"{value!r} allows no request at all; use off to disable the limit")
    return text


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def s3_storage_options(url: str) -> dict[str, Any]:
    """
    Return django-storages' S3 options for an ``s3://`` media storage URL.

    ``s3://[access_key:secret_key@]bucket[/prefix]?endpoint_url=...&region=...``;
    without keys in the URL, boto3 finds credentials itself (``AWS_ACCESS_KEY_ID``
    and ``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).
    Raise ``ValueError`` for a URL that is not one.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "s3":
        raise ValueError(
            "use local, or s3://bucket?endpoint_url=https://s3.example.com&region=eu-west-1"
        )
    bucket = parts.netloc.rpartition("@")[2]
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ValueError("the S3 URL names no valid bucket (3-63 lowercase letters, digits, . -)")
    options: dict[str, Any] = {"bucket_name": bucket}
    prefix = parts.path.strip("/")
    if prefix:
        options["location"] = prefix
    if parts.username or parts.password:
        if not (parts.username and parts.password):
            raise ValueError(
                "the S3 URL must give both the access key and the secret key, or neither"
            )
        options["access_key"] = unquote(parts.username)
        options["secret_key"] = unquote(parts.password)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _S3_PARAMETERS:
            known = ", ".join(_S3_PARAMETERS)
            raise ValueError(f"unknown S3 URL parameter {name!r}; use {known}")
        if name == "endpoint_url":
            endpoint = urlsplit(value)
            if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
                raise ValueError("endpoint_url must be an http(s) URL, e.g. https://s3.example.com")
        if name == "signed_urls":
            if value.lower() not in (*_TRUE, *_FALSE):
                raise ValueError("signed_urls must be true or false")
            options["querystring_auth"] = value.lower() in _TRUE
            continue
        if not value:
            raise ValueError(f"the S3 URL parameter {name!r} is empty")
        options[_S3_PARAMETERS[name]] = value
    return options


class Config(BaseSettings):
    """The effective configuration of one Merchantry process."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # An empty variable (DEBUG=) means "not set", not "invalid".
        env_ignore_empty=True,
    )

    data_dir: Path = Field(
        default=Path("data"),
        validation_alias=AliasChoices("MERCHANTRY_DATA_DIR"),
        description="Folder for the embedded database, the generated secret key and media.",
    )
    database_url: str | None = Field(
        default=None,
        description="sqlite:///path or postgres://user:pass@host:port/name; "
        "default: SQLite in the data folder.",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db; enables the shared cache and rate-limit storage.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs sessions and tokens; generated into the data folder when unset.",
    )
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("MERCHANTRY_ENCRYPTION_KEYS"),
        description="Comma-separated Fernet keys for secrets stored in the database; the "
        "first encrypts, all decrypt. Default: one key derived from SECRET_KEY.",
    )
    debug: bool = Field(default=False, description="Django debug mode; never in production.")
    host: str = Field(default="127.0.0.1", description="Address `merchantry serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `merchantry serve` uses.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"],
        description="Comma-separated host names this installation answers to.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="json (one object a line), console (readable), or auto "
        "(console on a terminal, json otherwise).",
    )
    job_queue: Literal["database", "redis"] = Field(
        default="database",
        validation_alias=AliasChoices("MERCHANTRY_JOB_QUEUE"),
        description="Where background jobs wait: the database, or Redis (RQ; needs REDIS_URL).",
    )
    web_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        validation_alias=AliasChoices("MERCHANTRY_WEB_WORKERS"),
        description="Web server processes started by `merchantry serve`.",
    )
    max_request_body: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        validation_alias=AliasChoices("MERCHANTRY_MAX_REQUEST_BODY"),
        description="Largest request body accepted, in bytes; larger ones get 413.",
    )
    media_storage: str = Field(
        default=MEDIA_STORAGE_LOCAL,
        validation_alias=AliasChoices("MERCHANTRY_MEDIA_STORAGE"),
        description="Where uploaded media are kept: `local` (the data folder's media/) or "
        "`s3://bucket/prefix?endpoint_url=...&region=...` (needs the s3 extra).",
    )
    max_image_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        validation_alias=AliasChoices("MERCHANTRY_MAX_IMAGE_BYTES"),
        description="Largest image file accepted as product media, in bytes.",
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=1,
        le=1_000_000_000,
        validation_alias=AliasChoices("MERCHANTRY_MAX_IMAGE_PIXELS"),
        description="Most pixels (width x height) an uploaded image may have.",
    )
    secure_cookies: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("MERCHANTRY_SECURE_COOKIES"),
        description="Send cookies only over HTTPS; default: on unless DEBUG.",
    )
    hsts_seconds: int = Field(
        default=31_536_000,
        ge=0,
        validation_alias=AliasChoices("MERCHANTRY_HSTS_SECONDS"),
        description="Strict-Transport-Security max-age when not in DEBUG; 0 disables it.",
    )
    trust_proxy_headers: bool = Field(
        default=False,
        validation_alias=AliasChoices("MERCHANTRY_TRUST_PROXY_HEADERS"),
        description="Believe X-Forwarded-Proto and X-Forwarded-Host from a reverse proxy "
        "in front of Merchantry.",
    )
    default_shop: str = Field(
        default="demo",
        validation_alias=AliasChoices("MERCHANTRY_DEFAULT_SHOP"),
        description="Slug of the shop the storefront shows on 127.0.0.1/localhost, where no "
        "domain resolves; empty for none.",
    )
    email_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EMAIL_URL"),
        description="How mail is sent: smtp://user:pass@host:587 (STARTTLS), smtps://... "
        "(TLS), console://, or file:///path; default: files in <data dir>/mail.",
    )
    default_from_email: str = Field(
        default="Merchantry <no-reply@localhost>",
        validation_alias=AliasChoices("DEFAULT_FROM_EMAIL"),
        description="The From address of mail Merchantry sends.",
    )
    feature_flags: Annotated[dict[str, bool], NoDecode] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("MERCHANTRY_FEATURE_FLAGS"),
        description="Installation-wide flag defaults, e.g. `new_checkout=on,beta_search=off`.",
    )
    rate_limit_secret: str = Field(
        default="600/minute",
        validation_alias=AliasChoices("MERCHANTRY_RATE_LIMIT_SECRET"),
        description="API requests allowed per secret key, e.g. `600/minute`; `off` disables.",
    )
    rate_limit_publishable: str = Field(
        default="300/minute",
        validation_alias=AliasChoices("MERCHANTRY_RATE_LIMIT_PUBLISHABLE"),
        description="API requests allowed per publishable key and client address; `off` disables.",
    )
    rate_limit_customer: str = Field(
        default="300/minute",
        validation_alias=AliasChoices("MERCHANTRY_RATE_LIMIT_CUSTOMER"),
        description="API requests allowed per signed-in customer token; `off` disables.",
    )
    rate_limit_ip: str = Field(
        default="1200/minute",
        validation_alias=AliasChoices("MERCHANTRY_RATE_LIMIT_IP"),
        description="API requests allowed per client address, whatever the credentials; "
        "`off` disables.",
    )
    http_allow_private_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS"),
        description="Private or loopback destinations outbound calls may reach anyway, "
        "e.g. `localhost:8025,10.0.5.0/24` (names, addresses or networks, optional port).",
    )

    # -- validators ---------------------------------------------------------

    @field_validator(
        "rate_limit_secret",
        "rate_limit_publishable",
        "rate_limit_customer",
        "rate_limit_ip",
        mode="before",
    )
    @classmethod
    def _rate_limit(cls, value: Any) -> Any:
        return _parse_rate_limit(value)

    @field_validator("http_allow_private_hosts", mode="before")
    @classmethod
    def _http_allow_private_hosts(cls, value: Any) -> Any:
        # Imported here: the SSRF guard owns the grammar, and config stays light to import.
        from merchantry.core.http import parse_allow_list

        entries = _split_csv(value)
        if isinstance(entries, list):
            parse_allow_list(entries)
        return entries

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        hosts = _split_csv(value)
        if isinstance(hosts, list) and not hosts:
            raise ValueError("must name at least one host")
        return hosts

    @field_validator("feature_flags", mode="before")
    @classmethod
    def _flags(cls, value: Any) -> Any:
        return _parse_flags(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        level = str(value).strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r}; use one of {', '.join(_LOG_LEVELS)}")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        return str(value).strip().lower()

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        url = str(value).strip()
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in _DATABASE_SCHEMES:
            raise ValueError(
                "not a supported database URL; use sqlite:///path/to/file.sqlite3 "
                "or postgres://user:password@host:5432/name"
            )
        try:
            parsed = dj_database_url.parse(url)
        except ValueError as exc:
            raise ValueError(f"malformed database URL ({exc})") from None
        if not parsed.get("NAME"):
            raise ValueError("the database URL names no database")
        if scheme != "sqlite" and not parsed.get("HOST"):
            # A socket path is allowed: postgres://%2Fvar%2Frun%2Fpostgresql/name
            raise ValueError("the database URL names no host")
        return url

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        url = str(value).strip()
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in _REDIS_SCHEMES:
            raise ValueError("not a Redis URL; use redis://host:6379/0")
        return url

    @field_validator("media_storage", mode="before")
    @classmethod
    def _media_storage(cls, value: Any) -> Any:
        text = str(value).strip()
        if text.lower() == MEDIA_STORAGE_LOCAL:
            return MEDIA_STORAGE_LOCAL
        s3_storage_options(text)  # raises ValueError naming what is wrong
        # Checked here, not at the first upload: a missing package is a
        # configuration error, reported at start-up like the others.
        if not (_importable("storages") and _importable("boto3")):
            raise ValueError(
                "s3:// storage needs django-storages and boto3, which are not installed; "
                "install Merchantry with its s3 extra: pip install 'merchantry[s3]' "
                "(from a checkout: uv sync --extra s3)"
            )
        return text

    @field_validator("email_url", mode="before")
    @classmethod
    def _email_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        url = str(value).strip()
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in ("smtp", "smtps", "console", "file"):
            raise ValueError(
                "use smtp://user:password@host:587, smtps://..., console:// or file:///path"
            )
        if scheme in ("smtp", "smtps") and not urlsplit(url).hostname:
            raise ValueError("the SMTP URL names no host")
        return url

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _encryption_keys(cls, value: Any) -> Any:
        keys = _split_csv(value)
        if not isinstance(keys, list):
            return keys
        for index, key in enumerate(keys, start=1):
            raw = key.get_secret_value() if isinstance(key, SecretStr) else str(key)
            try:
                Fernet(raw.encode())
            except (ValueError, TypeError):
                # Never echo the value: it is (meant to be) a key.
                raise ValueError(
                    f"key {index} of {len(keys)} is not a Fernet key (44 characters of URL-safe "
                    "base64); make one with: python3 -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                ) from None
        return keys

    @field_validator("secret_key", mode="before")
    @classmethod
    def _secret_key(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if len(raw) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(
                f"too short ({len(raw)} characters); use at least {SECRET_KEY_MIN_LENGTH} "
                "random characters, or unset it to have one generated"
            )
        lowered = raw.lower()
        if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
            raise ValueError("looks like a placeholder; use a random value")
        if len(set(raw)) < 10:
            raise ValueError("too few distinct characters to be random")
        return raw

    @model_validator(mode="after")
    def _queue_needs_redis(self) -> Config:
        if self.job_queue == "redis" and not self.redis_url:
            raise ValueError("MERCHANTRY_JOB_QUEUE=redis needs REDIS_URL to be set")
        return self

    # -- derived values -----------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'merchantry.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.lower().startswith("sqlite")

    @property
    def effective_secure_cookies(self) -> bool:
        return (not self.debug) if self.secure_cookies is None else self.secure_cookies

    def resolved_log_format(self, *, isatty: bool) -> str:
        if self.log_format == "auto":
            return "console" if isatty else "json"
        return self.log_format

    def ensure_data_dir(self) -> Path:
        """Create the data folder (with its media and static subfolders) when missing."""
        path = self.data_dir.resolve()
        (path / "media").mkdir(parents=True, exist_ok=True)
        (path / "static").mkdir(parents=True, exist_ok=True)
        return path

    def effective_secret_key(self) -> str:
        """
        Return SECRET_KEY, or the key generated into the data folder.

        The embedded default needs no configuration: the first start writes a
        random key to ``<data dir>/secret_key`` (readable by the owner only) and
        every later start reuses it, so sessions survive restarts.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.ensure_data_dir() / SECRET_KEY_FILE
        try:
            existing = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            existing = ""
        if existing:
            return existing
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        return key

    def media_storage_backend(self) -> dict[str, Any]:
        """Return Django's ``STORAGES["default"]`` for ``media_storage``."""
        if self.media_storage == MEDIA_STORAGE_LOCAL:
            return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_storage_options(self.media_storage),
        }

    def email_settings(self) -> dict[str, Any]:
        """Return Django's EMAIL_* settings for ``email_url``."""
        url = self.email_url or f"file://{(self.data_dir / 'mail').resolve()}"
        parts = urlsplit(url)
        if parts.scheme == "console":
            return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
        if parts.scheme == "file":
            return {
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": unquote(parts.path) or str(self.data_dir / "mail"),
            }
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": parts.port or (465 if parts.scheme == "smtps" else 587),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": parts.scheme == "smtp",
            "EMAIL_USE_SSL": parts.scheme == "smtps",
            "EMAIL_TIMEOUT": 10,
        }

    def masked(self) -> dict[str, str]:
        """Return the effective configuration for display, secrets masked."""
        rows: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            env_name = _env_name(name, field)
            value = getattr(self, name)
            if name == "secret_key":
                shown = (
                    "******** (from environment)"
                    if value is not None
                    else f"******** (generated in {self.data_dir / SECRET_KEY_FILE})"
                )
            elif name == "encryption_keys":
                count = len(value)
                shown = (
                    f"******** ({count} key{'s' if count != 1 else ''})"
                    if value
                    else "(unset: derived from SECRET_KEY)"
                )
            elif name == "database_url":
                shown = _mask_url(self.effective_database_url)
            elif name == "email_url":
                shown = _mask_url(value) if value else f"(files in {self.data_dir / 'mail'})"
            elif name == "media_storage":
                shown = (
                    _mask_url(value)
                    if value != MEDIA_STORAGE_LOCAL
                    else (f"local ({self.data_dir / 'media'})")
                )
            elif name == "redis_url":
                shown = _mask_url(value) if value else "(unset: in-memory cache)"
            elif isinstance(value, list):
                shown = ",".join(value) or "-"
            elif isinstance(value, dict):
                shown = ",".join(f"{k}={'on' if v else 'off'}" for k, v in value.items()) or "-"
            elif value is None:
                shown = "(default)"
            else:
                shown = str(value)
            rows[env_name] = shown
        return rows


def _env_name(name: str, field: Any) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return name.upper()


_FIELD_BY_ENV_NAME = {_env_name(name, field): name for name, field in Config.model_fields.items()}


def _mask_url(url: str) -> str:
    """Hide the password of a URL: ``postgres://user:****@host/db``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1****@", url)


def _validation_key(field_name: str) -> str:
    field = Config.model_fields.get(field_name)
    return _env_name(field_name, field) if field and field.validation_alias else field_name


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field_name = str(item["loc"][0]) if item["loc"] else ""
        field_name = _FIELD_BY_ENV_NAME.get(field_name.upper(), field_name)
        field = Config.model_fields.get(field_name)
        env_name = _env_name(field_name, field) if field else field_name.upper()
        message = item["msg"]
        message = message.removeprefix("Value error, ")
        if item["type"] == "literal_error" and field is not None:
            message = f"{message} (got {item.get('input')!r})"
        parts.append(f"{env_name}: {message}" if env_name else message)
    return "; ".join(parts)


def load_config(**overrides: Any) -> Config:
    """
    Read and validate the configuration from the environment.

    ``overrides`` take precedence over the environment; name them as the
    environment does (``PORT=...``, ``MERCHANTRY_DATA_DIR=...``).

    Raise :class:`ConfigError` with one readable line when a value is invalid.
    """
    try:
        fields = {
            _FIELD_BY_ENV_NAME.get(key.upper(), key): value for key, value in overrides.items()
        }
        return Config(**{_validation_key(name): value for name, value in fields.items()})
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


@functools.lru_cache(maxsize=1)
def get_config() -> Config:
    """Return the process-wide configuration, loading it on first use."""
    return load_config()
