"""
The audit trail: an append-only record of sensitive actions (money, roles,
keys, plugin settings), written with :func:`record`.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from merchantry.core.actors import Actor
from merchantry.core.context import current_request_id
from merchantry.core.logging import REDACTED, get_logger, redact_secrets
from merchantry.core.models import AuditEvent

__all__ = ["SYSTEM", "record"]

SYSTEM = "system"
logger = get_logger(__name__)


def _describe_actor(actor: Any) -> tuple[str, str]:
    if actor is None:
        return SYSTEM, ""
    if isinstance(actor, str):
        return actor, ""
    if isinstance(actor, Actor):
        return actor.key, actor.label[:255]
    if isinstance(actor, models.Model):
        return f"{actor._meta.model_name}:{actor.pk}", str(actor)[:255]
    raise TypeError(f"Cannot describe {actor!r} as an audit actor.")


def _describe_target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)[:255]
    if isinstance(target, tuple) and len(target) == 2:
        return str(target[0]), str(target[1]), ""
    raise TypeError(f"Cannot describe {target!r} as an audit target.")


def _clean_changes(changes: dict[str, Any] | None) -> dict[str, Any]:
    if not changes:
        return {}
    cleaned = dict(redact_secrets(None, "", dict(changes)))
    for key, value in cleaned.items():
        if isinstance(value, dict) and value is not REDACTED:
            cleaned[key] = _clean_changes(value)
    return cleaned


def record(
    actor: Any,
    action: str,
    target: Any = None,
    changes: dict[str, Any] | None = None,
    *,
    shop_id: int | None = None,
) -> AuditEvent:
    """
    Append one event to the audit trail and return it.

    ``actor`` is a model instance (a user, an API key), a string such as
    ``"system"``, or None for the system. ``target`` is a model instance or a
    ``(type, id)`` pair. Values in ``changes`` under keys that name secrets
    (password, token, secret...) are stored as ``[redacted]``. Call it inside
    the service's transaction, so the event exists exactly when the change does.
    """
    actor_key, actor_label = _describe_actor(actor)
    target_type, target_id, target_label = _describe_target(target)
    event = AuditEvent.objects.create(
        shop_id=shop_id,
        actor=actor_key,
        actor_label=actor_label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        changes=_clean_changes(changes),
        request_id=current_request_id() or "",
    )
    logger.info("audit", action=action, target_type=target_type, target_id=target_id)
    return event
