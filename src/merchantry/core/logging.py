"""
Structured logging: structlog for our own lines, the same renderer for the
standard library's (Django, gunicorn, RQ), JSON lines in production and
readable lines in a terminal.

Every line carries the context bound in :mod:`merchantry.core.context`
(``request_id``, and ``shop``/``actor`` once known). A last processor redacts
values under keys that name secrets, as a net under the rule that secrets are
never logged in the first place.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog
import structlog.tracebacks

__all__ = ["build_logging_config", "get_logger", "redact_secrets"]

_SECRET_KEY_RE = re.compile(
    r"pass(word)?|secret|token|authorization|api[_-]?key|cookie|card|cvc|cvv|iban|signature",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the value of any key that names a secret."""
    for key in list(event_dict):
        if key != "event" and _SECRET_KEY_RE.search(key):
            event_dict[key] = REDACTED
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]


def build_logging_config(*, level: str, fmt: str) -> dict[str, Any]:
    """
    Configure structlog and return the matching ``logging.dictConfig`` dict.

    ``fmt`` is ``"json"`` or ``"console"``. Both structlog and standard-library
    records go through the same processors, so a line looks the same whoever
    wrote it.
    """
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        # Tracebacks as data, without local variables: locals can hold
        # passwords, tokens and card numbers.
        exception_processor: Any = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        exception_processor = structlog.processors.format_exc_info
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    processors = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        processors.append(exception_processor)
    processors.append(renderer)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": processors,
                "foreign_pre_chain": [
                    *_shared_processors(),
                    structlog.stdlib.ExtraAdder(),
                ],
            },
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # Django's default config sends "django" to handlers of its own;
            # take it back so each line is written once, in our format.
            "django": {"handlers": ["default"], "level": level, "propagate": False},
            # Our access log replaces these; keep their warnings and errors.
            "django.server": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
            "gunicorn.access": {"level": "WARNING"},
            "rq.worker": {"level": level},
            # httpx logs whole URLs (query strings carry keys) at INFO and
            # httpcore logs headers at DEBUG; merchantry.http logs calls safely.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "django_tasks": {"level": level},
        },
    }


def get_logger(name: str | None = None) -> Any:
    """Return a structlog logger (``name`` is the dotted module name)."""
    return structlog.get_logger(name)
