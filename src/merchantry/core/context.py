"""
The context of the work in progress: which request or job it belongs to.

Values live in structlog's context variables, so every log line of a request
(or of a job it enqueued) carries them without being passed around. Later
layers bind more keys (``shop``, ``actor``) with :func:`bind`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog

__all__ = [
    "bind",
    "clean_request_id",
    "current_actor_key",
    "current_request_id",
    "new_request_id",
    "unbind",
]

# Callers (load balancers, other services) may send their own id; we keep it
# only if it is short and made of characters that cannot forge log lines or
# headers. Anything else is replaced, never echoed back.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def new_request_id() -> str:
    """Return a fresh random request id."""
    return uuid.uuid4().hex


def clean_request_id(raw: str | None) -> str:
    """Return ``raw`` when it is a safe request id, a new id otherwise."""
    if raw and _REQUEST_ID_RE.fullmatch(raw):
        return raw
    return new_request_id()


def current_request_id() -> str | None:
    """Return the request id bound to the current context, if any."""
    return structlog.contextvars.get_contextvars().get("request_id")


def current_actor_key() -> str | None:
    """
    Return the key of the actor bound to the current context (``user:12``),
    if any: for code reached without an actor passed in (a signal receiver).
    """
    value = structlog.contextvars.get_contextvars().get("actor")
    return str(value) if value else None


def bind(**values: Any) -> None:
    """Attach values to every log line of the current request or job."""
    structlog.contextvars.bind_contextvars(**values)


def unbind(*keys: str) -> None:
    structlog.contextvars.unbind_contextvars(*keys)
