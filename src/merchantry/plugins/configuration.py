"""
A plugin installation's settings: validated against the plugin's model, the
secret fields encrypted at rest and write-only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic
import pydantic_core
from pydantic import BaseModel

from merchantry.core.crypto import DecryptionFailed, decrypt_text, encrypt_text
from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.plugins import registry
from merchantry.plugins.errors import PluginNotConfigured, PluginUnavailable
from merchantry.plugins.models import PluginInstallation
from merchantry.plugins.spec import Plugin, secret_fields

__all__ = [
    "SECRET_MASK",
    "encode_secrets",
    "is_configured",
    "plugin_settings",
    "read_secrets",
    "secret_value",
    "settings_masked",
    "split_settings",
    "stored_values",
    "usable_plugin_or_raise",
    "validate_settings",
]

SECRET_MASK = "********"  # noqa: S105 (the mask, not a secret)
"""What reads show for a secret that is set; sent back unchanged, it keeps the secret."""


def usable_plugin_or_raise(plugin_id: str) -> Plugin:
    loaded = registry.get_plugin(plugin_id)
    if loaded is None:
        raise PluginUnavailable("This plugin is not available on this server.")
    if not loaded.usable or loaded.plugin is None:
        raise PluginUnavailable(f"This plugin cannot be used: {loaded.reason}")
    return loaded.plugin


def read_secrets(installation: PluginInstallation) -> dict[str, Any]:
    """Return the decrypted secret settings; raise :class:`DecryptionFailed`."""
    if not installation.secrets:
        return {}
    values = json.loads(decrypt_text(installation.secrets))
    return values if isinstance(values, dict) else {}


def encode_secrets(values: Mapping[str, Any]) -> str:
    return encrypt_text(json.dumps(dict(values), sort_keys=True)) if values else ""


def secret_value(value: Any) -> Any:
    if isinstance(value, pydantic.SecretStr | pydantic.SecretBytes):
        value = value.get_secret_value()
        return value.decode() if isinstance(value, bytes) else value
    return pydantic_core.to_jsonable_python(value)


def validate_settings(model: type[BaseModel], values: Mapping[str, Any]) -> BaseModel:
    try:
        return model.model_validate(dict(values))
    except pydantic.ValidationError as exc:
        # The messages never carry the input: it may be a secret.
        errors = [
            FieldError(("settings", *error["loc"]), error["msg"], error["type"])
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ValidationFailed("Some settings are invalid; see errors.", errors=errors) from None


def stored_values(installation: PluginInstallation, model: type[BaseModel]) -> dict[str, Any]:
    """Return the stored plain and secret values the model still knows."""
    names = set(model.model_fields)
    secret_names = secret_fields(model)
    plain = {k: v for k, v in installation.settings.items() if k in names - secret_names}
    secrets = {k: v for k, v in read_secrets(installation).items() if k in secret_names}
    return {**plain, **secrets}


def split_settings(instance: BaseModel, secret_names: frozenset[str]) -> tuple[dict, dict]:
    """Return the (plain, secret) values ``instance`` was given, ready to store."""
    given = set(instance.model_fields_set)
    plain = instance.model_dump(mode="json", include=given - secret_names) if given else {}
    secrets = {
        name: secret_value(getattr(instance, name))
        for name in sorted(given & secret_names)
        if getattr(instance, name) is not None
    }
    return plain, secrets


def plugin_settings(installation: PluginInstallation) -> BaseModel | None:
    """
    Return the installation's settings as the plugin's model, secrets decrypted.

    For calling the plugin only: never return it from an API or put it in a
    log line. None when the plugin takes no settings. Raises
    :class:`PluginUnavailable` or :class:`PluginNotConfigured`.
    """
    model = usable_plugin_or_raise(installation.plugin_id).manifest.settings_model
    if model is None:
        return None
    try:
        values = stored_values(installation, model)
    except DecryptionFailed as exc:
        raise PluginNotConfigured(str(exc)) from None
    try:
        return validate_settings(model, values)
    except ValidationFailed as exc:
        raise PluginNotConfigured(
            "The plugin's settings are incomplete or invalid; configure it again.",
            errors=exc.errors,
        ) from None


def settings_masked(
    installation: PluginInstallation, model: type[BaseModel] | None
) -> tuple[dict[str, Any], dict[str, bool]]:
    """
    Return ``(settings, secrets_set)``: the effective plain values (stored, or
    the default), and each secret as :data:`SECRET_MASK` when set, else None.
    """
    if model is None:
        return dict(installation.settings), {}
    secret_names = secret_fields(model)
    try:
        stored_secrets = read_secrets(installation)
    except DecryptionFailed:
        stored_secrets = {}
    secrets_set = {name: name in stored_secrets for name in sorted(secret_names)}
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in secret_names:
            values[name] = SECRET_MASK if secrets_set[name] else None
        elif name in installation.settings:
            values[name] = installation.settings[name]
        elif not info.is_required():
            values[name] = _default(info)
    return values, secrets_set


def _default(info: Any) -> Any:
    """Return a field's default as JSON, or None when it cannot be computed alone."""
    try:
        return pydantic_core.to_jsonable_python(info.get_default(call_default_factory=True))
    except Exception:  # a default factory that needs the other fields' values
        return None


def is_configured(installation: PluginInstallation, model: type[BaseModel] | None) -> bool:
    if model is None:
        return True
    try:
        validate_settings(model, stored_values(installation, model))
    except (ValidationFailed, DecryptionFailed):
        return False
    return True
